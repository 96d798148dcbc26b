//! Groups: created, renamed, made public or private, joined, left, managed and deleted.
//!
//! Every change takes the chat's row lock first, reads the actor's role under it, asks the rules
//! (`app::groups`), and writes the change, the system line telling of it and their events in
//! that one transaction. A membership change opens or ends a membership period at the line's seq,
//! so a newcomer sees the line of their arrival and everything after it, and whoever leaves or is
//! removed sees the line of their going and nothing after it.

use super::chats::{
    chats_seen_by, insert_member, load_chats, messages, show_as_newest, tell_joined, ChatRow,
};
use super::contacts::may_add;
use super::log::{next_chat_seq, Append, Fact, Logged, Stream};
use super::{chats::MessageRow, Db};
use crate::error::{Error, Result};
use app::groups::{may, successor, GroupAction};
use app::model::{
    Chat, ChatId, ChatKind, GroupChange, GroupTitle, Message, Role, Room, Seq, User, UserId,
};
use app::protocol::{Refusal, ServerEvent};
use sqlx::{Any, Transaction};

/// A chat as a change reads it under the chat's row lock.
struct Locked {
    kind: ChatKind,
    title: Option<String>,
    public: bool,
    /// The actor's role there, if they are a member.
    role: Option<Role>,
}

/// The actor's role in `chat`, for what only a member of a group may do: a non-member hears
/// `not_member` before anything about the chat.
fn role_in_group(chat: ChatId, kind: ChatKind, role: Option<Role>) -> Result<Role> {
    let role = role.ok_or(Refusal::NotMember { chat_id: chat })?;
    if kind != ChatKind::Group {
        return Err(Refusal::NotAGroup { chat_id: chat }.into());
    }
    Ok(role)
}

fn stored_kind(chat: ChatId, name: &str) -> Result<ChatKind> {
    ChatKind::from_stored(name)
        .ok_or_else(|| Error::Internal(format!("chat {chat} has an unknown kind {name:?}")))
}

fn stored_role(name: &str) -> Result<Role> {
    Role::from_stored(name).ok_or_else(|| Error::Internal(format!("unknown role {name:?} stored")))
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    kind: String,
    title: Option<String>,
    public: i64,
}

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: i64,
    title: Option<String>,
    member_count: i64,
    joined: i64,
}

/// Takes `chat`'s row lock and reads it, with `actor`'s role there; `None` if there is no such
/// chat (or it was deleted).
async fn lock_chat(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
    actor: UserId,
) -> Result<Option<Locked>> {
    let row = sqlx::query_as::<_, LockedRow>(
        "UPDATE chats SET last_seq = last_seq WHERE id = $1 AND deleted_at IS NULL
         RETURNING kind, title, public",
    )
    .bind(chat.0)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Locked {
        kind: stored_kind(chat, &row.kind)?,
        title: row.title,
        public: row.public != 0,
        role: role_in(tx, chat, actor).await?,
    }))
}

/// Takes `chat`'s row lock, for a change only a member of the group may make; returns the actor's
/// role and what was read.
async fn lock_group(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
    actor: UserId,
) -> Result<(Locked, Role)> {
    let locked = lock_chat(tx, chat, actor)
        .await?
        .ok_or(Refusal::NotMember { chat_id: chat })?;
    let role = role_in_group(chat, locked.kind, locked.role)?;
    Ok((locked, role))
}

async fn role_in(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
    user: UserId,
) -> Result<Option<Role>> {
    let stored = sqlx::query_scalar::<_, String>(
        "SELECT role FROM chat_members WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
    )
    .bind(chat.0)
    .bind(user.0)
    .fetch_optional(&mut **tx)
    .await?;
    stored.as_deref().map(stored_role).transpose()
}

/// The current members and their roles, longest-standing first.
async fn current_members(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
) -> Result<Vec<(UserId, Role)>> {
    let rows = sqlx::query_as::<_, (i64, String)>(
        "SELECT user_id, role FROM chat_members WHERE chat_id = $1 AND left_seq IS NULL
         ORDER BY joined_seq, joined_at, user_id",
    )
    .bind(chat.0)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(id, role)| Ok((UserId(id), stored_role(&role)?)))
        .collect()
}

/// Ends `user`'s membership period at `seq`: they see the event at `seq` and nothing after it.
async fn end_period(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
    user: UserId,
    seq: Seq,
) -> Result<()> {
    sqlx::query(
        "UPDATE chat_members SET left_seq = $3
         WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
    )
    .bind(chat.0)
    .bind(user.0)
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn set_role(
    tx: &mut Transaction<'_, Any>,
    chat: ChatId,
    user: UserId,
    role: Role,
) -> Result<()> {
    sqlx::query(
        "UPDATE chat_members SET role = $3 WHERE chat_id = $1 AND user_id = $2 AND left_seq IS NULL",
    )
    .bind(chat.0)
    .bind(user.0)
    .bind(role.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the system line telling that `actor` made `change`, at the chat's next seq, and logs it.
async fn write_line(
    tx: &mut Transaction<'_, Any>,
    append: &mut Append,
    chat: ChatId,
    actor: &User,
    change: GroupChange,
    now: i64,
) -> Result<(Seq, Message)> {
    let seq = next_chat_seq(tx, chat)
        .await?
        .ok_or_else(|| Error::Internal(format!("chat {chat} vanished")))?;
    let stored = serde_json::to_string(&change).map_err(|e| Error::Internal(e.to_string()))?;
    let row = sqlx::query_as::<_, MessageRow>(&format!(
        "INSERT INTO messages (chat_id, sender_id, nonce, body, sent_at, seq, system)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {}",
        super::chats::MESSAGE_COLUMNS
    ))
    .bind(chat.0)
    .bind(actor.id.0)
    // A space: no client's nonce has one, so these never meet theirs.
    .bind(format!("system {chat} {seq}"))
    .bind(change.describe(&actor.username))
    .bind(now)
    .bind(seq)
    .bind(stored)
    .fetch_one(&mut **tx)
    .await?;
    let line = messages(vec![row])?.remove(0);
    show_as_newest(tx, &line).await?;
    let message = line.clone();
    append.push(
        Stream::Chat(chat),
        seq,
        Fact::GroupChanged {
            message_id: line.id,
        },
        move |pos| ServerEvent::MessageNew { pos, seq, message },
    );
    Ok((seq, line))
}

/// The chat as `tx` sees it, with what it wrote, as `reader` sees it.
async fn chat_in(tx: &mut Transaction<'_, Any>, chat: ChatId, reader: UserId) -> Result<Chat> {
    let row = sqlx::query_as::<_, ChatRow>(&format!("{} WHERE c.id = $1", chats_seen_by("$2")))
        .bind(chat.0)
        .bind(reader.0)
        .fetch_one(&mut **tx)
        .await?;
    load_chats(tx, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::Internal(format!("chat {chat} vanished")))
}

/// Deletes a group's content for good, at the chat's `seq`: its messages' text, the titles it had, its
/// bans, and the group itself from every list. Its rows stay, so the log's events about it still
/// read.
async fn erase(tx: &mut Transaction<'_, Any>, chat: ChatId, seq: Seq, now: i64) -> Result<()> {
    // System lines stay system lines, so that a `sync` across the deletion still leaves them out
    // of unread counts; only the titles in them were written by someone.
    let lines = sqlx::query_as::<_, (i64, String)>(
        "SELECT id, system FROM messages WHERE chat_id = $1 AND system IS NOT NULL",
    )
    .bind(chat.0)
    .fetch_all(&mut **tx)
    .await?;
    for (id, system) in lines {
        // A line that does not read as a change is left as it is, rather than keep the group
        // from being deleted.
        let Ok(change) = serde_json::from_str::<GroupChange>(&system) else {
            tracing::warn!(message = id, "an unreadable system line kept as it is");
            continue;
        };
        let untitled = match change {
            GroupChange::Created { .. } => GroupChange::Created {
                title: String::new(),
            },
            GroupChange::Renamed { .. } => GroupChange::Renamed {
                title: String::new(),
            },
            _ => continue,
        };
        sqlx::query("UPDATE messages SET system = $2 WHERE id = $1")
            .bind(id)
            .bind(serde_json::to_string(&untitled).map_err(|e| Error::Internal(e.to_string()))?)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "UPDATE messages SET body = '', deleted_at = $2, deleted_seq = $3
         WHERE chat_id = $1 AND deleted_at IS NULL",
    )
    .bind(chat.0)
    .bind(now)
    .bind(seq)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM message_versions
         WHERE message_id IN (SELECT id FROM messages WHERE chat_id = $1)",
    )
    .bind(chat.0)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM chat_bans WHERE chat_id = $1")
        .bind(chat.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE chats SET deleted_at = $2, title = NULL, title_key = NULL WHERE id = $1")
        .bind(chat.0)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Commits `tx` if the change succeeded, else rolls it back and passes the refusal on.
async fn settle<T>(tx: Transaction<'_, Any>, outcome: Result<T>) -> Result<T> {
    match outcome {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(error) => {
            // A failed rollback leaves the connection to be discarded; the refusal is the news.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// Ids without repeats, in id order (the order their row locks are taken in).
fn distinct(ids: &[UserId]) -> Vec<UserId> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    ids
}

/// `%text%` for `LIKE … ESCAPE '\'`, matching `text` literally.
fn containing(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Db {
    /// A group owned by `creator`, with `members`, each of whom gets `chat:new`; its first line
    /// tells of its creation.
    pub async fn create_group(
        &self,
        creator: &User,
        title: &GroupTitle,
        members: &[UserId],
        public: bool,
        max_members: usize,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        let others: Vec<UserId> = distinct(members)
            .into_iter()
            .filter(|id| *id != creator.id)
            .collect();
        if others.len() + 1 > max_members {
            return Err(Refusal::GroupFull { max: max_members }.into());
        }
        let mut tx = self.write.begin().await?;
        let outcome = create_in(&mut tx, creator, title, &others, public, now).await;
        settle(tx, outcome).await
    }

    /// Renames `chat`, or makes it public or private.
    pub async fn update_group(
        &self,
        actor: &User,
        chat: ChatId,
        title: Option<GroupTitle>,
        public: Option<bool>,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        if title.is_none() && public.is_none() {
            return Err(Refusal::NothingToChange.into());
        }
        let mut tx = self.write.begin().await?;
        let outcome = update_in(&mut tx, actor, chat, title, public, now).await;
        settle(tx, outcome).await
    }

    /// Adds `users` to `chat`, lifting their bans.
    pub async fn add_to_group(
        &self,
        actor: &User,
        chat: ChatId,
        users: &[UserId],
        max_members: usize,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        let users = distinct(users);
        if users.is_empty() {
            return Err(Refusal::NothingToChange.into());
        }
        let mut tx = self.write.begin().await?;
        let outcome = add_in(&mut tx, actor, chat, &users, max_members, now).await;
        settle(tx, outcome).await
    }

    /// Removes `user` from `chat`, banning them from joining again if `ban`.
    pub async fn remove_from_group(
        &self,
        actor: &User,
        chat: ChatId,
        user: UserId,
        ban: bool,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        if user == actor.id {
            return Err(Refusal::IsYou.into());
        }
        let mut tx = self.write.begin().await?;
        let outcome = remove_in(&mut tx, actor, chat, user, ban, now).await;
        settle(tx, outcome).await
    }

    /// Makes `user` an admin of `chat`, or a member again.
    pub async fn set_group_role(
        &self,
        actor: &User,
        chat: ChatId,
        user: UserId,
        role: Role,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        if user == actor.id {
            return Err(Refusal::IsYou.into());
        }
        let mut tx = self.write.begin().await?;
        let outcome = set_role_in(&mut tx, actor, chat, user, role, now).await;
        settle(tx, outcome).await
    }

    /// Joins the public group `chat`.
    pub async fn join_group(
        &self,
        actor: &User,
        chat: ChatId,
        max_members: usize,
        now: i64,
    ) -> Result<(Chat, Vec<Logged>)> {
        let mut tx = self.write.begin().await?;
        let outcome = join_in(&mut tx, actor, chat, max_members, now).await;
        settle(tx, outcome).await
    }

    /// Leaves `chat`; an owner hands it on, and the last to leave ends it.
    pub async fn leave_group(&self, actor: &User, chat: ChatId, now: i64) -> Result<Vec<Logged>> {
        let mut tx = self.write.begin().await?;
        let outcome = leave_in(&mut tx, actor, chat, now).await;
        settle(tx, outcome).await
    }

    /// Deletes `chat` for every member, with its messages.
    pub async fn delete_group(&self, actor: &User, chat: ChatId, now: i64) -> Result<Vec<Logged>> {
        let mut tx = self.write.begin().await?;
        let outcome = delete_in(&mut tx, actor, chat, now).await;
        settle(tx, outcome).await
    }

    /// The people banned from `chat`, for its owner and admins.
    pub async fn group_bans(&self, actor: UserId, chat: ChatId) -> Result<Vec<User>> {
        let found = sqlx::query_as::<_, (String, String)>(
            "SELECT c.kind, m.role FROM chats c JOIN chat_members m ON m.chat_id = c.id
             WHERE c.id = $1 AND m.user_id = $2 AND m.left_seq IS NULL AND c.deleted_at IS NULL",
        )
        .bind(chat.0)
        .bind(actor.0)
        .fetch_optional(&self.read)
        .await?;
        let (kind, role) = match found {
            Some((kind, role)) => (stored_kind(chat, &kind)?, Some(stored_role(&role)?)),
            None => (ChatKind::Group, None),
        };
        may(role_in_group(chat, kind, role)?, GroupAction::Manage)?;
        let rows = sqlx::query_as::<_, (i64, String)>(
            "SELECT u.id, u.username FROM chat_bans b JOIN users u ON u.id = b.user_id
             WHERE b.chat_id = $1 ORDER BY u.search_key",
        )
        .bind(chat.0)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, username)| User {
                id: UserId(id),
                username,
            })
            .collect())
    }

    /// Lets `user` join `chat` again.
    pub async fn unban(&self, actor: UserId, chat: ChatId, user: UserId) -> Result<Vec<User>> {
        let mut tx = self.write.begin().await?;
        let outcome = unban_in(&mut tx, actor, chat, user).await;
        settle(tx, outcome).await?;
        self.group_bans(actor, chat).await
    }

    /// One of `user`'s chats.
    pub async fn chat_of_member(&self, user: UserId, chat: ChatId) -> Result<Chat> {
        let member = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM chat_members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = $1 AND m.user_id = $2 AND m.left_seq IS NULL
               AND c.deleted_at IS NULL",
        )
        .bind(chat.0)
        .bind(user.0)
        .fetch_one(&self.read)
        .await?;
        if member == 0 {
            return Err(Refusal::NotMember { chat_id: chat }.into());
        }
        self.chat(user, chat).await
    }

    /// A page of public groups, newest first, before `before`, whose title contains `query` (in
    /// any letter case), as `reader` sees them; and whether more follow.
    pub async fn rooms(
        &self,
        reader: UserId,
        query: Option<&str>,
        before: Option<ChatId>,
        limit: u32,
    ) -> Result<(Vec<Room>, bool)> {
        let pattern = containing(&query.unwrap_or_default().to_lowercase());
        let mut rows = sqlx::query_as::<_, RoomRow>(
            "SELECT c.id, c.title,
               (SELECT count(*) FROM chat_members m
                WHERE m.chat_id = c.id AND m.left_seq IS NULL) AS member_count,
               (SELECT count(*) FROM chat_members m
                WHERE m.chat_id = c.id AND m.user_id = $1 AND m.left_seq IS NULL) AS joined
             FROM chats c
             WHERE c.public = 1 AND c.deleted_at IS NULL AND c.id < $2
               AND c.title_key LIKE $3 ESCAPE '\\'
             ORDER BY c.id DESC LIMIT $4",
        )
        .bind(reader.0)
        .bind(before.map_or(i64::MAX, |id| id.0))
        .bind(pattern)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let rooms = rows
            .into_iter()
            .map(|row| Room {
                chat_id: ChatId(row.id),
                title: row.title.unwrap_or_default(),
                member_count: u32::try_from(row.member_count).unwrap_or(u32::MAX),
                joined: row.joined > 0,
            })
            .collect();
        Ok((rooms, has_more))
    }
}

async fn create_in(
    tx: &mut Transaction<'_, Any>,
    creator: &User,
    title: &GroupTitle,
    others: &[UserId],
    public: bool,
    now: i64,
) -> Result<(Chat, Vec<Logged>)> {
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO chats (kind, title, title_key, public, created_at, active_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(ChatKind::Group.as_str())
    .bind(title.as_str())
    .bind(title.as_str().to_lowercase())
    .bind(i64::from(public))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let chat = ChatId(id);
    may_add(tx, creator.id, others).await?;
    let mut append = Append::default();
    let change = GroupChange::Created {
        title: title.as_str().to_string(),
    };
    write_line(tx, &mut append, chat, creator, change, now).await?;
    // Founders see the chat from its start, the line of its creation included.
    insert_member(tx, chat, creator.id, Role::Owner, 0, now).await?;
    for member in others {
        insert_member(tx, chat, *member, Role::Member, 0, now).await?;
    }
    let shown = chat_in(tx, chat, creator.id).await?;
    let founders = distinct(&[others, &[creator.id]].concat());
    let mut joined = Append::default();
    tell_joined(tx, &mut joined, &founders, &shown).await?;
    // Each founder hears of the chat before its first line.
    let logged = joined.then(append).write(tx, now).await?;
    Ok((shown, logged))
}

async fn update_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    title: Option<GroupTitle>,
    public: Option<bool>,
    now: i64,
) -> Result<(Chat, Vec<Logged>)> {
    let (locked, role) = lock_group(tx, chat, actor.id).await?;
    may(role, GroupAction::Manage)?;
    let mut append = Append::default();
    if let Some(title) = title.filter(|title| locked.title.as_deref() != Some(title.as_str())) {
        sqlx::query("UPDATE chats SET title = $2, title_key = $3 WHERE id = $1")
            .bind(chat.0)
            .bind(title.as_str())
            .bind(title.as_str().to_lowercase())
            .execute(&mut **tx)
            .await?;
        let change = GroupChange::Renamed {
            title: title.as_str().to_string(),
        };
        write_line(tx, &mut append, chat, actor, change, now).await?;
    }
    if let Some(public) = public.filter(|public| *public != locked.public) {
        sqlx::query("UPDATE chats SET public = $2 WHERE id = $1")
            .bind(chat.0)
            .bind(i64::from(public))
            .execute(&mut **tx)
            .await?;
        let change = GroupChange::Visibility { public };
        write_line(tx, &mut append, chat, actor, change, now).await?;
    }
    let shown = chat_in(tx, chat, actor.id).await?;
    Ok((shown, append.write(tx, now).await?))
}

async fn add_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    users: &[UserId],
    max_members: usize,
    now: i64,
) -> Result<(Chat, Vec<Logged>)> {
    let (_, role) = lock_group(tx, chat, actor.id).await?;
    may(role, GroupAction::Manage)?;
    let members = current_members(tx, chat).await?;
    if let Some(present) = users
        .iter()
        .find(|user| members.iter().any(|(member, _)| member == *user))
    {
        return Err(Refusal::AlreadyMember { user_id: *present }.into());
    }
    if members.len() + users.len() > max_members {
        return Err(Refusal::GroupFull { max: max_members }.into());
    }
    let added = may_add(tx, actor.id, users).await?;
    for user in users {
        sqlx::query("DELETE FROM chat_bans WHERE chat_id = $1 AND user_id = $2")
            .bind(chat.0)
            .bind(user.0)
            .execute(&mut **tx)
            .await?;
    }
    let mut append = Append::default();
    let change = GroupChange::Added { users: added };
    let (seq, _) = write_line(tx, &mut append, chat, actor, change, now).await?;
    for user in users {
        insert_member(tx, chat, *user, Role::Member, seq - 1, now).await?;
    }
    let shown = chat_in(tx, chat, actor.id).await?;
    let mut joined = Append::default();
    tell_joined(tx, &mut joined, users, &shown).await?;
    Ok((shown, joined.then(append).write(tx, now).await?))
}

async fn remove_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    user: UserId,
    ban: bool,
    now: i64,
) -> Result<(Chat, Vec<Logged>)> {
    let (_, role) = lock_group(tx, chat, actor.id).await?;
    let target = role_in(tx, chat, user)
        .await?
        .ok_or(Refusal::NotInGroup { user_id: user })?;
    may(role, GroupAction::Remove { target })?;
    let username = sqlx::query_scalar::<_, String>("SELECT username FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_one(&mut **tx)
        .await?;
    if ban {
        sqlx::query(
            "INSERT INTO chat_bans (chat_id, user_id, since) VALUES ($1, $2, $3)
             ON CONFLICT (chat_id, user_id) DO NOTHING",
        )
        .bind(chat.0)
        .bind(user.0)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let mut append = Append::default();
    let change = GroupChange::Removed {
        user: User { id: user, username },
        banned: ban,
    };
    let (seq, _) = write_line(tx, &mut append, chat, actor, change, now).await?;
    end_period(tx, chat, user, seq).await?;
    let shown = chat_in(tx, chat, actor.id).await?;
    Ok((shown, append.write(tx, now).await?))
}

async fn set_role_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    user: UserId,
    to: Role,
    now: i64,
) -> Result<(Chat, Vec<Logged>)> {
    let (_, role) = lock_group(tx, chat, actor.id).await?;
    let target = role_in(tx, chat, user)
        .await?
        .ok_or(Refusal::NotInGroup { user_id: user })?;
    may(role, GroupAction::SetRole { target, to })?;
    let mut append = Append::default();
    if target != to {
        set_role(tx, chat, user, to).await?;
        let username = sqlx::query_scalar::<_, String>("SELECT username FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_one(&mut **tx)
            .await?;
        let change = GroupChange::RoleChanged {
            user: User { id: user, username },
            role: to,
        };
        write_line(tx, &mut append, chat, actor, change, now).await?;
    }
    let shown = chat_in(tx, chat, actor.id).await?;
    Ok((shown, append.write(tx, now).await?))
}

async fn join_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    max_members: usize,
    now: i64,
) -> Result<(Chat, Vec<Logged>)> {
    let not_found = Refusal::RoomNotFound { chat_id: chat };
    let locked = lock_chat(tx, chat, actor.id).await?.ok_or(not_found)?;
    if locked.kind != ChatKind::Group || !locked.public {
        return Err(not_found.into());
    }
    if locked.role.is_some() {
        return Err(Refusal::AlreadyMember { user_id: actor.id }.into());
    }
    let banned = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM chat_bans WHERE chat_id = $1 AND user_id = $2",
    )
    .bind(chat.0)
    .bind(actor.id.0)
    .fetch_one(&mut **tx)
    .await?;
    if banned > 0 {
        return Err(Refusal::BannedFromRoom { chat_id: chat }.into());
    }
    if current_members(tx, chat).await?.len() >= max_members {
        return Err(Refusal::GroupFull { max: max_members }.into());
    }
    let mut append = Append::default();
    let change = GroupChange::Joined {
        user: actor.clone(),
    };
    let (seq, _) = write_line(tx, &mut append, chat, actor, change, now).await?;
    insert_member(tx, chat, actor.id, Role::Member, seq - 1, now).await?;
    let shown = chat_in(tx, chat, actor.id).await?;
    let mut joined = Append::default();
    tell_joined(tx, &mut joined, &[actor.id], &shown).await?;
    Ok((shown, joined.then(append).write(tx, now).await?))
}

async fn leave_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    now: i64,
) -> Result<Vec<Logged>> {
    let (_, role) = lock_group(tx, chat, actor.id).await?;
    let staying: Vec<(UserId, Role)> = current_members(tx, chat)
        .await?
        .into_iter()
        .filter(|(member, _)| *member != actor.id)
        .collect();
    let new_owner = match role {
        Role::Owner => successor(&staying),
        Role::Admin | Role::Member => None,
    };
    let new_owner = match new_owner {
        Some(id) => {
            set_role(tx, chat, id, Role::Owner).await?;
            let username =
                sqlx::query_scalar::<_, String>("SELECT username FROM users WHERE id = $1")
                    .bind(id.0)
                    .fetch_one(&mut **tx)
                    .await?;
            Some(User { id, username })
        }
        None => None,
    };
    let mut append = Append::default();
    let change = GroupChange::Left { new_owner };
    let (seq, _) = write_line(tx, &mut append, chat, actor, change, now).await?;
    end_period(tx, chat, actor.id, seq).await?;
    if staying.is_empty() {
        erase(tx, chat, seq, now).await?;
    }
    append.write(tx, now).await
}

async fn delete_in(
    tx: &mut Transaction<'_, Any>,
    actor: &User,
    chat: ChatId,
    now: i64,
) -> Result<Vec<Logged>> {
    let (_, role) = lock_group(tx, chat, actor.id).await?;
    may(role, GroupAction::Delete)?;
    let seq = next_chat_seq(tx, chat)
        .await?
        .ok_or_else(|| Error::Internal(format!("chat {chat} vanished")))?;
    sqlx::query("UPDATE chat_members SET left_seq = $2 WHERE chat_id = $1 AND left_seq IS NULL")
        .bind(chat.0)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    erase(tx, chat, seq, now).await?;
    let mut append = Append::default();
    append.push(Stream::Chat(chat), seq, Fact::GroupDeleted, move |pos| {
        ServerEvent::ChatDeleted {
            pos,
            seq,
            chat_id: chat,
        }
    });
    append.write(tx, now).await
}

async fn unban_in(
    tx: &mut Transaction<'_, Any>,
    actor: UserId,
    chat: ChatId,
    user: UserId,
) -> Result<()> {
    let (_, role) = lock_group(tx, chat, actor).await?;
    may(role, GroupAction::Manage)?;
    let lifted = sqlx::query("DELETE FROM chat_bans WHERE chat_id = $1 AND user_id = $2")
        .bind(chat.0)
        .bind(user.0)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if lifted == 0 {
        return Err(Refusal::NotBanned { user_id: user }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_search_matches_its_text_literally() {
        assert_eq!(containing("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(containing(""), "%%");
    }
}
