//! What every handler shares.

use crate::auth::Cookies;
use crate::client_address::TrustedProxies;
use crate::cluster::{Cluster, LOGGED_OUT};
use crate::config::{Config, PublicUrl};
use crate::connection_counts::ConnectionCounts;
use crate::db::{Db, Logged};
use crate::error::Result;
use crate::media::MediaStore;
use crate::password::PasswordHasher;
use crate::presence::Presence;
use crate::typing::Typing;
use crate::{hub::Hub, relay::Relay, throttle::Throttles};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::time::Duration;
use std::{net::SocketAddr, sync::Arc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub live: LiveState,
    pub hasher: PasswordHasher,
    pub throttles: Arc<Throttles>,
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    /// The socket tasks, so shutdown can wait for their close frames to go out.
    pub sockets: TaskTracker,
    /// Open connections per client, on this node and as the other nodes report theirs.
    pub connection_counts: Arc<ConnectionCounts>,
    /// Where uploaded files are kept, and their limits.
    pub media: Arc<MediaStore>,
}

/// What the socket loop needs: the database, and this node's connections and delivery.
#[derive(Clone)]
pub struct LiveState {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub relay: Relay,
    pub cluster: Cluster,
    pub presence: Arc<Presence>,
    pub typing: Arc<Typing>,
    /// Cancelled when the server begins to stop; socket loops then close with "going away".
    pub shutdown: CancellationToken,
    /// Members one group may have (`--group-members-max`).
    pub group_members_max: usize,
}

impl LiveState {
    /// A node that starts delivering the log from its head now: starts its relay and presence
    /// lease (`presence_lease` long), and listens to the other nodes of `cluster`.
    pub async fn start(db: Db, cluster: Cluster, presence_lease: Duration) -> Result<Self> {
        let hub = Arc::new(Hub::delivered_through(db.log_head().await?.pos));
        let shutdown = CancellationToken::new();
        let relay = Relay::start(db.clone(), hub.clone(), cluster.clone(), shutdown.clone());
        let presence = Presence::start(
            db.clone(),
            hub.clone(),
            cluster.clone(),
            relay.clone(),
            presence_lease,
            shutdown.clone(),
        )
        .await?;
        let typing = Typing::start(hub.clone(), cluster.clone(), shutdown.clone());
        cluster
            .listen(
                relay.clone(),
                hub.clone(),
                presence.clone(),
                typing.clone(),
                shutdown.clone(),
            )
            .await?;
        Ok(Self {
            db,
            hub,
            relay,
            cluster,
            presence,
            typing,
            shutdown,
            group_members_max: app::model::limits::GROUP_MEMBERS_DEFAULT,
        })
    }

    /// Delivers events this node just committed, here and on every other node.
    pub fn committed(&self, logged: Vec<Logged>) {
        self.relay.committed(logged);
    }

    /// Closes a session's sockets, here and on every other node.
    pub fn end_session(&self, session_id: i64) {
        self.hub.close_session(session_id, LOGGED_OUT);
        self.cluster.session_ended(session_id);
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.live.db.clone()
    }
}

impl AppState {
    pub fn new(
        live: LiveState,
        settings: Settings,
        leptos_options: LeptosOptions,
        media: MediaStore,
    ) -> Self {
        // Half the cores hash, so a flood of logins leaves the others to everything else.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            hasher: PasswordHasher::new(cores / 2),
            throttles: Arc::new(Throttles::new(
                live.db.clone(),
                settings.registrations_per_hour,
            )),
            connection_counts: Arc::new(ConnectionCounts::new(settings.connections_per_client)),
            live,
            settings: Arc::new(settings),
            leptos_options,
            sockets: TaskTracker::new(),
            media: Arc::new(media),
        }
    }
}

/// Settings handlers need, derived from the configuration at start.
#[derive(Debug)]
pub struct Settings {
    /// Where people reach the site; its host is the one served, its origin the one trusted.
    pub public_url: PublicUrl,
    /// Origins besides the site's own whose pages may call the API and open the WebSocket.
    pub allowed_origins: Vec<String>,
    pub cookies: Cookies,
    pub session_days: u32,
    pub registrations_per_hour: u32,
    pub trusted_proxies: TrustedProxies,
    /// Open connections one client may hold on all nodes together.
    pub connections_per_client: usize,
    /// The port of `cargo leptos watch`'s live-reload socket, which pages then connect to.
    pub live_reload_port: Option<u16>,
}

impl Settings {
    pub fn new(config: &Config, listening_on: SocketAddr, leptos_options: &LeptosOptions) -> Self {
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::for_listen_address(listening_on));
        let secure = public_url.https;
        Self {
            public_url,
            allowed_origins: config.allowed_origins.clone(),
            cookies: Cookies::new(secure),
            session_days: config.session_days,
            registrations_per_hour: config.registrations_per_hour,
            trusted_proxies: TrustedProxies::new(config.trusted_proxies.clone()),
            connections_per_client: config.max_connections_per_address,
            live_reload_port: std::env::var_os("LEPTOS_WATCH").and_then(|_| {
                let port = leptos_options
                    .reload_external_port
                    .unwrap_or(leptos_options.reload_port);
                u16::try_from(port).ok()
            }),
        }
    }
}
