//! Relations between people and each person's settings.
//!
//! A change takes both users' row locks, in id order, before it reads the pair, so two people acting
//! on each other at once are put in order (two requests crossing become a friendship). Each side
//! whose relation changed gets a `contact:changed` in their own stream; a side that did not change
//! hears nothing, so a block is not announced to the person blocked.

use super::log::{next_user_seq, Append, Fact, Logged, Stream};
use super::{refuse, Db};
use crate::error::{Error, Result};
use crate::relations::{self, Action, Counts, Pair, TheirSettings};
use app::model::{
    Contact, MessagePolicy, Relation, RequestPolicy, Settings, User, UserId, Visibility,
};
use app::protocol::{Refusal, ServerEvent};
use sqlx::{Any, Transaction};

#[derive(sqlx::FromRow)]
struct ContactRow {
    other_id: i64,
    username: String,
    relation: String,
    since: i64,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    direct_messages: String,
    friend_requests: String,
    presence_visibility: String,
}

const SETTINGS_COLUMNS: &str = "direct_messages, friend_requests, presence_visibility";

/// The settings a `settings:update` names; the others stay as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsChange {
    pub direct_messages: Option<MessagePolicy>,
    pub friend_requests: Option<RequestPolicy>,
    pub presence_visibility: Option<Visibility>,
}

impl SettingsChange {
    fn applied_to(self, settings: Settings) -> Settings {
        Settings {
            direct_messages: self.direct_messages.unwrap_or(settings.direct_messages),
            friend_requests: self.friend_requests.unwrap_or(settings.friend_requests),
            presence_visibility: self
                .presence_visibility
                .unwrap_or(settings.presence_visibility),
        }
    }
}

/// What decides whether someone may message a peer: the peer's policy and both sides' relations.
#[derive(sqlx::FromRow)]
struct MessageRuleRow {
    peer_id: i64,
    peer_username: String,
    direct_messages: String,
    mine: Option<String>,
    theirs: Option<String>,
}

/// A stored relation, where no row means none.
pub(super) fn relation_of(stored: Option<&str>) -> Result<Relation> {
    stored.map_or(Ok(Relation::None), relation)
}

fn relation(stored: &str) -> Result<Relation> {
    Relation::from_stored(stored)
        .ok_or_else(|| Error::Internal(format!("unknown relation {stored:?} stored")))
}

impl TryFrom<SettingsRow> for Settings {
    type Error = Error;
    fn try_from(row: SettingsRow) -> Result<Self> {
        let unknown = |name: &str| Error::Internal(format!("unknown setting {name:?} stored"));
        Ok(Settings {
            direct_messages: MessagePolicy::from_stored(&row.direct_messages)
                .ok_or_else(|| unknown(&row.direct_messages))?,
            friend_requests: RequestPolicy::from_stored(&row.friend_requests)
                .ok_or_else(|| unknown(&row.friend_requests))?,
            presence_visibility: Visibility::from_stored(&row.presence_visibility)
                .ok_or_else(|| unknown(&row.presence_visibility))?,
        })
    }
}

impl MessageRuleRow {
    /// Whether the asker may message this row's peer.
    fn check(&self) -> Result<()> {
        let pair = Pair {
            mine: relation_of(self.mine.as_deref())?,
            theirs: relation_of(self.theirs.as_deref())?,
        };
        let policy = MessagePolicy::from_stored(&self.direct_messages).ok_or_else(|| {
            Error::Internal(format!("unknown policy {:?} stored", self.direct_messages))
        })?;
        Ok(relations::may_message(UserId(self.peer_id), pair, policy)?)
    }
}

/// A relation change, as made.
pub struct RelationChange {
    /// The actor's relation to the other afterwards.
    pub contact: Contact,
    pub other: UserId,
    /// The pair before and after, from the actor's side.
    pub before: Pair,
    pub after: Pair,
    /// The events logged for whichever sides changed.
    pub logged: Vec<Logged>,
}

/// What decides whether user `$1` may message peer `$2`.
const MESSAGE_RULE: &str = "SELECT u.id AS peer_id, u.username AS peer_username,
        u.direct_messages, mine.relation AS mine, theirs.relation AS theirs
    FROM users u
    LEFT JOIN contacts mine ON mine.user_id = $1 AND mine.other_id = u.id
    LEFT JOIN contacts theirs ON theirs.user_id = u.id AND theirs.other_id = $1
    WHERE u.id = $2";

impl Db {
    /// The user with this username, in any letter case.
    pub async fn user_named(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query_as::<_, (i64, String)>(
            "SELECT id, username FROM users WHERE search_key = $1",
        )
        .bind(super::accounts::search_key(username))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, username)| User {
            id: UserId(id),
            username,
        }))
    }

    /// Everyone `user` has a relation with, most recent change first.
    pub async fn contacts(&self, user: UserId) -> Result<Vec<Contact>> {
        let rows = sqlx::query_as::<_, ContactRow>(
            "SELECT c.other_id, u.username, c.relation, c.since FROM contacts c
             JOIN users u ON u.id = c.other_id WHERE c.user_id = $1
             ORDER BY c.since DESC, c.other_id",
        )
        .bind(user.0)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Contact {
                    user: User {
                        id: UserId(row.other_id),
                        username: row.username,
                    },
                    relation: relation(&row.relation)?,
                    since: row.since,
                })
            })
            .collect()
    }

    /// `actor` does `action` about `other`.
    pub async fn change_relation(
        &self,
        actor: &User,
        other: UserId,
        action: Action,
        now: i64,
    ) -> Result<RelationChange> {
        if other == actor.id {
            return Err(Refusal::IsYou.into());
        }
        let Some(other) = self.user(other).await? else {
            return Err(Refusal::UnknownUser { user_id: other }.into());
        };
        let mut tx = self.write.begin().await?;
        let (first, second) = if actor.id < other.id {
            (actor.id, other.id)
        } else {
            (other.id, actor.id)
        };
        for user in [first, second] {
            // The row lock; and who may see whose presence may change, so announcements made
            // before this one are older.
            sqlx::query("UPDATE users SET presence_version = presence_version + 1 WHERE id = $1")
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
        }
        let before = read_pair(&mut tx, actor.id, other.id).await?;
        let counts = read_counts(&mut tx, actor.id, other.id).await?;
        let their_settings = read_settings(&mut tx, other.id).await?;
        let settings = TheirSettings {
            friend_requests: their_settings.friend_requests,
        };
        let after = match relations::apply(action, other.id, before, counts, settings) {
            Ok(after) => after,
            Err(refusal) => return refuse(tx, refusal).await,
        };
        let mine = Contact {
            user: other.clone(),
            relation: after.mine,
            since: now,
        };
        let theirs = Contact {
            user: actor.clone(),
            relation: after.theirs,
            since: now,
        };
        let mut append = Append::default();
        for (owner, contact, changed) in [
            (actor.id, mine.clone(), before.mine != after.mine),
            (other.id, theirs, before.theirs != after.theirs),
        ] {
            if changed {
                store_relation(&mut tx, owner, &contact).await?;
                log_contact(&mut tx, &mut append, owner, contact).await?;
            }
        }
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok(RelationChange {
            contact: mine,
            other: other.id,
            before,
            after,
            logged,
        })
    }

    pub async fn settings(&self, user: UserId) -> Result<Settings> {
        sqlx::query_as::<_, SettingsRow>(&format!(
            "SELECT {SETTINGS_COLUMNS} FROM users WHERE id = $1"
        ))
        .bind(user.0)
        .fetch_one(&self.read)
        .await?
        .try_into()
    }

    /// Applies `change`; a `settings:changed` goes to the user's other devices when anything did
    /// change. Returns the settings before and after.
    pub async fn update_settings(
        &self,
        user: UserId,
        change: SettingsChange,
        now: i64,
    ) -> Result<(Settings, Settings, Vec<Logged>)> {
        let mut tx = self.write.begin().await?;
        let seq = next_user_seq(&mut tx, user).await?;
        let before = read_settings(&mut tx, user).await?;
        let after = change.applied_to(before);
        if after == before {
            tx.rollback().await?;
            return Ok((before, after, Vec::new()));
        }
        // A change of who may see the presence makes announcements made before it older.
        let presence_step = i64::from(after.presence_visibility != before.presence_visibility);
        sqlx::query(
            "UPDATE users SET direct_messages = $1, friend_requests = $2, presence_visibility = $3,
             presence_version = presence_version + $4 WHERE id = $5",
        )
        .bind(after.direct_messages.as_str())
        .bind(after.friend_requests.as_str())
        .bind(after.presence_visibility.as_str())
        .bind(presence_step)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        let mut append = Append::default();
        append.push(Stream::User(user), seq, Fact::SettingsChanged, move |pos| {
            ServerEvent::SettingsChanged {
                pos,
                seq,
                settings: after,
            }
        });
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((before, after, logged))
    }

    /// The settings of these users that exist, by id.
    pub(super) async fn settings_by_user(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, Settings>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            #[sqlx(flatten)]
            settings: SettingsRow,
        }
        let ids: Vec<i64> = users.iter().map(|id| id.0).collect();
        let select = format!("SELECT id, {SETTINGS_COLUMNS} FROM users WHERE id IN");
        let rows: Vec<Row> = super::rows_for_ids(&self.read, &select, &ids).await?;
        rows.into_iter()
            .map(|row| Ok((UserId(row.id), row.settings.try_into()?)))
            .collect()
    }

    /// The user `peer` if `sender` may open a direct chat with them: refused when either blocked the
    /// other or the peer takes direct messages from friends only.
    pub async fn may_open_direct(&self, sender: UserId, peer: UserId) -> Result<User> {
        let row = sqlx::query_as::<_, MessageRuleRow>(MESSAGE_RULE)
            .bind(sender.0)
            .bind(peer.0)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else {
            return Err(Refusal::UnknownUser { user_id: peer }.into());
        };
        row.check()?;
        Ok(User {
            id: peer,
            username: row.peer_username,
        })
    }
}

/// Whether `sender` may message `chat` now, if it is a direct chat they belong to; other chats
/// have no such rule (membership is checked where the message is written). Takes the sender's row
/// lock first, as a relation change takes both users' rows: a block committed before this send's
/// check is seen by it, and one made after waits for the send to commit.
pub(super) async fn may_message_in(
    tx: &mut Transaction<'_, Any>,
    sender: UserId,
    chat: app::model::ChatId,
) -> Result<()> {
    let peer = sqlx::query_scalar::<_, i64>(
        "SELECT peer.user_id FROM chats c
         JOIN chat_members me ON me.chat_id = c.id AND me.user_id = $2 AND me.left_seq IS NULL
         JOIN chat_members peer ON peer.chat_id = c.id AND peer.user_id <> $2
         WHERE c.id = $1 AND c.kind = 'direct'",
    )
    .bind(chat.0)
    .bind(sender.0)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(peer) = peer else { return Ok(()) };
    sqlx::query("UPDATE users SET last_seq = last_seq WHERE id = $1")
        .bind(sender.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query_as::<_, MessageRuleRow>(MESSAGE_RULE)
        .bind(sender.0)
        .bind(peer)
        .fetch_one(&mut **tx)
        .await?
        .check()
}

/// The people in `targets` (in that order) if `adder` may add each to a group: the direct-message
/// rule, since being added is being messaged. Takes the row locks of the adder and the targets first,
/// in id order, as a relation change takes them: a block either precedes this check or waits for
/// the add to commit.
pub(super) async fn may_add(
    tx: &mut Transaction<'_, Any>,
    adder: UserId,
    targets: &[UserId],
) -> Result<Vec<User>> {
    let mut locking: Vec<UserId> = targets.iter().copied().chain([adder]).collect();
    locking.sort();
    locking.dedup();
    for user in locking {
        let found = sqlx::query("UPDATE users SET last_seq = last_seq WHERE id = $1")
            .bind(user.0)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if found == 0 {
            return Err(Refusal::UnknownUser { user_id: user }.into());
        }
    }
    let mut users = Vec::with_capacity(targets.len());
    for target in targets {
        let row = sqlx::query_as::<_, MessageRuleRow>(MESSAGE_RULE)
            .bind(adder.0)
            .bind(target.0)
            .fetch_one(&mut **tx)
            .await?;
        row.check().map_err(|refused| match refused {
            Error::Refused(Refusal::MessagesNotAllowed { user_id }) => {
                Refusal::AddNotAllowed { user_id }.into()
            }
            other => other,
        })?;
        users.push(User {
            id: *target,
            username: row.peer_username,
        });
    }
    Ok(users)
}

/// Where `me` and `other` stand with each other, read inside the change's transaction.
async fn read_pair(tx: &mut Transaction<'_, Any>, me: UserId, other: UserId) -> Result<Pair> {
    let rows = sqlx::query_as::<_, (i64, String)>(
        "SELECT user_id, relation FROM contacts
         WHERE (user_id = $1 AND other_id = $2) OR (user_id = $2 AND other_id = $1)",
    )
    .bind(me.0)
    .bind(other.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut pair = Pair::default();
    for (owner, stored) in rows {
        let side = if owner == me.0 {
            &mut pair.mine
        } else {
            &mut pair.theirs
        };
        *side = relation(&stored)?;
    }
    Ok(pair)
}

/// The counts each side's limits are checked against.
async fn read_counts(tx: &mut Transaction<'_, Any>, me: UserId, other: UserId) -> Result<Counts> {
    let rows = sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT user_id, relation, count(*) FROM contacts WHERE user_id IN ($1, $2)
         GROUP BY user_id, relation",
    )
    .bind(me.0)
    .bind(other.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut counts = Counts::default();
    for (owner, stored, count) in rows {
        let count = count as usize;
        match (owner == me.0, relation(&stored)?) {
            (true, Relation::Friend) => counts.my_friends = count,
            (true, Relation::RequestSent) => counts.my_requests_sent = count,
            (true, Relation::Blocked) => counts.my_blocked = count,
            (false, Relation::Friend) => counts.their_friends = count,
            (false, Relation::RequestReceived) => counts.their_requests_received = count,
            _ => {}
        }
    }
    Ok(counts)
}

async fn read_settings(tx: &mut Transaction<'_, Any>, user: UserId) -> Result<Settings> {
    sqlx::query_as::<_, SettingsRow>(&format!(
        "SELECT {SETTINGS_COLUMNS} FROM users WHERE id = $1"
    ))
    .bind(user.0)
    .fetch_one(&mut **tx)
    .await?
    .try_into()
}

/// Stores `owner`'s relation to `contact.user`: no row for none.
async fn store_relation(
    tx: &mut Transaction<'_, Any>,
    owner: UserId,
    contact: &Contact,
) -> Result<()> {
    if contact.relation == Relation::None {
        sqlx::query("DELETE FROM contacts WHERE user_id = $1 AND other_id = $2")
            .bind(owner.0)
            .bind(contact.user.id.0)
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO contacts (user_id, other_id, relation, since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, other_id) DO UPDATE SET relation = excluded.relation,
             since = excluded.since",
    )
    .bind(owner.0)
    .bind(contact.user.id.0)
    .bind(contact.relation.as_str())
    .bind(contact.since)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `owner`'s `contact:changed` to the events the change appends.
async fn log_contact(
    tx: &mut Transaction<'_, Any>,
    append: &mut Append,
    owner: UserId,
    contact: Contact,
) -> Result<()> {
    let seq = next_user_seq(tx, owner).await?;
    let fact = Fact::ContactChanged {
        other_id: contact.user.id,
        relation: contact.relation,
        since: contact.since,
    };
    append.push(Stream::User(owner), seq, fact, move |pos| {
        ServerEvent::ContactChanged { pos, seq, contact }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::limits;

    async fn db_with_people(count: usize) -> (tempfile::TempDir, Db, Vec<User>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let mut people = Vec::new();
        for n in 0..count {
            people.push(db.create_user(&format!("p{n}"), "hash", 0).await.unwrap());
        }
        (dir, db, people)
    }

    #[tokio::test]
    async fn the_limits_on_requests_and_blocks_hold_in_storage() {
        let needed = limits::REQUESTS_SENT_MAX.max(limits::BLOCKED_MAX) + 2;
        let (_dir, db, people) = db_with_people(needed).await;
        let (me, others) = people.split_first().unwrap();
        let act = |other: &User, action| db.change_relation(me, other.id, action, 1);
        for other in &others[..limits::REQUESTS_SENT_MAX] {
            act(other, Action::Request).await.unwrap();
        }
        let refused = act(&others[limits::REQUESTS_SENT_MAX], Action::Request).await;
        assert!(matches!(
            refused,
            Err(Error::Refused(Refusal::TooManyRequests { .. }))
        ));
        for other in &others[..limits::BLOCKED_MAX] {
            act(other, Action::Block).await.unwrap();
        }
        let refused = act(&others[limits::BLOCKED_MAX], Action::Block).await;
        assert!(matches!(
            refused,
            Err(Error::Refused(Refusal::TooManyBlocked { .. }))
        ));
        // Blocking ended the requests: the count of those sent is back to none.
        assert!(db
            .contacts(me.id)
            .await
            .unwrap()
            .iter()
            .all(|contact| contact.relation == Relation::Blocked));
    }
}
