//! Building the application from its configuration, serving it, and stopping it gracefully.

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::state::{AppState, Settings};
use crate::{pages, routes, ws};
use app::{shell, App};
use axum::{
    http::{HeaderName, Request},
    routing::get,
    Router,
};
use leptos::config::get_configuration;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

/// How long open sockets get to send their close frames at shutdown.
const SOCKET_DRAIN: Duration = Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Opens the database (creating it on first start), runs migrations and binds the listener.
    pub async fn build(config: Config) -> Result<Self> {
        let mut leptos_options = get_configuration(None)
            .map_err(|e| Error::Internal(format!("leptos configuration: {e}")))?
            .leptos_options;
        if leptos_options.output_name.is_empty() {
            // Built without cargo-leptos (plain `cargo test`): use the site's name from Cargo.toml.
            leptos_options.output_name = "natter".into();
        }
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

        let settings = Settings {
            allowed_origins: config.allowed_origins.clone(),
            secure_cookies: config.secure_cookies,
            session_days: config.session_days,
        };
        let state = AppState::new(db, settings, leptos_options);
        Ok(Self {
            router: router(state.clone()),
            listener,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// Cancel it to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then closes sockets with "going away" and waits
    /// (briefly) for them and for in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!("listening on http://{}", self.local_addr());
        let shutdown = self.state.shutdown.clone();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        self.state.sockets.close();
        if tokio::time::timeout(SOCKET_DRAIN, self.state.sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sockets did not close in time");
        }
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let routes = generate_route_list(App);
    let leptos_options = state.leptos_options.clone();
    Router::new()
        .route("/healthz", get(routes::health))
        .route("/ws", get(ws::upgrade))
        .nest("/api", routes::api())
        .leptos_routes(&state, routes, move || shell(leptos_options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::redirect_by_session,
        ))
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
        .with_state(state)
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
