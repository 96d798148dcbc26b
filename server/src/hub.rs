//! Who is connected to this node: each user's live connections, their outgoing queues, and presence.
//!
//! A frame is serialized once and shared by every connection it goes to. Each connection's queue is
//! bounded: a reader that falls that far behind is told to go (close code `SLOW_CONSUMER`) and
//! catches up from its log position later, so it never slows the others or grows the server's memory.
//!
//! The hub also knows how far into the log it has delivered. A connection registers under the same
//! lock that delivery takes, so it gets exactly the events after that position: its `ready` says so.

use app::model::{Pos, UserId};
use app::protocol::{close_code, ServerEvent};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex,
};
use tokio::sync::{mpsc, watch};

/// Frames a connection may have waiting before it counts as too slow.
pub const QUEUE_FRAMES: usize = 256;

/// Why a reader that falls behind (its queue full, or a write stuck) is closed.
pub const TOO_SLOW: CloseReason = CloseReason {
    code: close_code::SLOW_CONSUMER,
    reason: "too far behind: reconnect and sync",
};

/// Why the server ends a connection: a WebSocket close code and a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

struct Handle {
    id: u64,
    session_id: i64,
    frames: mpsc::Sender<Utf8Bytes>,
    close: watch::Sender<Option<CloseReason>>,
}

impl Handle {
    fn close(&self, reason: CloseReason) {
        self.close.send_replace(Some(reason));
    }
}

/// The receiving end a connection's socket loop reads from.
pub struct Registration {
    pub id: u64,
    pub frames: mpsc::Receiver<Utf8Bytes>,
    pub close: watch::Receiver<Option<CloseReason>>,
    /// This is the user's first live connection: they just came online.
    pub came_online: bool,
    /// Every log event after this position is delivered to this connection, and none before.
    pub from: Pos,
}

#[derive(Default)]
struct Connected {
    users: HashMap<UserId, Vec<Handle>>,
    /// The newest log position delivered.
    delivered: Pos,
}

impl Connected {
    /// Queues `event` for every live connection of `recipients`, serialized once if anyone is here.
    fn queue_for(&self, recipients: &[UserId], event: &ServerEvent) {
        let mut shared = None;
        for user in recipients {
            if let Some(handles) = self.users.get(user) {
                queue(handles, shared.get_or_insert_with(|| frame(event)));
            }
        }
    }
}

#[derive(Default)]
pub struct Hub {
    connected: Mutex<Connected>,
    next_id: AtomicU64,
}

impl Hub {
    /// A hub that has delivered the log up to `delivered` (the head when the node starts).
    pub fn delivered_through(delivered: Pos) -> Self {
        Self {
            connected: Mutex::new(Connected {
                users: HashMap::new(),
                delivered,
            }),
            next_id: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connected> {
        self.connected.lock().expect("hub lock")
    }

    pub fn register(&self, user: UserId, session_id: i64) -> Registration {
        let (frames_tx, frames) = mpsc::channel(QUEUE_FRAMES);
        let (close_tx, close) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut connected = self.lock();
        let from = connected.delivered;
        let handles = connected.users.entry(user).or_default();
        let came_online = handles.is_empty();
        handles.push(Handle {
            id,
            session_id,
            frames: frames_tx,
            close: close_tx,
        });
        Registration {
            id,
            frames,
            close,
            came_online,
            from,
        }
    }

    /// Forgets a connection; true when it was the user's last, so they went offline.
    pub fn unregister(&self, user: UserId, id: u64) -> bool {
        let mut connected = self.lock();
        let Some(handles) = connected.users.get_mut(&user) else {
            return false;
        };
        handles.retain(|handle| handle.id != id);
        if handles.is_empty() {
            connected.users.remove(&user);
            return true;
        }
        false
    }

    pub fn online_users(&self) -> Vec<UserId> {
        self.lock().users.keys().copied().collect()
    }

    /// Whether `user` has a live connection here.
    pub fn is_connected(&self, user: UserId) -> bool {
        self.lock().users.contains_key(&user)
    }

    /// The newest log position delivered.
    pub fn delivered(&self) -> Pos {
        self.lock().delivered
    }

    /// Delivers the log event at `pos`, the one after the last delivered, to every live connection
    /// of `recipients`.
    pub fn deliver(&self, pos: Pos, recipients: &[UserId], event: &ServerEvent) {
        let mut connected = self.lock();
        debug_assert_eq!(
            pos,
            connected.delivered + 1,
            "the log is delivered in order"
        );
        connected.queue_for(recipients, event);
        connected.delivered = pos;
    }

    /// Queues `event`, which is not part of the log, for every live connection of `recipients`.
    pub fn push(&self, recipients: &[UserId], event: &ServerEvent) {
        self.lock().queue_for(recipients, event);
    }

    /// Closes every connection opened with `session_id` (on logout).
    pub fn close_session(&self, session_id: i64, reason: CloseReason) {
        for handles in self.lock().users.values() {
            for handle in handles.iter().filter(|h| h.session_id == session_id) {
                handle.close(reason.clone());
            }
        }
    }
}

pub fn frame(event: &ServerEvent) -> Utf8Bytes {
    serde_json::to_string(event)
        .expect("server events always serialize")
        .into()
}

fn queue(handles: &[Handle], frame: &Utf8Bytes) {
    for handle in handles {
        if let Err(mpsc::error::TrySendError::Full(_)) = handle.frames.try_send(frame.clone()) {
            handle.close(TOO_SLOW);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{Person, User};

    fn status(id: i64) -> ServerEvent {
        ServerEvent::UserStatus {
            person: Person {
                user: User {
                    id: UserId(id),
                    username: "x".into(),
                },
                presence: None,
            },
        }
    }

    #[test]
    fn presence_follows_the_first_and_last_connection() {
        let hub = Hub::default();
        let a = hub.register(UserId(1), 10);
        let b = hub.register(UserId(1), 11);
        assert!(a.came_online);
        assert!(!b.came_online);
        assert!(!hub.unregister(UserId(1), a.id));
        assert_eq!(hub.online_users(), vec![UserId(1)]);
        assert!(hub.unregister(UserId(1), b.id));
        assert!(hub.online_users().is_empty());
    }

    #[tokio::test]
    async fn every_connection_of_a_recipient_gets_the_same_frame() {
        let hub = Hub::delivered_through(4);
        let mut a = hub.register(UserId(1), 10);
        let mut b = hub.register(UserId(1), 11);
        let mut other = hub.register(UserId(2), 12);
        assert_eq!(a.from, 4);
        hub.deliver(5, &[UserId(1), UserId(3)], &status(5));
        assert_eq!(a.frames.recv().await, b.frames.recv().await);
        assert!(other.frames.try_recv().is_err());
        assert_eq!(hub.delivered(), 5);
        assert_eq!(
            hub.register(UserId(2), 13).from,
            5,
            "a later connection starts after it"
        );
    }

    #[test]
    fn a_full_queue_closes_only_the_slow_connection() {
        let hub = Hub::default();
        let slow = hub.register(UserId(1), 10);
        let mut fast = hub.register(UserId(2), 11);
        for _ in 0..=QUEUE_FRAMES {
            hub.push(&[UserId(1), UserId(2)], &status(5));
            while fast.frames.try_recv().is_ok() {}
        }
        assert_eq!(
            slow.close.borrow().as_ref().map(|r| r.code),
            Some(close_code::SLOW_CONSUMER)
        );
        assert!(fast.close.borrow().is_none());
    }

    #[test]
    fn logout_closes_that_session_only() {
        let hub = Hub::default();
        let one = hub.register(UserId(1), 10);
        let two = hub.register(UserId(1), 11);
        let reason = CloseReason {
            code: close_code::UNAUTHORIZED,
            reason: "logged out",
        };
        hub.close_session(10, reason.clone());
        assert_eq!(*one.close.borrow(), Some(reason));
        assert!(two.close.borrow().is_none());
    }
}
