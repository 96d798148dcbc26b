//! The loop behind one WebSocket. Generic over any `Sink + Stream` of frames, so it can be driven
//! without a network.

use super::dispatch;
use crate::db::SessionRow;
use crate::error::Result;
use crate::hub::{frame, CloseReason};
use crate::state::AppState;
use app::model::User;
use app::protocol::{close_code, ApiError, ErrorCode, ServerEvent};
use axum::extract::ws::{close_code as ws_close, CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::time::Duration;
use tokio::time::{interval, Instant, MissedTickBehavior};
use tracing::Instrument;

/// How often the server pings, and how long silence may last before the peer counts as gone.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long the peer gets to answer our close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// Malformed frames in a row before the connection is closed.
const MALFORMED_LIMIT: u32 = 10;

/// Serves one connection until either side ends it. `session` is the handshake's result: without a
/// valid session the client gets an `unauthorized` error and the close.
pub async fn serve<S, E>(mut socket: S, session: Result<SessionRow, String>, state: AppState)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let session = match session {
        Ok(session) => session,
        Err(message) => {
            let error = ServerEvent::Error {
                id: None,
                error: ApiError::new(ErrorCode::Unauthorized, message),
            };
            let _ = socket.send(Message::Text(frame(&error))).await;
            close(&mut socket, close_code::UNAUTHORIZED, "log in first").await;
            return;
        }
    };
    let span = tracing::info_span!("socket", user = %session.user.id);
    serve_session(socket, session, state).instrument(span).await;
}

async fn serve_session<S, E>(mut socket: S, session: SessionRow, state: AppState)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let user = session.user.clone();
    let mut registration = state.hub.register(user.id, session.id);
    tracing::debug!(connection = registration.id, "connected");
    if registration.came_online {
        announce(&state, &user, true);
    }

    let reason = match ready(&state, &user).await {
        Ok(ready) if socket.send(Message::Text(frame(&ready))).await.is_ok() => {
            run(&mut socket, &state, &user, &mut registration).await
        }
        Ok(_) => None,
        Err(error) => {
            error.log();
            Some(CloseReason {
                code: ws_close::ERROR,
                reason: "could not load your chats",
            })
        }
    };
    if let Some(reason) = reason {
        close(&mut socket, reason.code, reason.reason).await;
    }
    if state.hub.unregister(user.id, registration.id) {
        announce(&state, &user, false);
    }
    tracing::debug!(connection = registration.id, "disconnected");
}

/// Reads requests and writes replies and pushes until the peer leaves (`None`) or the server ends the
/// connection (the reason to close with).
async fn run<S, E>(
    socket: &mut S,
    state: &AppState,
    user: &User,
    registration: &mut crate::hub::Registration,
) -> Option<CloseReason>
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let mut heartbeat = interval(PING_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut malformed_in_a_row = 0;
    loop {
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => {
                return Some(CloseReason { code: ws_close::AWAY, reason: "server restarting" });
            }
            Ok(()) = registration.close.changed() => {
                return registration.close.borrow().clone();
            }
            queued = registration.frames.recv() => {
                let frame = queued?;
                socket.send(Message::Text(frame)).await.ok()?;
            }
            incoming = socket.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let outcome = dispatch::handle(state, user, text.as_str()).await;
                        malformed_in_a_row = if outcome.malformed { malformed_in_a_row + 1 } else { 0 };
                        socket.send(Message::Text(frame(&outcome.reply))).await.ok()?;
                        for (member, event) in &outcome.fanout {
                            state.hub.send(*member, event);
                        }
                        if malformed_in_a_row >= MALFORMED_LIMIT {
                            return Some(CloseReason {
                                code: close_code::POLICY,
                                reason: "too many malformed frames",
                            });
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        return Some(CloseReason {
                            code: ws_close::UNSUPPORTED,
                            reason: "the protocol is JSON text frames",
                        });
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Some(CloseReason { code: close_code::TIMEOUT, reason: "no answer to pings" });
                }
                socket.send(Message::Ping(Default::default())).await.ok()?;
            }
        }
    }
}

async fn ready(state: &AppState, user: &User) -> Result<ServerEvent> {
    Ok(ServerEvent::Ready {
        user: user.clone(),
        seq: state.db.last_seq(user.id).await?,
        people: dispatch::people(state).await?,
        chats: state.db.chats_of(user.id).await?,
    })
}

/// Tells everyone else connected that `user` came online or went offline.
fn announce(state: &AppState, user: &User, online: bool) {
    state.hub.broadcast_except(
        user.id,
        &ServerEvent::UserStatus {
            person: app::model::Person {
                user: user.clone(),
                online,
            },
        },
    );
}

/// Sends a close frame and waits (briefly) for the peer's answer, completing the closing handshake:
/// dropping the TCP connection at once could reset it before the peer has read the close frame.
async fn close<S, E>(socket: &mut S, code: u16, reason: &'static str)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let handshake = async {
        if socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, handshake).await;
}
