//! Logging: `tracing` to stderr, filtered by `--log` (`RUST_LOG` syntax).

use axum::{extract::Request, middleware::Next, response::Response};
use tracing_subscriber::EnvFilter;

/// The longest client-chosen `X-Request-Id` that is kept.
const REQUEST_ID_MAX: usize = 64;

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("invalid --log filter {filter:?} ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    // A second init (tests start many apps in one process) is harmless, so its error is ignored.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// Keeps a client's `X-Request-Id` only when it is short and made of letters, digits, `-`, `_` and
/// `.`; otherwise the server mints one. What reaches the logs and the echo is then always well formed.
pub async fn accept_request_id(mut request: Request, next: Next) -> Response {
    let well_formed = request.headers().get("x-request-id").map(|id| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= REQUEST_ID_MAX
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    if well_formed == Some(false) {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}
