//! `/ws`: the handshake (origin and session checks), then one socket loop per connection.

mod connection;
mod dispatch;

pub use connection::serve;

use crate::auth;
use crate::error::Error;
use crate::state::AppState;
use app::model::limits;
use axum::{
    extract::{ws::WebSocketUpgrade, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.settings.allowed_origins) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "refused a WebSocket from a foreign origin");
        return (
            StatusCode::FORBIDDEN,
            "This origin may not open Natter's socket.",
        )
            .into_response();
    }
    // An invalid session still gets the upgrade, so the client reads a typed error before the close.
    let session = match auth::authenticate(&state.db, &headers).await {
        Ok(session) => Ok(session),
        Err(Error::Unauthorized(message)) => Err(message),
        Err(other) => return other.into_response(),
    };
    let tracker = state.sockets.clone();
    upgrade
        .max_message_size(limits::FRAME_MAX_BYTES)
        .max_frame_size(limits::FRAME_MAX_BYTES)
        .on_upgrade(move |socket| tracker.track_future(serve(socket, session, state)))
}

/// Browsers always send `Origin` on a WebSocket handshake; it must be the site's own (the `Host` the
/// request was sent to) or one configured. Clients that are not browsers send none and are let through:
/// they cannot be tricked into using someone else's cookie.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same_site = host.is_some_and(|host| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
    });
    same_site
        || allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn own_origin_and_configured_ones_pass() {
        let extra = vec!["https://chat.example.org".to_string()];
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"),
            &[]
        ));
        assert!(origin_allowed(
            &headers(Some("https://chat.example.org"), "10.0.0.1"),
            &extra
        ));
        assert!(origin_allowed(&headers(None, "127.0.0.1:3000"), &[]));
    }

    #[test]
    fn foreign_origins_fail() {
        assert!(!origin_allowed(
            &headers(Some("http://evil.test"), "127.0.0.1:3000"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("http://127.0.0.1:3001"), "127.0.0.1:3000"),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "127.0.0.1:3000"),
            &[]
        ));
    }
}
