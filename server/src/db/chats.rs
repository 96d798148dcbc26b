//! Chats, messages and each user's event stream.
//!
//! Every change that others must hear about appends an event to each affected user's stream in the
//! same transaction as the change, and returns those events for the live fan-out. The database is the
//! truth; the fan-out is only a wake-up.

use super::Db;
use crate::error::{Error, Result};
use app::model::{
    limits, Chat, ChatId, ChatKind, ChatPosition, Message, MessageId, MessagePreview, Seq, User,
    UserId,
};
use app::protocol::ServerEvent;
use sqlx::{Sqlite, Transaction};
use std::collections::HashMap;

/// Events to push after a commit: each to one user's live connections.
pub type Fanout = Vec<(UserId, ServerEvent)>;

/// A page of a user's stream.
pub struct StreamPage {
    pub events: Vec<ServerEvent>,
    pub seq: Seq,
    pub has_more: bool,
}

type MessageRow = (i64, i64, i64, String, String, i64);
type ChatRow = (i64, i64, i64);
const CHAT_COLUMNS: &str = "c.id, c.created_at, c.active_at";
const MESSAGE_COLUMNS: &str = "id, chat_id, sender_id, nonce, body, sent_at";

fn message((id, chat_id, sender_id, nonce, body, sent_at): MessageRow) -> Message {
    Message {
        id: MessageId(id),
        chat_id: ChatId(chat_id),
        sender_id: UserId(sender_id),
        nonce,
        body,
        sent_at,
    }
}

/// Appends `make(seq)` to `user`'s stream at its next position.
async fn append_event(
    tx: &mut Transaction<'_, Sqlite>,
    user: UserId,
    now: i64,
    make: impl FnOnce(Seq) -> ServerEvent,
) -> Result<ServerEvent> {
    let seq = sqlx::query_scalar::<_, i64>(
        "UPDATE users SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
    )
    .bind(user.0)
    .fetch_one(&mut **tx)
    .await?;
    let event = make(seq);
    let json = serde_json::to_string(&event).map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query("INSERT INTO stream_events (user_id, seq, event, created_at) VALUES (?, ?, ?, ?)")
        .bind(user.0)
        .bind(seq)
        .bind(json)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(event)
}

/// The answer to a send whose nonce the sender used before: the stored message if this is a retry of
/// it, `conflict` if the nonce is being reused for another message (one nonce, one message).
fn retried(original: Message, chat: ChatId, body: &str) -> Result<(Message, Fanout)> {
    if original.chat_id != chat || original.body != body {
        return Err(Error::Conflict(
            "That nonce was already used for another message: choose a new one.".into(),
        ));
    }
    Ok((original, Vec::new()))
}

impl Db {
    async fn is_member(&self, chat: ChatId, user: UserId) -> Result<bool> {
        let found = sqlx::query_scalar::<_, i64>(
            "SELECT 1 FROM chat_members WHERE chat_id = ? AND user_id = ?",
        )
        .bind(chat.0)
        .bind(user.0)
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }

    /// Fails with `forbidden` unless `user` belongs to `chat`; a chat that does not exist answers the
    /// same, so non-members learn nothing about which chats exist.
    pub async fn require_member(&self, chat: ChatId, user: UserId) -> Result<()> {
        if self.is_member(chat, user).await? {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "You are not a member of that chat.".into(),
            ))
        }
    }

    /// The direct chat between `me` and `other`, created (with a `chat:new` for both) on first use.
    pub async fn open_direct(&self, me: &User, other: UserId, now: i64) -> Result<(Chat, Fanout)> {
        if other == me.id {
            return Err(Error::Invalid("A direct chat needs someone else.".into()));
        }
        let Some(other) = self.user(other).await? else {
            return Err(Error::NotFound("No such user.".into()));
        };
        let (low, high) = if me.id < other.id {
            (me.id, other.id)
        } else {
            (other.id, me.id)
        };
        let key = format!("{low}:{high}");
        let mut tx = self.write.begin().await?;
        let created = sqlx::query_scalar::<_, i64>(
            "INSERT INTO chats (kind, direct_key, created_at, active_at) VALUES ('direct', ?, ?, ?)
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
        )
        .bind(&key)
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = created else {
            tx.rollback().await?;
            let id = sqlx::query_scalar::<_, i64>("SELECT id FROM chats WHERE direct_key = ?")
                .bind(&key)
                .fetch_one(&self.read)
                .await?;
            let chat = self.chat(ChatId(id)).await?;
            return Ok((chat, Vec::new()));
        };
        let chat = Chat {
            id: ChatId(id),
            kind: ChatKind::Direct,
            members: vec![me.clone(), other],
            created_at: now,
            active_at: now,
            last_message: None,
        };
        let mut fanout = Vec::new();
        for member in &chat.members {
            sqlx::query("INSERT INTO chat_members (chat_id, user_id, joined_at) VALUES (?, ?, ?)")
                .bind(id)
                .bind(member.id.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let event = append_event(&mut tx, member.id, now, |seq| ServerEvent::ChatNew {
                seq,
                chat: chat.clone(),
            })
            .await?;
            fanout.push((member.id, event));
        }
        tx.commit().await?;
        Ok((chat, fanout))
    }

    async fn chat(&self, id: ChatId) -> Result<Chat> {
        let row = sqlx::query_as::<_, ChatRow>(&format!(
            "SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| Error::NotFound("No such chat.".into()))?;
        Ok(self.load_chats(vec![row]).await?.remove(0))
    }

    /// Up to `limit` of `user`'s chats, most recently active first, after `before` when given, and
    /// whether more follow.
    pub async fn chats_page(
        &self,
        user: UserId,
        before: Option<ChatPosition>,
        limit: u32,
    ) -> Result<(Vec<Chat>, bool)> {
        let before = before.unwrap_or(ChatPosition {
            active_at: i64::MAX,
            chat_id: ChatId(i64::MAX),
        });
        let mut rows = sqlx::query_as::<_, ChatRow>(&format!(
            "SELECT {CHAT_COLUMNS} FROM chats c JOIN chat_members m ON m.chat_id = c.id
             WHERE m.user_id = ? AND (c.active_at < ? OR (c.active_at = ? AND c.id < ?))
             ORDER BY c.active_at DESC, c.id DESC LIMIT ?"
        ))
        .bind(user.0)
        .bind(before.active_at)
        .bind(before.active_at)
        .bind(before.chat_id.0)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((self.load_chats(rows).await?, has_more))
    }

    /// The chats of `rows` with their members and newest message's preview, in two more queries.
    async fn load_chats(&self, rows: Vec<ChatRow>) -> Result<Vec<Chat>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids = vec!["?"; rows.len()].join(", ");
        let members_sql = format!(
            "SELECT m.chat_id, u.id, u.username FROM chat_members m JOIN users u ON u.id = m.user_id
             WHERE m.chat_id IN ({ids}) ORDER BY m.joined_at, u.id"
        );
        // One character more than a preview shows, so it can tell whether the body goes on.
        let previews_sql = format!(
            "SELECT m.chat_id, m.id, m.sender_id, m.sent_at, substr(m.body, 1, {}) FROM chats c
             JOIN messages m ON m.id = c.last_message_id WHERE c.id IN ({ids})",
            limits::PREVIEW_MAX_CHARS + 1
        );
        let mut members = sqlx::query_as::<_, (i64, i64, String)>(&members_sql);
        let mut previews = sqlx::query_as::<_, (i64, i64, i64, i64, String)>(&previews_sql);
        for row in &rows {
            members = members.bind(row.0);
            previews = previews.bind(row.0);
        }
        let mut members_of: HashMap<i64, Vec<User>> = HashMap::new();
        for (chat_id, id, username) in members.fetch_all(&self.read).await? {
            members_of.entry(chat_id).or_default().push(User {
                id: UserId(id),
                username,
            });
        }
        let mut preview_of: HashMap<i64, MessagePreview> = previews
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(|(chat_id, id, sender_id, sent_at, start)| {
                let preview =
                    MessagePreview::from_start(MessageId(id), UserId(sender_id), sent_at, &start);
                (chat_id, preview)
            })
            .collect();
        Ok(rows
            .into_iter()
            .map(|(id, created_at, active_at)| Chat {
                id: ChatId(id),
                kind: ChatKind::Direct,
                members: members_of.remove(&id).unwrap_or_default(),
                created_at,
                active_at,
                last_message: preview_of.remove(&id),
            })
            .collect())
    }

    /// Stores a message from a member and appends `message:new` to every member's stream. A nonce the
    /// sender used before returns the stored message and changes nothing.
    pub async fn send_message(
        &self,
        sender: UserId,
        chat: ChatId,
        nonce: &str,
        body: &str,
        now: i64,
    ) -> Result<(Message, Fanout)> {
        if let Some(original) = self.message_by_nonce(sender, nonce).await? {
            return retried(original, chat, body);
        }
        self.require_member(chat, sender).await?;
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query_as::<_, MessageRow>(&format!(
            "INSERT INTO messages (chat_id, sender_id, nonce, body, sent_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (sender_id, nonce) DO NOTHING RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(chat.0)
        .bind(sender.0)
        .bind(nonce)
        .bind(body)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            // A concurrent retry won the race: answer with its message.
            tx.rollback().await?;
            let original = self.message_by_nonce(sender, nonce).await?;
            return original
                .ok_or_else(|| Error::Internal("nonce conflict without a message".into()))
                .and_then(|original| retried(original, chat, body));
        };
        let stored = message(row);
        // A clock that stepped back must not move the chat down the list.
        sqlx::query(
            "UPDATE chats SET last_message_id = ?,
             active_at = CASE WHEN active_at > ? THEN active_at ELSE ? END WHERE id = ?",
        )
        .bind(stored.id.0)
        .bind(stored.sent_at)
        .bind(stored.sent_at)
        .bind(chat.0)
        .execute(&mut *tx)
        .await?;
        let members =
            sqlx::query_scalar::<_, i64>("SELECT user_id FROM chat_members WHERE chat_id = ?")
                .bind(chat.0)
                .fetch_all(&mut *tx)
                .await?;
        let mut fanout = Vec::with_capacity(members.len());
        for member in members {
            let member = UserId(member);
            let event = append_event(&mut tx, member, now, |seq| ServerEvent::MessageNew {
                seq,
                message: stored.clone(),
            })
            .await?;
            fanout.push((member, event));
        }
        tx.commit().await?;
        Ok((stored, fanout))
    }

    async fn message_by_nonce(&self, sender: UserId, nonce: &str) -> Result<Option<Message>> {
        let row = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = ? AND nonce = ?"
        ))
        .bind(sender.0)
        .bind(nonce)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(message))
    }

    /// Up to `limit` messages older than `before` (or the newest), newest first, and whether more exist.
    pub async fn history(
        &self,
        chat: ChatId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<(Vec<Message>, bool)> {
        let mut rows = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = ? AND id < ?
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(chat.0)
        .bind(before.map_or(i64::MAX, |id| id.0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows.into_iter().map(message).collect(), has_more))
    }

    /// The newest position of `user`'s stream.
    pub async fn last_seq(&self, user: UserId) -> Result<Seq> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT last_seq FROM users WHERE id = ?")
                .bind(user.0)
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// Up to `limit` events after `after`, oldest first. A position the stream never had (negative,
    /// in the future, or older than what is kept) fails closed with `resync_required`.
    pub async fn stream_after(&self, user: UserId, after: Seq, limit: u32) -> Result<StreamPage> {
        let (last, oldest) = sqlx::query_as::<_, (i64, Option<i64>)>(
            "SELECT u.last_seq, (SELECT min(seq) FROM stream_events WHERE user_id = u.id)
             FROM users u WHERE u.id = ?",
        )
        .bind(user.0)
        .fetch_one(&self.read)
        .await?;
        let pruned =
            oldest.is_some_and(|oldest| after < oldest - 1) || (oldest.is_none() && after < last);
        if after < 0 || after > last || pruned {
            return Err(Error::ResyncRequired(after));
        }
        let mut rows = sqlx::query_as::<_, (i64, String)>(
            "SELECT seq, event FROM stream_events WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(user.0)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let seq = rows.last().map_or(after, |(seq, _)| *seq);
        let events = rows
            .into_iter()
            .map(|(_, json)| {
                serde_json::from_str(&json).map_err(|e| Error::Internal(e.to_string()))
            })
            .collect::<Result<_>>()?;
        Ok(StreamPage {
            events,
            seq,
            has_more,
        })
    }
}
