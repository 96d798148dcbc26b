//! The browser's WebSocket: connects, reconnects with jittered backoff, and feeds every frame to the
//! [`State`]. Runs only in the browser (started from an effect).

use super::reactivity::wake;
use super::state::{Effects, Next, State};
use crate::protocol::{close_code, ServerEvent};
use futures::{channel::mpsc, select, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use leptos::prelude::*;
use reactive_stores::Store;
use std::time::Duration;

/// What the connection indicator shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected,
    Reconnecting,
}

impl Connection {
    pub fn label(self) -> &'static str {
        match self {
            Connection::Connecting => "Connecting…",
            Connection::Connected => "Connected",
            Connection::Reconnecting => "Reconnecting…",
        }
    }
}

/// The chat page's client: the store, the connection state, and the way out to the server.
#[derive(Clone, Copy)]
pub struct ChatClient {
    pub store: Store<State>,
    pub connection: RwSignal<Connection>,
    outbox: StoredValue<Option<mpsc::UnboundedSender<String>>>,
}

impl ChatClient {
    pub fn new() -> Self {
        Self {
            store: Store::new(State::default()),
            connection: RwSignal::new(Connection::Connecting),
            outbox: StoredValue::new(None),
        }
    }

    /// Changes the store and sends whatever requests the change calls for; returns what the
    /// connection is to do next. While disconnected the requests are dropped: the next `ready`
    /// re-derives them (pending messages are re-sent, history reloaded).
    pub fn update(&self, change: impl FnOnce(&mut State) -> Effects) -> Next {
        // Written untracked, so nothing wakes until `wake` knows what changed; the guard is gone by
        // then, so the views it wakes can read.
        let Some(effects) = self
            .store
            .try_write_untracked()
            .map(|mut state| change(&mut state))
        else {
            return Next::Stay;
        };
        wake(self.store, &effects.changed);
        self.outbox.with_value(|outbox| {
            if let Some(outbox) = outbox {
                for request in effects.requests {
                    let frame = serde_json::to_string(&request).expect("requests always serialize");
                    let _ = outbox.unbounded_send(frame);
                }
            }
        });
        effects.next
    }

    /// Keeps a connection open for as long as the page lives.
    pub fn start(self) {
        leptos::task::spawn_local(async move {
            let mut failures: u32 = 0;
            loop {
                match self.run_connection().await {
                    Ended::LoggedOut => {
                        let _ = window().location().set_href(super::paths::LOGIN);
                        return;
                    }
                    Ended::Dropped { was_ready } => {
                        failures = if was_ready { 1 } else { failures + 1 };
                    }
                }
                self.connection.set(Connection::Reconnecting);
                gloo_timers::future::sleep(backoff(failures)).await;
            }
        });
    }

    async fn run_connection(&self) -> Ended {
        let location = window().location();
        let scheme = if location.protocol().as_deref() == Ok("https:") {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().unwrap_or_default();
        let Ok(socket) = WebSocket::open(&format!("{scheme}://{host}/ws")) else {
            return Ended::Dropped { was_ready: false };
        };
        let (mut sink, stream) = socket.split();
        let mut stream = stream.fuse();
        let (outbox, inbox) = mpsc::unbounded::<String>();
        let mut inbox = inbox.fuse();
        let mut was_ready = false;
        let ended = loop {
            select! {
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let Ok(event) = serde_json::from_str::<ServerEvent>(&text) else {
                            leptos::logging::warn!("ignored an unreadable frame: {text}");
                            continue;
                        };
                        if matches!(event, ServerEvent::Ready { .. }) {
                            was_ready = true;
                            self.outbox.set_value(Some(outbox.clone()));
                            self.connection.set(Connection::Connected);
                        }
                        match self.update(|store| store.apply(event)) {
                            Next::Stay => {}
                            Next::Reconnect => break Ended::Dropped { was_ready },
                            Next::LogOut => break Ended::LoggedOut,
                        }
                    }
                    Some(Ok(Message::Bytes(_))) => {}
                    Some(Err(WebSocketError::ConnectionClose(close)))
                        if close.code == close_code::UNAUTHORIZED => break Ended::LoggedOut,
                    Some(Err(_)) | None => break Ended::Dropped { was_ready },
                },
                frame = inbox.next() => {
                    if let Some(frame) = frame {
                        if sink.send(Message::Text(frame)).await.is_err() {
                            break Ended::Dropped { was_ready };
                        }
                    }
                }
            }
        };
        self.outbox.set_value(None);
        ended
    }
}

enum Ended {
    /// The session is gone: reconnecting cannot help.
    LoggedOut,
    Dropped {
        was_ready: bool,
    },
}

/// "Full jitter" backoff: a random wait up to a ceiling that doubles per failure (0.5 s to 15 s), so
/// clients of a restarted server do not all return in the same instant.
fn backoff(failures: u32) -> Duration {
    let ceiling_ms = (500u64 << failures.min(5)).min(15_000) as f64;
    Duration::from_millis(200 + (js_sys::Math::random() * ceiling_ms) as u64)
}
