//! The loop behind one WebSocket. Generic over any `Sink + Stream` of frames, so it can be driven
//! without a network.

use super::dispatch;
use crate::db::{Seen, SessionRow};
use crate::error::{Error, Result};
use crate::hub::{frame, CloseReason, Registration, TOO_SLOW};
use crate::state::LiveState;
use app::model::{limits, Pos, User};
use app::protocol::{close_code, ApiError, ErrorCode, ServerEvent};
use axum::extract::ws::{close_code as ws_close, CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::time::Duration;
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tracing::Instrument;

/// How often the server pings, and how long silence may last before the peer counts as gone.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long one write may wait on a peer that does not read; past it the peer is too slow (4009).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long our close frame may wait behind what a slow reader has still to read.
const CLOSE_SEND: Duration = Duration::from_secs(10);
/// How long the peer gets to answer our close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// Malformed frames in a row before the connection is closed.
const MALFORMED_LIMIT: u32 = 10;

/// Serves one connection until either side ends it. `session` is the handshake's result: without a
/// valid session the client gets an `unauthorized` error and the close.
pub async fn serve<S, E>(mut socket: S, session: Result<SessionRow, String>, state: LiveState)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
{
    let session = match session {
        Ok(session) => session,
        Err(message) => {
            let error = ServerEvent::Error {
                id: None,
                error: ApiError::new(ErrorCode::Unauthorized, message),
            };
            let _ = send(&mut socket, Message::Text(frame(&error))).await;
            tracing::info!(
                code = close_code::UNAUTHORIZED,
                "closing a socket without a session"
            );
            close(&mut socket, close_code::UNAUTHORIZED, "log in first").await;
            return;
        }
    };
    let span = tracing::info_span!("socket", user = %session.user.id);
    serve_session(socket, session, state).instrument(span).await;
}

async fn serve_session<S, E>(mut socket: S, session: SessionRow, state: LiveState)
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
{
    let user = session.user.clone();
    let mut registration = state.hub.register(user.id, session.id);
    tracing::debug!(connection = registration.id, "connected");
    if registration.came_online {
        state.presence.changed_here(user.id).await;
    }

    let reason = match ready(&state, &session, registration.from).await {
        Ok(ready) => {
            match write(&mut socket, Message::Text(frame(&ready)), &mut registration).await {
                Ok(()) => run(&mut socket, &state, &user, &mut registration).await,
                Err(stop) => stop,
            }
        }
        Err(Error::Unauthorized(_)) => Some(CloseReason {
            code: close_code::UNAUTHORIZED,
            reason: "logged out",
        }),
        Err(error) => {
            error.log();
            Some(CloseReason {
                code: ws_close::ERROR,
                reason: "could not load your chats",
            })
        }
    };
    if let Some(reason) = reason {
        tracing::info!(
            connection = registration.id,
            code = reason.code,
            reason = reason.reason,
            "closing the socket"
        );
        close(&mut socket, reason.code, reason.reason).await;
    }
    state.typing.connection_closed(registration.id);
    if state.hub.unregister(user.id, registration.id) {
        state.presence.changed_here(user.id).await;
    }
    tracing::debug!(connection = registration.id, "disconnected");
}

/// Reads requests and writes replies and pushes until the peer leaves (`None`) or the server ends the
/// connection (the reason to close with).
async fn run<S, E>(
    socket: &mut S,
    state: &LiveState,
    user: &User,
    registration: &mut Registration,
) -> Option<CloseReason>
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + 'static,
{
    let mut heartbeat = interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut malformed_in_a_row = 0;
    let mut connection = dispatch::Connection::new(user.clone(), registration.id);
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
                if let Err(stop) = write(socket, Message::Text(queued?), registration).await {
                    return stop;
                }
            }
            incoming = socket.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let outcome = dispatch::handle(state, &mut connection, text.as_str()).await;
                        malformed_in_a_row = if outcome.malformed { malformed_in_a_row + 1 } else { 0 };
                        // The change is committed: others hear of it even if this peer just left.
                        state.committed(outcome.logged);
                        let reply = Message::Text(frame(&outcome.reply));
                        if let Err(stop) = write(socket, reply, registration).await {
                            return stop;
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
                    Some(Ok(Message::Close(_))) => {
                        // Flushes the close reply the WebSocket layer queued for us.
                        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, socket.close()).await;
                        return None;
                    }
                    Some(Err(error)) => return close_reason_for(&error),
                    None => return None,
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    return Some(CloseReason { code: close_code::TIMEOUT, reason: "no answer to pings" });
                }
                if let Err(stop) = write(socket, Message::Ping(Default::default()), registration).await {
                    return stop;
                }
            }
        }
    }
}

/// The close code a read error calls for, when the peer broke the protocol rather than the connection.
fn close_reason_for(error: &(dyn std::error::Error + 'static)) -> Option<CloseReason> {
    use tungstenite::error::{CapacityError, Error as WsError};
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(ws) = error.downcast_ref::<WsError>() {
            return match ws {
                WsError::Capacity(CapacityError::MessageTooLong { .. }) => Some(CloseReason {
                    code: ws_close::SIZE,
                    reason: "frame too large",
                }),
                WsError::Utf8(_) => Some(CloseReason {
                    code: ws_close::INVALID,
                    reason: "text frame is not UTF-8",
                }),
                WsError::Protocol(_) => Some(CloseReason {
                    code: ws_close::PROTOCOL,
                    reason: "protocol violation",
                }),
                _ => None,
            };
        }
        cause = error.source();
    }
    None
}

/// Writes `first`, then the frames queued for this connection when it starts, and flushes once: a
/// reply and the pushes it caused leave together (and in that order) instead of one small packet each.
///
/// Fails with the reason to close with: the hub's (a full queue, a logout) if it asks meanwhile,
/// too slow if the peer does not take these frames within `SEND_TIMEOUT`, or `None` if it is gone.
async fn write<S>(
    socket: &mut S,
    first: Message,
    registration: &mut Registration,
) -> Result<(), Option<CloseReason>>
where
    S: Sink<Message> + Unpin,
{
    let frames = &mut registration.frames;
    // Only what is queued now: frames arriving meanwhile wait for the next write, so a reader that
    // keeps up is never timed out on a batch that grows while it is written.
    let queued = frames.len();
    let batch = async {
        socket.feed(first).await?;
        for _ in 0..queued {
            match frames.try_recv() {
                Ok(frame) => socket.feed(Message::Text(frame)).await?,
                Err(_) => break,
            }
        }
        socket.flush().await
    };
    tokio::select! {
        biased;
        Ok(()) = registration.close.changed() => Err(registration.close.borrow().clone()),
        written = tokio::time::timeout(SEND_TIMEOUT, batch) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(None),
            Err(_) => Err(Some(TOO_SLOW)),
        },
    }
}

/// Writes one frame, for a connection that has no registration; `None` when the peer is gone or has
/// stopped reading.
async fn send<S>(socket: &mut S, message: Message) -> Option<()>
where
    S: Sink<Message> + Unpin,
{
    tokio::time::timeout(SEND_TIMEOUT, socket.send(message))
        .await
        .ok()?
        .ok()
}

/// The first frame, once the session is known to be live: a logout between the handshake and the
/// hub registration closed no socket, so it is looked at again now that this one is registered.
/// `from` is where this connection's deliveries start; the snapshot is read after it, so it holds at
/// least everything up to it.
async fn ready(state: &LiveState, session: &SessionRow, from: Pos) -> Result<ServerEvent> {
    if !state
        .db
        .session_is_live(session.id, crate::now_ms())
        .await?
    {
        return Err(Error::Unauthorized("Your session has ended.".into()));
    }
    let user = &session.user;
    let (chats, more_chats) = state
        .db
        .chats_page(user.id, None, limits::CHAT_PAGE_MAX)
        .await?;
    Ok(ServerEvent::Ready {
        user: user.clone(),
        epoch: state.db.epoch().to_string(),
        pos: from,
        user_seq: state.db.user_seq(user.id).await?,
        people: state
            .db
            .people_known_to(user.id, crate::now_ms())
            .await?
            .iter()
            .map(Seen::person)
            .collect(),
        contacts: state.db.contacts(user.id).await?,
        settings: state.db.settings(user.id).await?,
        status: state.db.my_status(user.id).await?,
        waiting: state.db.waiting(user.id).await?,
        chats,
        more_chats,
    })
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
    let sent = tokio::time::timeout(CLOSE_SEND, socket.send(Message::Close(Some(frame)))).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let answer = async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use app::protocol::{ClientEvent, Reply, Request};
    use futures::channel::mpsc;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A socket made of two channels: what the test sends is what the loop reads, and what the loop
    /// writes the test reads.
    struct ChannelSocket {
        incoming: mpsc::UnboundedReceiver<Result<Message, Infallible>>,
        outgoing: mpsc::UnboundedSender<Message>,
    }

    impl Stream for ChannelSocket {
        type Item = Result<Message, Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Pin::new(&mut self.incoming).poll_next(cx)
        }
    }

    impl Sink<Message> for ChannelSocket {
        type Error = mpsc::SendError;
        fn poll_ready(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            Pin::new(&mut self.outgoing).poll_ready(cx)
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            Pin::new(&mut self.outgoing).start_send(item)
        }
        fn poll_flush(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            Pin::new(&mut self.outgoing).poll_flush(cx)
        }
        fn poll_close(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            Pin::new(&mut self.outgoing).poll_close(cx)
        }
    }

    struct Peer {
        to_server: mpsc::UnboundedSender<Result<Message, Infallible>>,
        from_server: mpsc::UnboundedReceiver<Message>,
    }

    impl Peer {
        async fn event(&mut self) -> ServerEvent {
            match self.from_server.next().await {
                Some(Message::Text(text)) => serde_json::from_str(text.as_str()).unwrap(),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }

        fn send(&self, text: &str) {
            self.to_server
                .unbounded_send(Ok(Message::Text(text.into())))
                .unwrap();
        }
    }

    fn socket() -> (ChannelSocket, Peer) {
        let (to_server, incoming) = mpsc::unbounded();
        let (outgoing, from_server) = mpsc::unbounded();
        (
            ChannelSocket { incoming, outgoing },
            Peer {
                to_server,
                from_server,
            },
        )
    }

    async fn state(dir: &tempfile::TempDir) -> LiveState {
        let db = Db::open(&format!("sqlite://{}/test.db", dir.path().display()))
            .await
            .unwrap();
        LiveState::start(
            db,
            crate::cluster::Cluster::default(),
            std::time::Duration::from_secs(15),
        )
        .await
        .unwrap()
    }

    /// A new user `name` and a live session of theirs.
    async fn signed_in(state: &LiveState, name: &str) -> SessionRow {
        let user = state.db.create_user(name, "hash", 0).await.unwrap();
        let id = state
            .db
            .create_session(user.id, "hash", 0, i64::MAX)
            .await
            .unwrap();
        SessionRow { id, user }
    }

    #[tokio::test]
    async fn a_session_gets_ready_then_one_reply_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(&dir).await;
        let session = signed_in(&state, "alice").await;
        let user = session.user.clone();
        let (socket, mut peer) = socket();
        let served = tokio::spawn(serve(socket, Ok(session), state.clone()));

        match peer.event().await {
            ServerEvent::Ready { user: me, pos, .. } => assert_eq!((me, pos), (user.clone(), 0)),
            other => panic!("expected ready, got {other:?}"),
        }
        assert_eq!(state.hub.online_users(), vec![user.id]);

        let bob = state.db.create_user("bob", "hash", 0).await.unwrap();
        let request = Request {
            id: 7,
            event: ClientEvent::UsersList {
                after: None,
                limit: None,
            },
        };
        peer.send(&serde_json::to_string(&request).unwrap());
        match peer.event().await {
            ServerEvent::Reply {
                id: 7,
                result: Reply::People { people, .. },
            } => {
                let shown: Vec<_> = people.iter().map(|p| (&p.user, &p.presence)).collect();
                assert_eq!(
                    shown,
                    vec![(&bob, &None)],
                    "a stranger's presence is not shown"
                );
            }
            other => panic!("expected the people reply, got {other:?}"),
        }
        peer.send("{oops");
        assert!(matches!(
            peer.event().await,
            ServerEvent::Error { id: None, .. }
        ));

        // The peer goes away: the loop ends and the user is offline.
        drop(peer.to_server);
        served.await.unwrap();
        assert!(state.hub.online_users().is_empty());
    }

    /// A browser that vanished without closing (a half-open connection) answers no pings: within
    /// the silence limit it is closed with 4010 and its user goes offline.
    #[tokio::test]
    async fn a_peer_that_stops_answering_is_closed_and_goes_offline() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(&dir).await;
        let session = signed_in(&state, "gone").await;
        let (socket, mut peer) = socket();
        let served = tokio::spawn(serve(socket, Ok(session), state.clone()));
        assert!(matches!(peer.event().await, ServerEvent::Ready { .. }));
        // From here the peer says nothing, and the clock runs as fast as the loop lets it.
        tokio::time::pause();
        let closed = loop {
            match peer.from_server.next().await {
                Some(Message::Ping(_)) => continue,
                Some(Message::Close(Some(frame))) => break frame.code,
                other => panic!("expected pings, then a close frame, got {other:?}"),
            }
        };
        assert_eq!(closed, close_code::TIMEOUT);
        tokio::time::resume();
        drop(peer.to_server);
        served.await.unwrap();
        assert!(state.hub.online_users().is_empty());
        // The presence write may have raced the paused clock; the lease renewal repairs it.
        let offline = async {
            while !state
                .db
                .users_on_node(state.presence.node_name())
                .await
                .unwrap()
                .is_empty()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), offline)
            .await
            .expect("stored as offline");
    }

    #[tokio::test]
    async fn a_session_ended_before_registration_is_closed_with_4001() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(&dir).await;
        let user = state.db.create_user("bob", "hash", 0).await.unwrap();
        let id = state
            .db
            .create_session(user.id, "hash", 0, i64::MAX)
            .await
            .unwrap();
        // The handshake found the session; a logout deleted it before the socket registered.
        state.db.delete_session(id).await.unwrap();
        let (socket, mut peer) = socket();
        let served = tokio::spawn(serve(socket, Ok(SessionRow { id, user }), state.clone()));
        match peer.from_server.next().await {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, close_code::UNAUTHORIZED),
            other => panic!("expected a close frame, got {other:?}"),
        }
        drop(peer.to_server);
        served.await.unwrap();
        assert!(state.hub.online_users().is_empty());
    }

    #[tokio::test]
    async fn no_session_means_an_error_then_close_4001() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(&dir).await;
        let (socket, mut peer) = socket();
        let served = tokio::spawn(serve(socket, Err("Log in first.".into()), state));
        match peer.event().await {
            ServerEvent::Error { id: None, error } => {
                assert_eq!(error.code, ErrorCode::Unauthorized)
            }
            other => panic!("expected unauthorized, got {other:?}"),
        }
        match peer.from_server.next().await {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, close_code::UNAUTHORIZED),
            other => panic!("expected a close frame, got {other:?}"),
        }
        drop(peer.to_server);
        served.await.unwrap();
    }
}
