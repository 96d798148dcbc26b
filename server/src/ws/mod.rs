//! `/ws`: the handshake (origin and session checks), then one socket loop per connection.

mod connection;
mod dispatch;

pub use connection::serve;

use crate::auth::Authenticated;
use crate::client_address::ClientAddress;
use crate::error::Error;
use crate::security;
use crate::state::AppState;
use app::model::limits;
use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        State,
    },
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};

pub async fn upgrade(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    session: Result<Authenticated, Error>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return Error::Invalid("Open /ws as a WebSocket.".into()).into_response();
    };
    // Browsers always send `Origin` on a WebSocket handshake, so a page elsewhere cannot open the
    // socket with the visitor's cookie.
    if !security::origin_allowed(&headers, &state) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "refused a WebSocket from a foreign origin");
        return Error::Forbidden("This origin may not open Natter's socket.".into())
            .into_response();
    }
    // An invalid session still gets the upgrade, so the client reads a typed error before the close.
    let session = match session {
        Ok(Authenticated(session)) => Ok(session),
        Err(Error::Unauthorized(message)) => Err(message),
        Err(other) => return other.into_response(),
    };
    // A direct connection took its client's place when it was accepted; one through a proxy takes
    // it now, and keeps it as long as the socket lives.
    let slot = if client.via_proxy {
        match state.connection_counts.admit(client.network) {
            Some(slot) => Some(slot),
            None => return Error::TooManyConnections.into_response(),
        }
    } else {
        None
    };
    let tracker = state.sockets.clone();
    let live = state.live;
    upgrade
        .max_message_size(limits::FRAME_MAX_BYTES)
        .max_frame_size(limits::FRAME_MAX_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                serve(socket, session, live).await;
                drop(slot);
            })
        })
}
