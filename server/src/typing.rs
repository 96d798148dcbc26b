//! Who is typing where: short leases the server ends by itself, never stored.
//!
//! `typing:start` takes a lease of [`LEASE`] on the typist's chat, and a repeat refreshes it. The
//! chat's other members hear `typing` with `typing: true` once, when it begins, and `false` when it
//! ends: by `typing:stop`, by a message sent there, when the typist's connection closes, or when
//! the lease runs out unrefreshed. Other nodes hear of each start, refresh and end over NATS and
//! keep leases of their own, so a node that dies leaves no one typing on the others for long.

use crate::cluster::Cluster;
use crate::hub::Hub;
use app::model::{ChatId, User, UserId};
use app::protocol::ServerEvent;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a typing state lasts without a refresh.
pub const LEASE: Duration = Duration::from_secs(app::model::limits::TYPING_LEASE_SECS);
/// How often leases are looked at for expiry.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// A refresh is told to the other nodes at most this often per typist and chat.
const REFRESH_SHARED_EVERY: Duration = Duration::from_secs(2);

/// A typing state as the nodes tell each other of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingNews {
    pub chat_id: ChatId,
    pub user: User,
    pub typing: bool,
    /// The chat's other members, who hear of it.
    pub audience: Vec<UserId>,
}

struct Lease {
    expires: Instant,
    audience: Vec<UserId>,
    user: User,
    /// The connection on this node typing, if it is here; leases heard from other nodes have none.
    connection: Option<u64>,
    shared_at: Instant,
}

pub struct Typing {
    hub: Arc<Hub>,
    cluster: Cluster,
    leases: Mutex<HashMap<(ChatId, UserId), Lease>>,
}

impl Typing {
    /// Starts the sweeper that ends leases run out, until `shutdown`.
    pub fn start(hub: Arc<Hub>, cluster: Cluster, shutdown: CancellationToken) -> Arc<Self> {
        let typing = Arc::new(Self {
            hub,
            cluster,
            leases: Mutex::new(HashMap::new()),
        });
        let sweeper = typing.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => sweeper.sweep(Instant::now()),
                }
            }
        });
        typing
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ChatId, UserId), Lease>> {
        self.leases.lock().expect("typing lock")
    }

    /// `user`, on `connection` here, types in `chat`, heard by `audience` (the chat's other
    /// members, read by the caller).
    pub fn started(&self, chat: ChatId, user: &User, connection: u64, audience: Vec<UserId>) {
        let now = Instant::now();
        let told = {
            let mut leases = self.lock();
            match leases.get_mut(&(chat, user.id)) {
                Some(lease) => {
                    lease.expires = now + LEASE;
                    lease.connection = Some(connection);
                    lease.audience = audience;
                    if now.duration_since(lease.shared_at) < REFRESH_SHARED_EVERY {
                        return;
                    }
                    lease.shared_at = now;
                    // A refresh: the other nodes extend their lease; nobody is told anew.
                    self.cluster.typing(&news(chat, lease, true));
                    return;
                }
                None => {
                    let lease = Lease {
                        expires: now + LEASE,
                        audience,
                        user: user.clone(),
                        connection: Some(connection),
                        shared_at: now,
                    };
                    let told = news(chat, &lease, true);
                    leases.insert((chat, user.id), lease);
                    told
                }
            }
        };
        self.tell(&told);
        self.cluster.typing(&told);
    }

    /// `user` stopped typing in `chat` (they said so, or sent a message there).
    pub fn stopped(&self, chat: ChatId, user: UserId) {
        let ended = self.lock().remove(&(chat, user));
        if let Some(lease) = ended {
            let news = news(chat, &lease, false);
            self.tell(&news);
            self.cluster.typing(&news);
        }
    }

    /// A connection closed: whatever it was typing ends.
    pub fn connection_closed(&self, connection: u64) {
        for (chat, lease) in self.end_where(|lease| lease.connection == Some(connection)) {
            let news = news(chat, &lease, false);
            self.tell(&news);
            self.cluster.typing(&news);
        }
    }

    /// Another node told of a typing state.
    pub fn heard(&self, news: TypingNews) {
        let key = (news.chat_id, news.user.id);
        let now = Instant::now();
        let tell = {
            let mut leases = self.lock();
            if news.typing {
                let lease = Lease {
                    expires: now + LEASE,
                    audience: news.audience.clone(),
                    user: news.user.clone(),
                    connection: None,
                    shared_at: now,
                };
                leases.insert(key, lease).is_none()
            } else {
                leases.remove(&key).is_some()
            }
        };
        if tell {
            self.tell(&news);
        }
    }

    /// Ends the leases run out by `now`.
    fn sweep(&self, now: Instant) {
        // Each node ends its own copy of a lease, so nothing is shared here.
        for (chat, lease) in self.end_where(|lease| lease.expires <= now) {
            self.tell(&news(chat, &lease, false));
        }
    }

    /// Removes the leases `ended` picks, and returns them with their chats.
    fn end_where(&self, ended: impl Fn(&Lease) -> bool) -> Vec<(ChatId, Lease)> {
        let mut leases = self.lock();
        let keys: Vec<_> = leases
            .iter()
            .filter(|(_, lease)| ended(lease))
            .map(|(key, _)| *key)
            .collect();
        keys.into_iter()
            .filter_map(|key| leases.remove(&key).map(|lease| (key.0, lease)))
            .collect()
    }

    /// Pushes a typing state to the audience's connections here.
    fn tell(&self, news: &TypingNews) {
        let event = ServerEvent::Typing {
            chat_id: news.chat_id,
            user: news.user.clone(),
            typing: news.typing,
        };
        self.hub.push(&news.audience, &event);
    }
}

fn news(chat: ChatId, lease: &Lease, typing: bool) -> TypingNews {
    TypingNews {
        chat_id: chat,
        user: lease.user.clone(),
        typing,
        audience: lease.audience.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::ChatId;

    fn user(id: i64) -> User {
        User {
            id: UserId(id),
            username: format!("user{id}"),
        }
    }

    /// The `typing` states queued for `user`'s connection, in order.
    fn heard_by(registration: &mut crate::hub::Registration) -> Vec<bool> {
        let mut states = Vec::new();
        while let Ok(frame) = registration.frames.try_recv() {
            match serde_json::from_str::<ServerEvent>(frame.as_str()).unwrap() {
                ServerEvent::Typing { typing, .. } => states.push(typing),
                other => panic!("unexpected {other:?}"),
            }
        }
        states
    }

    #[tokio::test(start_paused = true)]
    async fn typing_is_told_once_and_ends_by_itself() {
        let hub = Arc::new(Hub::default());
        let mut bob = hub.register(UserId(2), 1);
        let typing = Typing::start(hub.clone(), Cluster::default(), CancellationToken::new());
        let chat = ChatId(1);
        typing.started(chat, &user(1), 7, vec![UserId(2)]);
        tokio::time::sleep(Duration::from_secs(4)).await;
        typing.started(chat, &user(1), 7, vec![UserId(2)]);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            heard_by(&mut bob),
            vec![true],
            "a refresh is not told again"
        );
        tokio::time::sleep(LEASE).await;
        assert_eq!(
            heard_by(&mut bob),
            vec![false],
            "unrefreshed, it ends by itself"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_or_a_closed_connection_ends_typing_at_once() {
        let hub = Arc::new(Hub::default());
        let mut bob = hub.register(UserId(2), 1);
        let typing = Typing::start(hub.clone(), Cluster::default(), CancellationToken::new());
        typing.started(ChatId(1), &user(1), 7, vec![UserId(2)]);
        typing.stopped(ChatId(1), UserId(1));
        typing.stopped(ChatId(1), UserId(1));
        typing.started(ChatId(2), &user(1), 7, vec![UserId(2)]);
        typing.started(ChatId(3), &user(1), 8, vec![UserId(2)]);
        typing.connection_closed(7);
        assert_eq!(heard_by(&mut bob), vec![true, false, true, true, false]);
        tokio::time::sleep(LEASE * 2).await;
        assert_eq!(
            heard_by(&mut bob),
            vec![false],
            "the other connection's lease ran out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn news_from_another_node_is_told_and_expires_here_too() {
        let hub = Arc::new(Hub::default());
        let mut bob = hub.register(UserId(2), 1);
        let typing = Typing::start(hub.clone(), Cluster::default(), CancellationToken::new());
        let news = TypingNews {
            chat_id: ChatId(1),
            user: user(1),
            typing: true,
            audience: vec![UserId(2)],
        };
        typing.heard(news.clone());
        typing.heard(news);
        assert_eq!(heard_by(&mut bob), vec![true]);
        tokio::time::sleep(LEASE * 2).await;
        assert_eq!(
            heard_by(&mut bob),
            vec![false],
            "a node that died leaves no one typing"
        );
    }
}
