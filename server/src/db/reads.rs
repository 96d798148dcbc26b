//! Read positions, unread counts and mute.
//!
//! A member's read position is the newest message they have read; what they have not read is
//! counted from it on every ask, never kept as a number that could drift. A read is a chat event
//! (`receipt`), so the other members see it, and it carries what the reader has left unread as of
//! that event, so the reader's other devices take that number and count on from it.

use super::chats::seen_by_reader;
use super::log::{next_chat_seq, next_user_seq, Append, Fact, Logged, Stream};
use super::{refuse, Db};
use crate::error::{Error, Result};
use app::model::{ChatId, ChatPosition, MessageId, Seq, UserId};
use app::protocol::{Refusal, ServerEvent};
use sqlx::{Any, Transaction};

/// What `reader` had left unread in `chat` as of the chat event at `as_of`, having read up to
/// `read`: the messages others sent after it and before that event, not deleted by then. System
/// lines do not count. The same answer however late it is asked, so a replayed receipt says what
/// the live one said.
pub(super) async fn unread_as_of<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    chat: ChatId,
    reader: UserId,
    read: MessageId,
    as_of: Seq,
) -> Result<u32> {
    let count = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM messages
         WHERE chat_id = $1 AND id > $2 AND sender_id <> $3 AND system IS NULL AND seq < $4
           AND (deleted_seq IS NULL OR deleted_seq > $4)",
    )
    .bind(chat.0)
    .bind(read.0)
    .bind(reader.0)
    .bind(as_of)
    .fetch_one(executor)
    .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The totals of `unread:count`.
pub struct UnreadTotals {
    pub chats: u32,
    pub messages: u32,
}

impl Db {
    /// Marks `chat` read by `reader` up to `message`, one of its messages they saw; a position at or
    /// before theirs changes nothing. Returns their read position and what they have left unread.
    pub async fn mark_read(
        &self,
        reader: UserId,
        chat: ChatId,
        message: MessageId,
        now: i64,
    ) -> Result<(MessageId, u32, Vec<Logged>)> {
        let mut tx = self.write.begin().await?;
        let locked = sqlx::query_scalar::<_, i64>(
            "UPDATE chats SET last_seq = last_seq WHERE id = $1 AND deleted_at IS NULL
             RETURNING last_seq",
        )
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        let held = sqlx::query_scalar::<_, i64>(
            "SELECT read_through FROM chat_members
             WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
        )
        .bind(chat.0)
        .bind(reader.0)
        .fetch_optional(&mut *tx)
        .await?;
        let (Some(last_seq), Some(held)) = (locked, held) else {
            return refuse(tx, Refusal::NotMember { chat_id: chat }).await;
        };
        let seen = sqlx::query_scalar::<_, i64>(&format!(
            "SELECT count(*) FROM messages msg WHERE msg.id = $1 AND msg.chat_id = $3 AND {}",
            seen_by_reader("$2")
        ))
        .bind(message.0)
        .bind(reader.0)
        .bind(chat.0)
        .fetch_one(&mut *tx)
        .await?;
        if seen == 0 {
            let refusal = Refusal::MessageNotFound {
                message_id: message,
            };
            return refuse(tx, refusal).await;
        }
        if message.0 <= held {
            // Nothing moves: what is unread now is counted as of the chat's newest event.
            let read = MessageId(held);
            let unread = unread_as_of(&mut *tx, chat, reader, read, last_seq + 1).await?;
            tx.rollback().await?;
            return Ok((read, unread, Vec::new()));
        }
        sqlx::query(
            "UPDATE chat_members SET read_through = $3, read_marked = 1
             WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
        )
        .bind(chat.0)
        .bind(reader.0)
        .bind(message.0)
        .execute(&mut *tx)
        .await?;
        let seq = next_chat_seq(&mut tx, chat)
            .await?
            .ok_or_else(|| Error::Internal(format!("chat {chat} vanished")))?;
        let unread = unread_as_of(&mut *tx, chat, reader, message, seq).await?;
        let mut append = Append::default();
        append.push(
            Stream::Chat(chat),
            seq,
            Fact::ChatRead {
                user_id: reader,
                read: message,
            },
            move |pos| ServerEvent::Receipt {
                pos,
                seq,
                chat_id: chat,
                user_id: reader,
                read: message,
                unread,
            },
        );
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((message, unread, logged))
    }

    /// Mutes or unmutes `chat` for `user`, on all their devices.
    pub async fn set_muted(
        &self,
        user: UserId,
        chat: ChatId,
        muted: bool,
        now: i64,
    ) -> Result<Vec<Logged>> {
        let mut tx = self.write.begin().await?;
        let held = sqlx::query_scalar::<_, i64>(
            "SELECT m.muted FROM chat_members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = $1 AND m.user_id = $2 AND m.left_seq IS NULL
               AND c.deleted_at IS NULL",
        )
        .bind(chat.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(held) = held else {
            return refuse(tx, Refusal::NotMember { chat_id: chat }).await;
        };
        if (held != 0) == muted {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let logged = mute_in(&mut tx, user, chat, muted, now).await?;
        tx.commit().await?;
        Ok(logged)
    }

    /// How many of `user`'s chats (muted ones left out) have unread messages, and how many; only
    /// of the chats after `before` in their chat list, when given.
    pub async fn unread_totals(
        &self,
        user: UserId,
        before: Option<ChatPosition>,
    ) -> Result<UnreadTotals> {
        let before = before.unwrap_or(ChatPosition {
            active_at: i64::MAX,
            chat_id: ChatId(i64::MAX),
        });
        let (chats, messages) = sqlx::query_as::<_, (i64, i64)>(
            "SELECT count(*), CAST(coalesce(sum(n), 0) AS BIGINT) FROM (
               SELECT (SELECT count(*) FROM messages msg
                       WHERE msg.chat_id = m.chat_id AND msg.id > m.read_through
                         AND msg.sender_id <> m.user_id AND msg.system IS NULL
                         AND msg.deleted_at IS NULL) AS n
               FROM chat_members m JOIN chats c ON c.id = m.chat_id
               WHERE m.user_id = $1 AND m.left_seq IS NULL AND m.muted = 0
                 AND c.deleted_at IS NULL
                 AND (c.active_at < $2 OR (c.active_at = $2 AND c.id < $3))
             ) counted WHERE n > 0",
        )
        .bind(user.0)
        .bind(before.active_at)
        .bind(before.chat_id.0)
        .fetch_one(&self.read)
        .await?;
        let clamp = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(UnreadTotals {
            chats: clamp(chats),
            messages: clamp(messages),
        })
    }
}

async fn mute_in(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    chat: ChatId,
    muted: bool,
    now: i64,
) -> Result<Vec<Logged>> {
    sqlx::query(
        "UPDATE chat_members SET muted = $3
         WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
    )
    .bind(chat.0)
    .bind(user.0)
    .bind(i64::from(muted))
    .execute(&mut **tx)
    .await?;
    let seq = next_user_seq(tx, user).await?;
    let mut append = Append::default();
    append.push(
        Stream::User(user),
        seq,
        Fact::ChatMuted {
            chat_id: chat,
            muted,
        },
        move |pos| ServerEvent::ChatMuted {
            pos,
            seq,
            chat_id: chat,
            muted,
        },
    );
    append.write(tx, now).await
}
