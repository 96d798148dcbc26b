//! The event log: every change others must hear about, stored once.
//!
//! A change to a chat (a message, a change to a group; later edits and reads) is one event in that chat's
//! stream; a change that concerns one user alone (being added to a chat) is one event in that user's
//! stream. Each event has a `seq`, counting within its stream without gaps, and a `pos`, its place
//! in the one log all streams share. A writer takes the log's head row last, just before it commits,
//! so positions are given out in commit order and without gaps: whoever has read up to a position has
//! seen every event before it. A member's view of a chat is the chat's events from when they joined
//! until they left (`chat_members` periods), so a message costs the same rows however many members
//! its chat has.
//!
//! The log holds facts, not frames: a frame is built from the fact and the rows it names when it is
//! sent, so a protocol change never makes stored events unreadable.

use super::{chats::load_messages, reads::unread_as_of, Db};
use crate::error::{Error, Result};
use app::model::{Chat, ChatId, Contact, MessageId, Pos, Relation, Seq, Timestamp, UserId};
use app::protocol::ServerEvent;
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyPool, Transaction};
use std::collections::HashMap;

/// What happened, as stored. Each variant is a stored format, versioned in its name: its fields may
/// only gain ones with defaults, and a change of meaning is a new version beside the old, so events
/// written by any earlier release stay readable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fact")]
pub enum Fact {
    /// A chat event: a message was sent; the message itself is in `messages`.
    #[serde(rename = "message_sent@1")]
    MessageSent { message_id: MessageId },
    /// A user event: the user became a member of the chat.
    #[serde(rename = "chat_joined@1")]
    ChatJoined { chat_id: ChatId },
    /// A user event: the user's relation to `other_id` became `relation`.
    #[serde(rename = "contact_changed@1")]
    ContactChanged {
        other_id: UserId,
        relation: Relation,
        since: Timestamp,
    },
    /// A user event: the user changed their settings, which are in `users`.
    #[serde(rename = "settings_changed@1")]
    SettingsChanged,
    /// A user event: the user set their presence mode or status text, which are in `users`.
    #[serde(rename = "status_changed@1")]
    StatusChanged,
    /// A user event: the people the user waits for changed; they are in `waits`.
    #[serde(rename = "waiting_changed@1")]
    WaitingChanged,
    /// A user event: `user_id`, whom the user waited for, came online.
    #[serde(rename = "user_arrived@1")]
    UserArrived { user_id: UserId },
    /// A chat event: a group changed (its title, visibility, members or roles); message
    /// `message_id` is the system line telling of it.
    #[serde(rename = "group_changed@1")]
    GroupChanged { message_id: MessageId },
    /// A chat event: the sender edited the message (sent at `sent_seq`); it is in `messages` as
    /// it is now.
    #[serde(rename = "message_edited@1")]
    MessageEdited {
        message_id: MessageId,
        sent_seq: Seq,
    },
    /// A chat event: the message (sent at `sent_seq`) was deleted.
    #[serde(rename = "message_deleted@1")]
    MessageDeleted {
        message_id: MessageId,
        sent_seq: Seq,
    },
    /// A chat event: `user_id` read the chat up to message `read`.
    #[serde(rename = "chat_read@1")]
    ChatRead { user_id: UserId, read: MessageId },
    /// A user event: the user muted or unmuted the chat.
    #[serde(rename = "chat_muted@1")]
    ChatMuted { chat_id: ChatId, muted: bool },
    /// A chat event: the owner deleted the group; every membership ended with it.
    #[serde(rename = "group_deleted@1")]
    GroupDeleted,
}

impl Fact {
    /// For a chat event about an earlier message, that message's seq: only members who saw it hear
    /// of the change.
    pub fn about_seq(&self) -> Option<Seq> {
        match self {
            Fact::MessageEdited { sent_seq, .. } | Fact::MessageDeleted { sent_seq, .. } => {
                Some(*sent_seq)
            }
            _ => None,
        }
    }
}

impl Logged {
    /// The chat whose members this event changes: members known from before it are stale.
    pub fn membership_of(&self) -> Option<ChatId> {
        match (&self.fact, self.stream) {
            (Fact::ChatJoined { chat_id }, _) => Some(*chat_id),
            (Fact::GroupChanged { .. } | Fact::GroupDeleted, Stream::Chat(chat)) => Some(chat),
            _ => None,
        }
    }
}

/// The stream an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Chat(ChatId),
    User(UserId),
}

/// An event with its place in the log and the frame it is sent as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logged {
    pub pos: Pos,
    pub stream: Stream,
    pub seq: Seq,
    pub fact: Fact,
    pub event: ServerEvent,
}

/// The log's newest position and how far it has been pruned.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct Head {
    pub pos: Pos,
    pub pruned_through: Pos,
}

/// The answer to a `sync`: events in log order, and the position they bring the client to.
pub struct SyncPage {
    pub events: Vec<ServerEvent>,
    pub pos: Pos,
    pub has_more: bool,
}

/// A membership period: the member sees the chat's events with `joined_seq < seq <= left_seq`.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct MemberPeriod {
    pub user_id: i64,
    pub joined_seq: Seq,
    pub left_seq: Option<Seq>,
}

impl MemberPeriod {
    pub fn sees(&self, seq: Seq) -> bool {
        self.joined_seq < seq && self.left_seq.is_none_or(|left| seq <= left)
    }

    /// Whether the member sees the event at `seq`, which concerns the message sent at `about`:
    /// they must have seen that message too. Founders (`joined_seq` 0) saw everything, the messages
    /// from before the log (seq 0) included.
    pub fn sees_about(&self, seq: Seq, about: Option<Seq>) -> bool {
        self.sees(seq) && about.is_none_or(|sent| self.joined_seq == 0 || sent > self.joined_seq)
    }
}

type BuildEvent = Box<dyn FnOnce(Pos) -> ServerEvent + Send>;

/// The events one write transaction appends. Write them last, just before the commit.
#[derive(Default)]
pub struct Append {
    entries: Vec<(Stream, Seq, Fact, BuildEvent)>,
}

impl Append {
    /// Adds an event whose stream `seq` was taken in this transaction (`next_chat_seq`,
    /// `next_user_seq`); `event` builds its frame once its position is known.
    pub fn push(
        &mut self,
        stream: Stream,
        seq: Seq,
        fact: Fact,
        event: impl FnOnce(Pos) -> ServerEvent + Send + 'static,
    ) {
        self.entries.push((stream, seq, fact, Box::new(event)));
    }

    /// These events, then `later`'s.
    pub fn then(mut self, later: Append) -> Append {
        self.entries.extend(later.entries);
        self
    }

    /// Takes the next positions and writes the events. The head's row stays locked until the
    /// transaction ends, so the next writer's positions follow this one's commit.
    pub async fn write(self, tx: &mut Transaction<'_, Any>, now: i64) -> Result<Vec<Logged>> {
        if self.entries.is_empty() {
            return Ok(Vec::new());
        }
        let count = self.entries.len() as i64;
        let last = sqlx::query_scalar::<_, i64>(
            "UPDATE log_head SET pos = pos + $1 WHERE id = 1 RETURNING pos",
        )
        .bind(count)
        .fetch_one(&mut **tx)
        .await?;
        let mut logged = Vec::with_capacity(self.entries.len());
        for (pos, (stream, seq, fact, event)) in (last - count + 1..).zip(self.entries) {
            let (chat_id, user_id) = match stream {
                Stream::Chat(chat) => (Some(chat.0), None),
                Stream::User(user) => (None, Some(user.0)),
            };
            let stored =
                serde_json::to_string(&fact).map_err(|e| Error::Internal(e.to_string()))?;
            sqlx::query(
                "INSERT INTO events (pos, chat_id, user_id, seq, fact, created_at, about_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(pos)
            .bind(chat_id)
            .bind(user_id)
            .bind(seq)
            .bind(stored)
            .bind(now)
            .bind(fact.about_seq())
            .execute(&mut **tx)
            .await?;
            logged.push(Logged {
                pos,
                stream,
                seq,
                fact,
                event: event(pos),
            });
        }
        Ok(logged)
    }
}

/// Takes the next seq of `chat`'s stream, and with it the chat's row lock until the transaction
/// ends: a chat's writers queue there, so its seqs (and message ids) follow commit order. `None` when
/// there is no such chat.
pub async fn next_chat_seq(tx: &mut Transaction<'_, Any>, chat: ChatId) -> Result<Option<Seq>> {
    Ok(sqlx::query_scalar::<_, i64>(
        "UPDATE chats SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
    )
    .bind(chat.0)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Takes the next seq of `user`'s own stream (locking their row until the transaction ends).
pub async fn next_user_seq(tx: &mut Transaction<'_, Any>, user: UserId) -> Result<Seq> {
    Ok(sqlx::query_scalar::<_, i64>(
        "UPDATE users SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
    )
    .bind(user.0)
    .fetch_one(&mut **tx)
    .await?)
}

/// Creates the log's head on first start, and returns the log's epoch.
pub(super) async fn open_log(pool: &AnyPool) -> Result<String> {
    let mut fresh = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
    sqlx::query(
        "INSERT INTO log_head (id, pos, pruned_through, epoch) VALUES (1, 0, 0, $1)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(hex::encode(fresh))
    .execute(pool)
    .await?;
    Ok(
        sqlx::query_scalar::<_, String>("SELECT epoch FROM log_head WHERE id = 1")
            .fetch_one(pool)
            .await?,
    )
}

#[derive(sqlx::FromRow)]
struct EventRow {
    pos: i64,
    chat_id: Option<i64>,
    user_id: Option<i64>,
    seq: i64,
    fact: String,
}

const EVENT_COLUMNS: &str = "e.pos, e.chat_id, e.user_id, e.seq, e.fact";

impl Db {
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub async fn log_head(&self) -> Result<Head> {
        Ok(
            sqlx::query_as::<_, Head>("SELECT pos, pruned_through FROM log_head WHERE id = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// Up to `limit` of `user`'s events after `after`, oldest first: their own, and those of the chats
    /// they were a member of when each happened. A position this log cannot answer from (another
    /// epoch, negative, ahead of the log, or pruned) fails closed with `resync_required`.
    pub async fn sync(
        &self,
        user: UserId,
        epoch: &str,
        after: Pos,
        limit: u32,
    ) -> Result<SyncPage> {
        let head = self.log_head().await?;
        let answerable = |pruned_through: Pos| {
            epoch == self.epoch() && pruned_through <= after && after <= head.pos
        };
        if !answerable(head.pruned_through) {
            return Err(Error::ResyncRequired);
        }
        let mut rows = sqlx::query_as::<_, EventRow>(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e
             WHERE e.user_id = $1 AND e.pos > $2 AND e.pos <= $3
             UNION ALL
             SELECT {EVENT_COLUMNS} FROM chat_members m JOIN events e ON e.chat_id = m.chat_id
             WHERE m.user_id = $1 AND e.pos > $2 AND e.pos <= $3
               AND e.seq > m.joined_seq AND (m.left_seq IS NULL OR e.seq <= m.left_seq)
               AND (e.about_seq IS NULL OR m.joined_seq = 0 OR e.about_seq > m.joined_seq)
             ORDER BY pos LIMIT $4"
        ))
        .bind(user.0)
        .bind(after)
        .bind(head.pos)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        // Pruning that ran meanwhile may have taken events this read should have had.
        if !answerable(self.log_head().await?.pruned_through) {
            return Err(Error::ResyncRequired);
        }
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        // Without more to come, the client has everything up to the head, its own events or not.
        let pos = match rows.last() {
            Some(last) if has_more => last.pos,
            _ => head.pos,
        };
        let events = self
            .build(rows)
            .await?
            .into_iter()
            .map(|l| l.event)
            .collect();
        Ok(SyncPage {
            events,
            pos,
            has_more,
        })
    }

    /// Up to `limit` events of the whole log after `after`, oldest first: how a node catches up on
    /// what it has not delivered yet.
    pub async fn log_after(&self, after: Pos, limit: u32) -> Result<Vec<Logged>> {
        let rows = sqlx::query_as::<_, EventRow>(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.pos > $1 ORDER BY e.pos LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        self.build(rows).await
    }

    /// Who has seen, sees or will see `chat`'s events, and over which seqs.
    pub async fn member_periods(&self, chat: ChatId) -> Result<Vec<MemberPeriod>> {
        Ok(sqlx::query_as::<_, MemberPeriod>(
            "SELECT user_id, joined_seq, left_seq FROM chat_members WHERE chat_id = $1",
        )
        .bind(chat.0)
        .fetch_all(&self.read)
        .await?)
    }

    /// Deletes the oldest events, those written before `cutoff`, in batches; returns how many. A
    /// prefix of the log goes, up to the first event young enough to keep, so a client's position is
    /// either answerable in full or refused.
    pub async fn prune_log(&self, cutoff: i64) -> Result<u64> {
        const BATCH: i64 = 1000;
        let mut pruned = 0;
        loop {
            let head = self.log_head().await?;
            let oldest = sqlx::query_as::<_, (i64, i64)>(
                "SELECT pos, created_at FROM events WHERE pos > $1 ORDER BY pos LIMIT $2",
            )
            .bind(head.pruned_through)
            .bind(BATCH)
            .fetch_all(&self.read)
            .await?;
            let Some(through) = oldest
                .iter()
                .take_while(|(_, created_at)| *created_at < cutoff)
                .map(|(pos, _)| *pos)
                .last()
            else {
                return Ok(pruned);
            };
            let mut tx = self.write.begin().await?;
            let deleted = sqlx::query("DELETE FROM events WHERE pos <= $1")
                .bind(through)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "UPDATE log_head SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1",
            )
            .bind(through)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            pruned += deleted;
            let whole_batch = oldest.len() as i64 == BATCH;
            if !whole_batch || oldest.last().map(|(pos, _)| *pos) != Some(through) {
                return Ok(pruned);
            }
        }
    }

    /// The frames of stored events, built from their facts and the rows those name.
    async fn build(&self, rows: Vec<EventRow>) -> Result<Vec<Logged>> {
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let fact = serde_json::from_str::<Fact>(&row.fact).map_err(|e| {
                Error::Internal(format!("event {} holds an unreadable fact: {e}", row.pos))
            })?;
            let stream = match (row.chat_id, row.user_id) {
                (Some(chat), None) => Stream::Chat(ChatId(chat)),
                (None, Some(user)) => Stream::User(UserId(user)),
                _ => return Err(Error::Internal(format!("event {} has no stream", row.pos))),
            };
            events.push((row.pos, row.seq, stream, fact));
        }
        // What the facts name, read below in one query per kind.
        let mut message_ids = Vec::new();
        let mut chats_wanted: HashMap<UserId, Vec<ChatId>> = HashMap::new();
        let (mut user_ids, mut settings_of, mut status_of) = (Vec::new(), Vec::new(), Vec::new());
        let mut waiting_of = Vec::new();
        for (_, _, stream, fact) in &events {
            match fact {
                Fact::MessageSent { message_id }
                | Fact::GroupChanged { message_id }
                | Fact::MessageEdited { message_id, .. }
                | Fact::MessageDeleted { message_id, .. } => message_ids.push(*message_id),
                Fact::GroupDeleted => {}
                Fact::ChatJoined { chat_id } => {
                    if let Stream::User(reader) = stream {
                        chats_wanted.entry(*reader).or_default().push(*chat_id);
                    }
                }
                Fact::ChatRead { .. } | Fact::ChatMuted { .. } => {}
                Fact::ContactChanged { other_id, .. } => user_ids.push(*other_id),
                Fact::UserArrived { user_id } => user_ids.push(*user_id),
                Fact::SettingsChanged | Fact::StatusChanged | Fact::WaitingChanged => {
                    if let Stream::User(user) = stream {
                        let wanted = match fact {
                            Fact::SettingsChanged => &mut settings_of,
                            Fact::StatusChanged => &mut status_of,
                            _ => &mut waiting_of,
                        };
                        wanted.push(*user);
                    }
                }
            }
        }
        message_ids.sort();
        message_ids.dedup();
        let messages: HashMap<_, _> = load_messages(&self.read, &message_ids)
            .await?
            .into_iter()
            .map(|message| (message.id, message))
            .collect();
        // A chat as its new member sees it now: their own unread count and mute.
        let mut chats: HashMap<(UserId, ChatId), Chat> = HashMap::new();
        for (reader, ids) in chats_wanted {
            for chat in self.chats_by_id(reader, &ids).await? {
                chats.insert((reader, chat.id), chat);
            }
        }
        let users: HashMap<_, _> = self
            .users_by_id(&user_ids)
            .await?
            .into_iter()
            .map(|user| (user.id, user))
            .collect();
        let settings = self.settings_by_user(&settings_of).await?;
        let statuses = self.statuses_by_user(&status_of).await?;
        let waiting = self.waiting_by_user(&waiting_of).await?;
        let missing = |pos: Pos| Error::Internal(format!("event {pos} names a missing row"));
        let mut built = Vec::with_capacity(events.len());
        for (pos, seq, stream, fact) in events {
            {
                // One page may name a message more than once: sent, edited, deleted.
                let message =
                    |id: &MessageId| messages.get(id).cloned().ok_or_else(|| missing(pos));
                let event = match &fact {
                    Fact::MessageSent { message_id } | Fact::GroupChanged { message_id } => {
                        ServerEvent::MessageNew {
                            pos,
                            seq,
                            message: message(message_id)?,
                        }
                    }
                    Fact::MessageEdited { message_id, .. } => ServerEvent::MessageEdited {
                        pos,
                        seq,
                        message: message(message_id)?,
                    },
                    Fact::MessageDeleted { message_id, .. } => ServerEvent::MessageDeleted {
                        pos,
                        seq,
                        message: message(message_id)?,
                    },
                    Fact::GroupDeleted => {
                        let Stream::Chat(chat_id) = stream else {
                            return Err(missing(pos));
                        };
                        ServerEvent::ChatDeleted { pos, seq, chat_id }
                    }
                    Fact::ChatJoined { chat_id } => {
                        let Stream::User(reader) = stream else {
                            return Err(missing(pos));
                        };
                        let mut chat = chats
                            .get(&(reader, *chat_id))
                            .cloned()
                            .ok_or_else(|| missing(pos))?;
                        // Someone no longer in it sees no message from after they left.
                        if chat.role_of(reader).is_none() {
                            chat.last_message = None;
                        }
                        ServerEvent::ChatNew { pos, seq, chat }
                    }
                    Fact::ChatRead { user_id, read } => {
                        let Stream::Chat(chat_id) = stream else {
                            return Err(missing(pos));
                        };
                        ServerEvent::Receipt {
                            pos,
                            seq,
                            chat_id,
                            user_id: *user_id,
                            read: *read,
                            unread: unread_as_of(&self.read, chat_id, *user_id, *read, seq).await?,
                        }
                    }
                    Fact::ChatMuted { chat_id, muted } => ServerEvent::ChatMuted {
                        pos,
                        seq,
                        chat_id: *chat_id,
                        muted: *muted,
                    },
                    Fact::ContactChanged {
                        other_id,
                        relation,
                        since,
                    } => ServerEvent::ContactChanged {
                        pos,
                        seq,
                        contact: Contact {
                            user: users.get(other_id).cloned().ok_or_else(|| missing(pos))?,
                            relation: *relation,
                            since: *since,
                        },
                    },
                    Fact::SettingsChanged => {
                        let Stream::User(user) = stream else {
                            return Err(missing(pos));
                        };
                        ServerEvent::SettingsChanged {
                            pos,
                            seq,
                            settings: *settings.get(&user).ok_or_else(|| missing(pos))?,
                        }
                    }
                    Fact::UserArrived { user_id } => ServerEvent::UserArrived {
                        pos,
                        seq,
                        user: users.get(user_id).cloned().ok_or_else(|| missing(pos))?,
                    },
                    Fact::WaitingChanged => {
                        let Stream::User(user) = stream else {
                            return Err(missing(pos));
                        };
                        ServerEvent::WaitingChanged {
                            pos,
                            seq,
                            // Every such event of a page shows the list as it is now.
                            waiting: waiting.get(&user).cloned().ok_or_else(|| missing(pos))?,
                        }
                    }
                    Fact::StatusChanged => {
                        let Stream::User(user) = stream else {
                            return Err(missing(pos));
                        };
                        ServerEvent::StatusChanged {
                            pos,
                            seq,
                            status: statuses.get(&user).cloned().ok_or_else(|| missing(pos))?,
                        }
                    }
                };
                built.push(Logged {
                    pos,
                    stream,
                    seq,
                    fact,
                    event,
                });
            }
        }
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Facts as earlier releases stored them must stay readable: add a line here for every new
    /// version, and never change one.
    #[test]
    fn stored_facts_stay_readable() {
        let stored = [
            (
                r#"{"fact":"message_sent@1","message_id":12}"#,
                Fact::MessageSent {
                    message_id: MessageId(12),
                },
            ),
            (
                r#"{"fact":"chat_joined@1","chat_id":3}"#,
                Fact::ChatJoined { chat_id: ChatId(3) },
            ),
            (
                r#"{"fact":"contact_changed@1","other_id":4,"relation":"request_sent","since":9}"#,
                Fact::ContactChanged {
                    other_id: UserId(4),
                    relation: Relation::RequestSent,
                    since: 9,
                },
            ),
            (r#"{"fact":"settings_changed@1"}"#, Fact::SettingsChanged),
            (r#"{"fact":"status_changed@1"}"#, Fact::StatusChanged),
            (r#"{"fact":"waiting_changed@1"}"#, Fact::WaitingChanged),
            (
                r#"{"fact":"user_arrived@1","user_id":5}"#,
                Fact::UserArrived { user_id: UserId(5) },
            ),
            (
                r#"{"fact":"group_changed@1","message_id":14}"#,
                Fact::GroupChanged {
                    message_id: MessageId(14),
                },
            ),
            (r#"{"fact":"group_deleted@1"}"#, Fact::GroupDeleted),
            (
                r#"{"fact":"chat_read@1","user_id":2,"read":17}"#,
                Fact::ChatRead {
                    user_id: UserId(2),
                    read: MessageId(17),
                },
            ),
            (
                r#"{"fact":"chat_muted@1","chat_id":3,"muted":true}"#,
                Fact::ChatMuted {
                    chat_id: ChatId(3),
                    muted: true,
                },
            ),
            (
                r#"{"fact":"message_edited@1","message_id":15,"sent_seq":3}"#,
                Fact::MessageEdited {
                    message_id: MessageId(15),
                    sent_seq: 3,
                },
            ),
            (
                r#"{"fact":"message_deleted@1","message_id":16,"sent_seq":4}"#,
                Fact::MessageDeleted {
                    message_id: MessageId(16),
                    sent_seq: 4,
                },
            ),
        ];
        for (json, fact) in stored {
            assert_eq!(serde_json::from_str::<Fact>(json).unwrap(), fact);
            assert_eq!(serde_json::to_string(&fact).unwrap(), json);
        }
    }

    #[test]
    fn a_member_sees_a_chat_from_joining_to_leaving() {
        let period = MemberPeriod {
            user_id: 1,
            joined_seq: 3,
            left_seq: Some(7),
        };
        assert!(!period.sees(3));
        assert!(period.sees(4) && period.sees(7));
        assert!(!period.sees(8));
        let current = MemberPeriod {
            left_seq: None,
            ..period
        };
        assert!(current.sees(1000));
        assert!(
            !period.sees_about(5, Some(2)),
            "an edit of what they never saw"
        );
        assert!(period.sees_about(5, Some(4)));
        let founder = MemberPeriod {
            joined_seq: 0,
            ..period
        };
        assert!(
            founder.sees_about(5, Some(0)),
            "founders saw the messages from before the log"
        );
    }
}
