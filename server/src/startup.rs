//! Building the application from its configuration, serving it, and stopping it gracefully.

use crate::cluster::Cluster;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::media::{self, MediaStore};
use crate::security::{self, CspNonce};
use crate::serve::{self, ConnectionLimits};
use crate::state::{AppState, LiveState, Settings};
use crate::{pages, routes, telemetry, ws};
use app::{shell, App};
use axum::{
    http::{request::Parts, HeaderName, Request},
    middleware::from_fn_with_state,
    routing::{any, get},
    Router,
};
use leptos::{config::get_configuration, prelude::*};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

/// How long open sockets, and then in-flight requests, get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    state: AppState,
}

impl Application {
    /// Opens the database (creating it on first start), runs migrations and binds the listener.
    pub async fn build(config: Config) -> Result<Self> {
        let mut leptos_options = get_configuration(None)
            .map_err(|e| Error::Internal(format!("leptos configuration: {e}")))?
            .leptos_options;
        let listen = config.listen.unwrap_or(leptos_options.site_addr);

        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                Error::Internal(format!("cannot create {}: {e}", config.data_dir.display()))
            })?;
        }
        let db = Db::open(&config.database_url()).await?;

        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Internal(format!("cannot listen on {listen}: {e}")))?;
        leptos_options.site_addr = listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?;

        let settings = Settings::new(&config, leptos_options.site_addr, &leptos_options);
        let body_timeout = Duration::from_secs(config.body_timeout_secs);
        let cluster = match &config.nats_url {
            Some(url) => Cluster::join(url, db.epoch()).await?,
            None => Cluster::default(),
        };
        let lease = Duration::from_secs(config.presence_lease_secs);
        let mut live = LiveState::start(db, cluster, lease).await?;
        live.group_members_max = config.group_members_max as usize;
        const MIB: u64 = 1024 * 1024;
        let media = MediaStore::open(
            &config.media_location(),
            config.media_file_max_mib * MIB,
            config.media_quota_mib * MIB,
        )?;
        let state = AppState::new(live, settings, leptos_options, media);
        state
            .live
            .cluster
            .share_connection_counts(state.connection_counts.clone(), state.live.shutdown.clone())
            .await?;
        let room = serve::connection_room();
        let limits = ConnectionLimits {
            per_client: state.connection_counts.clone(),
            trusted_proxies: state.settings.trusted_proxies.clone(),
            total: config.max_connections.map_or(room, |asked| asked.min(room)),
            header_timeout: Duration::from_secs(config.header_timeout_secs),
        };
        spawn_log_pruning(&state, config.log_retention_days);
        spawn_upload_sweeping(&state);
        Ok(Self {
            router: router(
                state.clone(),
                body_timeout,
                Duration::from_secs(config.upload_timeout_secs),
            ),
            listener,
            limits,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// Cancel it to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.live.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then closes sockets with "going away" and waits
    /// (briefly) for them and for in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(
            "listening on http://{} for {}",
            self.local_addr(),
            self.state.settings.public_url.origin()
        );
        serve::serve(
            self.listener,
            self.router,
            self.limits,
            self.state.live.shutdown.clone(),
            DRAIN,
        )
        .await;
        self.state.sockets.close();
        if tokio::time::timeout(DRAIN, self.state.sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close in time");
        }
        self.state.live.presence.leave().await;
        self.state.live.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

pub fn router(state: AppState, body_timeout: Duration, upload_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let routes = generate_route_list(App);
    let leptos_options = state.leptos_options.clone();
    let api = routes::api()
        .route_layer(from_fn_with_state(
            state.clone(),
            security::guard_api_writes,
        ))
        .route_layer(axum::middleware::from_fn(move |request, next| {
            serve::body_deadline(body_timeout, request, next)
        }));
    let media = media::routes(state.media.file_max)
        .route_layer(from_fn_with_state(state.clone(), security::guard_uploads))
        .route_layer(axum::middleware::from_fn(move |request, next| {
            serve::body_deadline(upload_timeout, request, next)
        }));
    Router::new()
        .route("/healthz", get(routes::health))
        .route(
            "/ws",
            get(ws::upgrade).fallback(routes::wrong_method),
        )
        .nest("/api/media", media)
        .nest("/api", api)
        // `nest` leaves the bare prefix with a trailing slash to the pages.
        .route("/api/", any(routes::no_such_endpoint))
        .leptos_routes_with_context(&state, routes, provide_csp_nonce, move || {
            shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            provide_csp_nonce,
            shell,
        ))
        .layer(from_fn_with_state(state.clone(), pages::redirect_by_session))
        .layer(from_fn_with_state(
            state.clone(),
            security::require_served_host,
        ))
        .layer(from_fn_with_state(state.clone(), security::security_headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The path only: query strings may hold things that do not belong in logs.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(telemetry::accept_request_id))
        .with_state(state)
}

/// Prunes log events older than the retention, at start and then hourly. Message history is kept;
/// only positions older than the retention can no longer be synced from.
fn spawn_log_pruning(state: &AppState, retention_days: u32) {
    let db = state.live.db.clone();
    let retention_ms = i64::from(retention_days) * 24 * 3600 * 1000;
    spawn_hourly(state, "pruning old log events", move || {
        let db = db.clone();
        async move { db.prune_log(crate::now_ms() - retention_ms).await }
    });
}

/// Removes uploads no message took within a day, at start and then hourly.
fn spawn_upload_sweeping(state: &AppState) {
    let (db, media) = (state.live.db.clone(), state.media.clone());
    spawn_hourly(state, "removing uploads no message took", move || {
        let (db, media) = (db.clone(), media.clone());
        async move { media::sweep_unattached(&db, &media, crate::now_ms()).await }
    });
}

/// Runs `chore` (what `doing` names) at start and then hourly until the server stops, logging how
/// many things it did, when any, or why it failed.
fn spawn_hourly<Chore, Done>(state: &AppState, doing: &'static str, chore: Chore)
where
    Chore: Fn() -> Done + Send + 'static,
    Done: std::future::Future<Output = Result<u64>> + Send,
{
    let shutdown = state.live.shutdown.clone();
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hourly.tick() => {}
            }
            match chore().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "{doing}"),
                Err(error) => tracing::warn!(%error, "{doing} failed"),
            }
        }
    });
}

/// Gives the page being rendered the nonce that `security_headers` put in its response's policy.
fn provide_csp_nonce() {
    let nonce =
        use_context::<Parts>().and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
    if let Some(CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn stop_on_signal(token: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("stopping");
    token.cancel();
}
