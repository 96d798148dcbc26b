//! Chats, their members and their messages.
//!
//! Each write checks who may make it inside its own transaction, after taking the chat's row lock,
//! so a membership change cannot slip between the check and the write, and returns the events it
//! logged for the live fan-out. The database is the truth; the fan-out is only a wake-up.
//!
//! Locks are taken in one order everywhere: chat rows, then user rows (by id), then the log's head.

use super::contacts::may_message_in;
use super::log::{next_chat_seq, next_user_seq, Append, Fact, Logged, Stream};
use super::{placeholders, refuse, rows_for_ids, Db};
use crate::error::{Error, Result};
use app::model::{
    limits, Chat, ChatId, ChatKind, ChatPosition, Member, Message, MessageBody, MessageId,
    MessagePreview, Nonce, Role, Seq, User, UserId,
};
use app::protocol::{Refusal, ServerEvent};
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::collections::HashMap;

#[derive(sqlx::FromRow)]
pub(super) struct ChatRow {
    id: i64,
    kind: String,
    title: Option<String>,
    public: i64,
    created_at: i64,
    active_at: i64,
    last_seq: i64,
    unread: i64,
    muted: i64,
    read_through: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: i64,
    chat_id: i64,
    sender_id: i64,
    nonce: String,
    body: String,
    sent_at: i64,
    system: Option<String>,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    /// The seq of the event that sent it; not part of the wire message.
    pub(super) seq: i64,
}

impl TryFrom<MessageRow> for Message {
    type Error = Error;
    fn try_from(row: MessageRow) -> Result<Self> {
        let system = row
            .system
            .map(|stored| {
                serde_json::from_str(&stored).map_err(|e| {
                    Error::Internal(format!(
                        "message {} holds an unreadable change: {e}",
                        row.id
                    ))
                })
            })
            .transpose()?;
        Ok(Message {
            id: MessageId(row.id),
            chat_id: ChatId(row.chat_id),
            sender_id: UserId(row.sender_id),
            nonce: row.nonce,
            body: row.body,
            sent_at: row.sent_at,
            system,
            edited_at: row.edited_at,
            deleted_at: row.deleted_at,
        })
    }
}

/// Whether message `msg` fell in one of the membership periods of the user bound at `reader` (a
/// placeholder such as `$3`). Founding members (`joined_seq` 0) also see the messages from before
/// the event log, which have no seq.
pub(super) fn seen_by_reader(reader: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM chat_members p
           WHERE p.chat_id = msg.chat_id AND p.user_id = {reader}
             AND (p.joined_seq = 0 OR msg.seq > p.joined_seq)
             AND (p.left_seq IS NULL OR msg.seq <= p.left_seq))"
    )
}

/// Messages from their rows.
pub(super) fn messages(rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    rows.into_iter().map(Message::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    chat_id: i64,
    user_id: i64,
    username: String,
    role: String,
    read_through: i64,
    read_marked: i64,
}

#[derive(sqlx::FromRow)]
struct PreviewRow {
    chat_id: i64,
    id: i64,
    sender_id: i64,
    sent_at: i64,
    body_start: String,
    deleted_at: Option<i64>,
}

/// `SELECT` of chat rows from `chats c` as the user bound at `reader` (a placeholder such as `$1`)
/// sees them: with their unread count and mute, from the reader's current membership `r` (none
/// for a chat they are not in). The count is read in the same statement as the chat's `last_seq`,
/// so the two agree.
pub(super) fn chats_seen_by(reader: &str) -> String {
    format!(
        "SELECT c.id, c.kind, c.title, c.public, c.created_at, c.active_at, c.last_seq,
           (SELECT count(*) FROM messages msg
            WHERE msg.chat_id = c.id AND msg.id > r.read_through AND msg.sender_id <> r.user_id
              AND msg.system IS NULL AND msg.deleted_at IS NULL) AS unread,
           coalesce(r.muted, 0) AS muted, r.read_through
         FROM chats c
         LEFT JOIN chat_members r ON r.chat_id = c.id AND r.user_id = {reader} AND r.left_seq IS NULL"
    )
}
pub(super) const MESSAGE_COLUMNS: &str =
    "id, chat_id, sender_id, nonce, body, sent_at, system, edited_at, deleted_at, seq";

/// The messages with these ids, in no particular order.
pub(super) async fn load_messages(pool: &AnyPool, ids: &[MessageId]) -> Result<Vec<Message>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let select = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN");
    let rows: Vec<MessageRow> = rows_for_ids(pool, &select, &ids).await?;
    messages(rows)
}

/// The chats of `rows` with their members and newest message's preview, in two more queries on
/// `conn` (a transaction's, to see what it wrote).
pub(super) async fn load_chats(conn: &mut AnyConnection, rows: Vec<ChatRow>) -> Result<Vec<Chat>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = placeholders(rows.len());
    let members_sql = format!(
        "SELECT m.chat_id, u.id AS user_id, u.username, m.role, m.read_through,
           m.read_marked
         FROM chat_members m
         JOIN users u ON u.id = m.user_id
         WHERE m.chat_id IN ({ids}) AND m.left_seq IS NULL ORDER BY m.joined_seq, m.joined_at, u.id"
    );
    // One character more than a preview shows, so it can tell whether the body goes on.
    let previews_sql = format!(
        "SELECT m.chat_id, m.id, m.sender_id, m.sent_at, substr(m.body, 1, {}) AS body_start,
           m.deleted_at
         FROM chats c JOIN messages m ON m.id = c.last_message_id WHERE c.id IN ({ids})",
        limits::PREVIEW_MAX_CHARS + 1
    );
    let mut members = sqlx::query_as::<_, MemberRow>(&members_sql);
    let mut previews = sqlx::query_as::<_, PreviewRow>(&previews_sql);
    for row in &rows {
        members = members.bind(row.id);
        previews = previews.bind(row.id);
    }
    let mut members_of: HashMap<i64, Vec<Member>> = HashMap::new();
    for row in members.fetch_all(&mut *conn).await? {
        let role = Role::from_stored(&row.role)
            .ok_or_else(|| Error::Internal(format!("unknown role {:?} stored", row.role)))?;
        members_of.entry(row.chat_id).or_default().push(Member {
            user: User {
                id: UserId(row.user_id),
                username: row.username,
            },
            role,
            // Where a newcomer starts is not a read of theirs to show.
            read: (row.read_marked != 0).then_some(MessageId(row.read_through)),
        });
    }
    let mut preview_of: HashMap<i64, MessagePreview> = previews
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|row| {
            let preview = MessagePreview {
                deleted: row.deleted_at.is_some(),
                ..MessagePreview::from_start(
                    MessageId(row.id),
                    UserId(row.sender_id),
                    row.sent_at,
                    &row.body_start,
                )
            };
            (row.chat_id, preview)
        })
        .collect();
    rows.into_iter()
        .map(|row| {
            let kind = ChatKind::from_stored(&row.kind).ok_or_else(|| {
                Error::Internal(format!(
                    "chat {} has an unknown kind {:?}",
                    row.id, row.kind
                ))
            })?;
            Ok(Chat {
                id: ChatId(row.id),
                kind,
                title: row.title,
                public: row.public != 0,
                members: members_of.remove(&row.id).unwrap_or_default(),
                created_at: row.created_at,
                active_at: row.active_at,
                last_message: preview_of.remove(&row.id),
                seq: row.last_seq,
                unread: u32::try_from(row.unread).unwrap_or(u32::MAX),
                muted: row.muted != 0,
                read_through: row.read_through.filter(|id| *id > 0).map(MessageId),
            })
        })
        .collect()
}

/// The answer to a send whose nonce the sender used before: the stored message if this is a retry of
/// it, a refusal if the nonce is being reused for another message.
fn retried(original: Message, chat: ChatId, body: &MessageBody) -> Result<(Message, Vec<Logged>)> {
    if original.chat_id != chat || original.body != body.as_str() {
        return Err(Refusal::NonceReused.into());
    }
    Ok((original, Vec::new()))
}

/// Where a page of history starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFrom {
    /// Just older than this message, or the newest.
    Before(Option<MessageId>),
    /// Just newer than this message.
    After(MessageId),
}

/// Starts `user`'s membership period in `chat`: they see its events after `joined_seq`, and have
/// read what came before them.
pub(super) async fn insert_member(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
    user: UserId,
    role: Role,
    joined_seq: Seq,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO chat_members (chat_id, user_id, joined_at, joined_seq, role, read_through)
         VALUES ($1, $2, $3, $4, $5,
                 (SELECT coalesce(last_message_id, 0) FROM chats WHERE id = $1))",
    )
    .bind(chat.0)
    .bind(user.0)
    .bind(now)
    .bind(joined_seq)
    .bind(role.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes `message` its chat's newest: the list's preview and place. A clock that stepped back
/// does not move the chat down the list.
pub(super) async fn show_as_newest(tx: &mut Transaction<'_, Any>, message: &Message) -> Result<()> {
    sqlx::query(
        "UPDATE chats SET last_message_id = $1,
         active_at = CASE WHEN active_at > $2 THEN active_at ELSE $2 END WHERE id = $3",
    )
    .bind(message.id.0)
    .bind(message.sent_at)
    .bind(message.chat_id.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Logs a `chat:new` showing `chat` in the stream of each of `joined` (sorted by id: their row locks
/// are taken in that order), to whom nothing in it is unread yet.
pub(super) async fn tell_joined(
    tx: &mut Transaction<'_, Any>,
    append: &mut Append,
    joined: &[UserId],
    chat: &Chat,
) -> Result<()> {
    // What came before their arrival is read for them (`insert_member`).
    let shown = Chat {
        unread: 0,
        muted: false,
        read_through: chat.last_message.as_ref().map(|message| message.id),
        ..chat.clone()
    };
    for user in joined {
        let seq = next_user_seq(tx, *user).await?;
        let shown = shown.clone();
        append.push(
            Stream::User(*user),
            seq,
            Fact::ChatJoined { chat_id: chat.id },
            move |pos| ServerEvent::ChatNew {
                pos,
                seq,
                chat: shown,
            },
        );
    }
    Ok(())
}

impl Db {
    /// Fails with `not_member` unless `user` is or was a member of `chat` and it was not deleted; a
    /// chat that does not exist answers the same, so outsiders learn nothing about which chats exist.
    async fn require_reader(&self, chat: ChatId, user: UserId) -> Result<()> {
        let periods = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM chat_members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = $1 AND m.user_id = $2 AND c.deleted_at IS NULL",
        )
        .bind(chat.0)
        .bind(user.0)
        .fetch_one(&self.read)
        .await?;
        if periods == 0 {
            return Err(Refusal::NotMember { chat_id: chat }.into());
        }
        Ok(())
    }

    /// The current members of `chat` other than `user`, who must be one of them.
    pub async fn others_in(&self, chat: ChatId, user: UserId) -> Result<Vec<UserId>> {
        let members = sqlx::query_scalar::<_, i64>(
            "SELECT user_id FROM chat_members WHERE chat_id = $1 AND left_seq IS NULL",
        )
        .bind(chat.0)
        .fetch_all(&self.read)
        .await?;
        if !members.contains(&user.0) {
            return Err(Refusal::NotMember { chat_id: chat }.into());
        }
        Ok(members
            .into_iter()
            .filter(|id| *id != user.0)
            .map(UserId)
            .collect())
    }

    /// The direct chat between `me` and `other`, created (with a `chat:new` for both) on first use.
    pub async fn open_direct(
        &self,
        me: &User,
        other: UserId,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        if other == me.id {
            return Err(Refusal::DirectChatWithSelf.into());
        }
        let (low, high) = if me.id < other {
            (me.id, other)
        } else {
            (other, me.id)
        };
        let key = format!("{low}:{high}");
        // A chat that exists stays open to both, whatever they allow now: its history is theirs.
        if let Some(id) = self.direct_chat_id(&key).await? {
            return Ok((self.chat(me.id, id).await?, Vec::new()));
        }
        let other = self.may_open_direct(me.id, other).await?;
        let mut tx = self.write.begin().await?;
        let created = sqlx::query_scalar::<_, i64>(
            "INSERT INTO chats (kind, direct_key, created_at, active_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
        )
        .bind(ChatKind::Direct.as_str())
        .bind(&key)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = created else {
            tx.rollback().await?;
            let id = self
                .direct_chat_id(&key)
                .await?
                .ok_or_else(|| Error::Internal(format!("direct chat {key} vanished")))?;
            return Ok((self.chat(me.id, id).await?, Vec::new()));
        };
        let mut members = vec![me.clone(), other];
        members.sort_by_key(|member| member.id);
        self.add_founders(tx, ChatId(id), members, now).await
    }

    /// Makes `members` (sorted by id) the two members of the direct chat just inserted in `tx`, logs
    /// a `chat:new` for each, and commits.
    async fn add_founders(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        id: ChatId,
        members: Vec<User>,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        let chat = Chat {
            id,
            kind: ChatKind::Direct,
            title: None,
            public: false,
            members: members
                .into_iter()
                .map(|user| Member {
                    user,
                    role: Role::Member,
                    read: None,
                })
                .collect(),
            created_at: now,
            active_at: now,
            last_message: None,
            seq: 0,
            unread: 0,
            muted: false,
            read_through: None,
        };
        for member in &chat.members {
            insert_member(&mut tx, id, member.user.id, Role::Member, 0, now).await?;
        }
        let mut append = Append::default();
        let joined: Vec<UserId> = chat.members.iter().map(|m| m.user.id).collect();
        tell_joined(&mut tx, &mut append, &joined, &chat).await?;
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((chat, logged))
    }

    async fn direct_chat_id(&self, key: &str) -> Result<Option<ChatId>> {
        let id = sqlx::query_scalar::<_, i64>("SELECT id FROM chats WHERE direct_key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        Ok(id.map(ChatId))
    }

    /// The chat with this id, as `reader` sees it.
    pub(super) async fn chat(&self, reader: UserId, id: ChatId) -> Result<Chat> {
        self.chats_by_id(reader, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal(format!("chat {id} vanished")))
    }

    /// The chats with these ids as `reader` sees them, in no particular order.
    pub(super) async fn chats_by_id(&self, reader: UserId, ids: &[ChatId]) -> Result<Vec<Chat>> {
        let mut rows = Vec::with_capacity(ids.len());
        // In slices, within every backend's limit on bound values; the reader comes last.
        for slice in ids.chunks(500) {
            let sql = format!(
                "{} WHERE c.id IN ({})",
                chats_seen_by(&format!("${}", slice.len() + 1)),
                placeholders(slice.len())
            );
            let mut query = sqlx::query_as::<_, ChatRow>(&sql);
            for id in slice {
                query = query.bind(id.0);
            }
            rows.extend(query.bind(reader.0).fetch_all(&self.read).await?);
        }
        load_chats(&mut *self.read.acquire().await?, rows).await
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
            "{} WHERE r.user_id IS NOT NULL
               AND (c.active_at < $2 OR (c.active_at = $2 AND c.id < $3))
             ORDER BY c.active_at DESC, c.id DESC LIMIT $4",
            chats_seen_by("$1")
        ))
        .bind(user.0)
        .bind(before.active_at)
        .bind(before.chat_id.0)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((
            load_chats(&mut *self.read.acquire().await?, rows).await?,
            has_more,
        ))
    }

    /// Stores a message from a member of `chat` and logs it once for the chat. A nonce the sender used
    /// before returns the stored message and changes nothing.
    pub async fn send_message(
        &self,
        sender: UserId,
        chat: ChatId,
        nonce: &Nonce,
        body: &MessageBody,
        now: i64,
    ) -> Result<(Message, Vec<Logged>)> {
        if let Some(original) = self.message_by_nonce(sender, nonce).await? {
            return retried(original, chat, body);
        }
        let not_member = Refusal::NotMember { chat_id: chat };
        let mut tx = self.write.begin().await?;
        let Some(seq) = next_chat_seq(&mut tx, chat).await? else {
            return refuse(tx, not_member).await;
        };
        let member = sqlx::query_scalar::<_, i64>(
            "SELECT user_id FROM chat_members
             WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
        )
        .bind(chat.0)
        .bind(sender.0)
        .fetch_optional(&mut *tx)
        .await?;
        if member.is_none() {
            return refuse(tx, not_member).await;
        }
        if let Err(refused) = may_message_in(&mut tx, sender, chat).await {
            return refuse(tx, refused).await;
        }
        let inserted = sqlx::query_as::<_, MessageRow>(&format!(
            "INSERT INTO messages (chat_id, sender_id, nonce, body, sent_at, seq)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (sender_id, nonce) DO NOTHING RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(chat.0)
        .bind(sender.0)
        .bind(nonce.as_str())
        .bind(body.as_str())
        .bind(now)
        .bind(seq)
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
        let stored = Message::try_from(row)?;
        show_as_newest(&mut tx, &stored).await?;
        let mut append = Append::default();
        let message = stored.clone();
        append.push(
            Stream::Chat(chat),
            seq,
            Fact::MessageSent {
                message_id: stored.id,
            },
            move |pos| ServerEvent::MessageNew { pos, seq, message },
        );
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((stored, logged))
    }

    async fn message_by_nonce(&self, sender: UserId, nonce: &Nonce) -> Result<Option<Message>> {
        let row = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = $1 AND nonce = $2"
        ))
        .bind(sender.0)
        .bind(nonce.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(Message::try_from).transpose()
    }

    /// Up to `limit` messages of `chat` next to `from`, newest first, and whether more exist in that
    /// direction: those `reader` saw while a member, as `sync` would have shown them. A former
    /// member keeps what they saw.
    pub async fn history(
        &self,
        reader: UserId,
        chat: ChatId,
        from: HistoryFrom,
        limit: u32,
    ) -> Result<(Vec<Message>, bool)> {
        self.require_reader(chat, reader).await?;
        let (condition, order, bound) = match from {
            HistoryFrom::Before(before) => {
                ("msg.id < $2", "DESC", before.map_or(i64::MAX, |id| id.0))
            }
            HistoryFrom::After(after) => ("msg.id > $2", "ASC", after.0),
        };
        let mut rows = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages msg WHERE msg.chat_id = $1 AND {condition}
               AND {}
             ORDER BY msg.id {order} LIMIT $4",
            seen_by_reader("$3")
        ))
        .bind(chat.0)
        .bind(bound)
        .bind(reader.0)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if matches!(from, HistoryFrom::After(_)) {
            rows.reverse();
        }
        Ok((messages(rows)?, has_more))
    }
}
