//! Edits and deletions of messages, and the texts a message had.
//!
//! Like every chat change, each takes the chat's row lock before it checks anything, so events
//! about one message follow the chat's order: an edit and a deletion that race are told in the
//! order they were stored, and an edit after a deletion is refused.

use super::chats::{messages, seen_by_reader, MessageRow, MESSAGE_COLUMNS};
use super::log::{next_chat_seq, Append, Fact, Logged, Stream};
use super::Db;
use crate::error::{Error, Result};
use app::model::{
    ChatId, ChatKind, Message, MessageBody, MessageId, MessageVersion, Role, Seq, UserId,
};
use app::protocol::{Refusal, ServerEvent};
use sqlx::{Any, Transaction};

/// A message as a change to it reads it, under its chat's row lock.
struct Target {
    message: Message,
    /// The seq of the event that sent it.
    sent_seq: Seq,
    /// The kind of the message's chat.
    kind: ChatKind,
    /// The actor's role in the chat.
    role: Role,
}

/// Takes the row lock of `message`'s chat and reads the message, for a change by `actor`, who must
/// be a member of that chat now and have seen it. Anyone else learns nothing: `message_not_found`.
async fn lock_message(
    tx: &mut Transaction<'_, Any>,
    message: MessageId,
    actor: UserId,
) -> Result<Target> {
    let not_found = Refusal::MessageNotFound {
        message_id: message,
    };
    let chat = sqlx::query_scalar::<_, i64>("SELECT chat_id FROM messages WHERE id = $1")
        .bind(message.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(not_found)?;
    let kind = sqlx::query_scalar::<_, String>(
        "UPDATE chats SET last_seq = last_seq WHERE id = $1 AND deleted_at IS NULL RETURNING kind",
    )
    .bind(chat)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(not_found)?;
    let role = sqlx::query_scalar::<_, String>(
        "SELECT role FROM chat_members WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
    )
    .bind(chat)
    .bind(actor.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(not_found)?;
    let row = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages msg WHERE msg.id = $1 AND {}",
        seen_by_reader("$2")
    ))
    .bind(message.0)
    .bind(actor.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(not_found)?;
    let sent_seq = row.seq;
    Ok(Target {
        message: messages(vec![row])?.remove(0),
        sent_seq,
        kind: ChatKind::from_stored(&kind)
            .ok_or_else(|| Error::Internal(format!("chat {chat} has an unknown kind")))?,
        role: Role::from_stored(&role)
            .ok_or_else(|| Error::Internal(format!("unknown role {role:?} stored")))?,
    })
}

/// The seq of the change about to be logged in `chat`.
async fn change_seq(tx: &mut Transaction<'_, Any>, chat: ChatId) -> Result<Seq> {
    next_chat_seq(tx, chat)
        .await?
        .ok_or_else(|| Error::Internal(format!("chat {chat} vanished")))
}

async fn reread(tx: &mut Transaction<'_, Any>, message: MessageId) -> Result<Message> {
    let row = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
    ))
    .bind(message.0)
    .fetch_one(&mut **tx)
    .await?;
    Ok(messages(vec![row])?.remove(0))
}

impl Db {
    /// Gives the message `editor` sent a new text, keeping the one it had.
    pub async fn edit_message(
        &self,
        editor: UserId,
        message: MessageId,
        body: &MessageBody,
        now: i64,
    ) -> Result<(Message, Vec<Logged>)> {
        let mut tx = self.write.begin().await?;
        let target = match lock_message(&mut tx, message, editor).await {
            Ok(target) => target,
            Err(error) => return super::refuse(tx, error).await,
        };
        let stored = target.message;
        let refused = if stored.system.is_some() {
            Some(Refusal::SystemLineFixed)
        } else if stored.sender_id != editor {
            Some(Refusal::NotYourMessage)
        } else if stored.deleted_at.is_some() {
            Some(Refusal::MessageDeleted)
        } else {
            None
        };
        if let Some(refused) = refused {
            return super::refuse(tx, refused).await;
        }
        if stored.body == body.as_str() {
            tx.rollback().await?;
            return Ok((stored, Vec::new()));
        }
        let earlier = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM message_versions WHERE message_id = $1",
        )
        .bind(message.0)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO message_versions (message_id, version, body, since) VALUES ($1, $2, $3, $4)",
        )
        .bind(message.0)
        .bind(earlier + 1)
        .bind(&stored.body)
        .bind(stored.edited_at.unwrap_or(stored.sent_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE messages SET body = $2, edited_at = $3 WHERE id = $1")
            .bind(message.0)
            .bind(body.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let edited = reread(&mut tx, message).await?;
        let seq = change_seq(&mut tx, edited.chat_id).await?;
        let mut append = Append::default();
        let shown = edited.clone();
        append.push(
            Stream::Chat(edited.chat_id),
            seq,
            Fact::MessageEdited {
                message_id: message,
                sent_seq: target.sent_seq,
            },
            move |pos| ServerEvent::MessageEdited {
                pos,
                seq,
                message: shown,
            },
        );
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((edited, logged))
    }

    /// Deletes a message for everyone: `actor`'s own, or anyone's in a group they manage. Its
    /// text and earlier versions are erased; deleting it again changes nothing.
    pub async fn delete_message(
        &self,
        actor: UserId,
        message: MessageId,
        now: i64,
    ) -> Result<(Message, Vec<Logged>)> {
        let mut tx = self.write.begin().await?;
        let target = match lock_message(&mut tx, message, actor).await {
            Ok(target) => target,
            Err(error) => return super::refuse(tx, error).await,
        };
        let stored = target.message;
        let moderates = target.kind == ChatKind::Group && target.role.manages();
        let refused = if stored.system.is_some() {
            Some(Refusal::SystemLineFixed)
        } else if stored.sender_id != actor && !moderates {
            Some(Refusal::NotYourMessage)
        } else {
            None
        };
        if let Some(refused) = refused {
            return super::refuse(tx, refused).await;
        }
        if stored.deleted_at.is_some() {
            tx.rollback().await?;
            return Ok((stored, Vec::new()));
        }
        sqlx::query("DELETE FROM message_versions WHERE message_id = $1")
            .bind(message.0)
            .execute(&mut *tx)
            .await?;
        let chat = stored.chat_id;
        let seq = change_seq(&mut tx, chat).await?;
        sqlx::query(
            "UPDATE messages SET body = '', deleted_at = $2, deleted_seq = $3 WHERE id = $1",
        )
        .bind(message.0)
        .bind(now)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        let deleted = reread(&mut tx, message).await?;
        let mut append = Append::default();
        let shown = deleted.clone();
        append.push(
            Stream::Chat(chat),
            seq,
            Fact::MessageDeleted {
                message_id: message,
                sent_seq: target.sent_seq,
            },
            move |pos| ServerEvent::MessageDeleted {
                pos,
                seq,
                message: shown,
            },
        );
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((deleted, logged))
    }

    /// The texts of a message `reader` saw, oldest first, the current one last; none once it was
    /// deleted.
    pub async fn message_versions(
        &self,
        reader: UserId,
        message: MessageId,
    ) -> Result<Vec<MessageVersion>> {
        let row = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages msg
             WHERE msg.id = $1 AND {}
               AND msg.chat_id IN (SELECT id FROM chats WHERE deleted_at IS NULL)",
            seen_by_reader("$2")
        ))
        .bind(message.0)
        .bind(reader.0)
        .fetch_optional(&self.read)
        .await?
        .ok_or(Refusal::MessageNotFound {
            message_id: message,
        })?;
        let current = messages(vec![row])?.remove(0);
        if current.deleted_at.is_some() {
            return Ok(Vec::new());
        }
        let mut versions = sqlx::query_as::<_, (String, i64)>(
            "SELECT body, since FROM message_versions WHERE message_id = $1 ORDER BY version",
        )
        .bind(message.0)
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(|(body, since)| MessageVersion { body, since })
        .collect::<Vec<_>>();
        versions.push(MessageVersion {
            body: current.body,
            since: current.edited_at.unwrap_or(current.sent_at),
        });
        Ok(versions)
    }
}
