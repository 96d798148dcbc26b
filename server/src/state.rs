//! What every handler shares.

use crate::{auth::PasswordHasher, db::Db, hub::Hub, throttle::LoginThrottle};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub hasher: PasswordHasher,
    pub login_throttle: Arc<LoginThrottle>,
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    /// Cancelled when the server begins to stop; socket loops then close with "going away".
    pub shutdown: CancellationToken,
    /// The socket tasks, so shutdown can wait for their close frames to go out.
    pub sockets: TaskTracker,
}

impl AppState {
    pub fn new(db: Db, settings: Settings, leptos_options: LeptosOptions) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            db,
            hub: Arc::new(Hub::default()),
            hasher: PasswordHasher::new(cores),
            login_throttle: Arc::default(),
            settings: Arc::new(settings),
            leptos_options,
            shutdown: CancellationToken::new(),
            sockets: TaskTracker::new(),
        }
    }
}

/// Settings handlers need, derived from the configuration at start.
#[derive(Debug)]
pub struct Settings {
    /// Origins besides the site's own whose pages may open the WebSocket.
    pub allowed_origins: Vec<String>,
    pub secure_cookies: bool,
    pub session_days: u32,
}
