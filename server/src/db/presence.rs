//! Presence across nodes: node leases, and which node holds which user's connections.
//!
//! A change of a user's presence takes their row's lock and counts up `presence_version` in the same
//! transaction, so two nodes changing one user's presence at once are put in order, and the version
//! tells every node which announcement is the newer.

use super::contacts::relation_of;
use super::log::{next_user_seq, Append, Fact, Logged, Stream};
use super::Db;
use crate::error::{Error, Result};
use crate::relations::Pair;
use crate::visibility::StoredPresence;
use app::model::{
    DirectoryEntry, MyStatus, Person, PresenceMode, Status, StatusText, User, UserId, Visibility,
};
use app::protocol::ServerEvent;
use sqlx::{Any, Transaction};

/// A user's presence changed as others see it, as of `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceChange {
    pub user: User,
    pub stored: StoredPresence,
    pub version: i64,
    /// They were offline to others and now are not: their arrival ends the waits for them.
    pub arrived: bool,
}

impl PresenceChange {
    /// The change from `before` to `after`, if others see one.
    fn between(
        user: User,
        before: &StoredPresence,
        after: StoredPresence,
        version: i64,
    ) -> Option<Self> {
        let (was, is) = (before.public(), after.public());
        (was != is).then(|| PresenceChange {
            user,
            arrived: was.status == Status::Offline && is.status != Status::Offline,
            stored: after,
            version,
        })
    }
}

/// The people whose presence user `$1` might follow, and who might follow theirs: their contacts
/// and the peers of their direct chats.
const KNOWN_TO: &str = "SELECT other_id FROM contacts WHERE user_id = $1
    UNION SELECT peer.user_id FROM chat_members me
    JOIN chats c ON c.id = me.chat_id AND c.kind = 'direct'
    JOIN chat_members peer ON peer.chat_id = c.id AND peer.user_id <> me.user_id
    WHERE me.user_id = $1";

/// A user's presence as stored, with where they and viewer `$1` stand (`mine` is theirs towards the
/// viewer). `$2` is now, for the node leases.
const SEEN_COLUMNS: &str = "u.id, u.username, u.presence_mode, u.status_text,
    u.presence_visibility, u.last_seen_at, u.presence_version,
    (SELECT count(*) FROM presence p JOIN nodes n ON n.id = p.node_id
     WHERE p.user_id = u.id AND n.expires_at >= $2) AS connections,
    s.relation AS mine, v.relation AS theirs
    FROM users u
    LEFT JOIN contacts s ON s.user_id = u.id AND s.other_id = $1
    LEFT JOIN contacts v ON v.user_id = $1 AND v.other_id = u.id";

#[derive(sqlx::FromRow)]
struct SeenRow {
    id: i64,
    username: String,
    presence_mode: String,
    status_text: Option<String>,
    presence_visibility: String,
    last_seen_at: Option<i64>,
    presence_version: i64,
    connections: i64,
    mine: Option<String>,
    theirs: Option<String>,
}

/// Someone as a viewer may see them, and what decided it.
pub struct Seen {
    pub user: User,
    pub stored: StoredPresence,
    pub version: i64,
    /// From the subject's side: `mine` is the subject's relation to the viewer.
    pub pair: Pair,
}

impl Seen {
    pub fn person(&self) -> Person {
        Person {
            user: self.user.clone(),
            presence: self.stored.shown_to(self.pair),
        }
    }

    pub fn entry(&self) -> DirectoryEntry {
        DirectoryEntry {
            user: self.user.clone(),
            relation: self.pair.theirs,
            presence: self.stored.shown_to(self.pair),
        }
    }
}

fn stored_name<T>(parsed: Option<T>, name: &str) -> Result<T> {
    parsed.ok_or_else(|| Error::Internal(format!("unknown name {name:?} stored")))
}

impl TryFrom<SeenRow> for Seen {
    type Error = Error;
    fn try_from(row: SeenRow) -> Result<Self> {
        Ok(Seen {
            user: User {
                id: UserId(row.id),
                username: row.username,
            },
            stored: StoredPresence {
                connected: row.connections > 0,
                mode: stored_name(
                    PresenceMode::from_stored(&row.presence_mode),
                    &row.presence_mode,
                )?,
                text: row.status_text,
                visibility: stored_name(
                    Visibility::from_stored(&row.presence_visibility),
                    &row.presence_visibility,
                )?,
                last_seen: row.last_seen_at,
            },
            version: row.presence_version,
            pair: Pair {
                mine: relation_of(row.mine.as_deref())?,
                theirs: relation_of(row.theirs.as_deref())?,
            },
        })
    }
}

/// Counts up `user`'s presence version, taking their row's lock until the transaction ends.
async fn next_version(tx: &mut Transaction<'_, Any>, user: UserId) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "UPDATE users SET presence_version = presence_version + 1 WHERE id = $1
         RETURNING presence_version",
    )
    .bind(user.0)
    .fetch_one(&mut **tx)
    .await?)
}

/// `user` and their presence as stored, inside a transaction.
async fn read_stored(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    now: i64,
) -> Result<(User, StoredPresence)> {
    let row = sqlx::query_as::<_, SeenRow>(&format!("SELECT {SEEN_COLUMNS} WHERE u.id = $1"))
        .bind(user.0)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    let seen = Seen::try_from(row)?;
    Ok((seen.user, seen.stored))
}

impl Db {
    /// Starts or renews `node`'s lease until `expires_at`; false if the node was not registered
    /// (it is now), which happens when others took it for dead.
    pub async fn renew_node(&self, node: &str, expires_at: i64) -> Result<bool> {
        let renewed = sqlx::query("UPDATE nodes SET expires_at = $1 WHERE id = $2")
            .bind(expires_at)
            .bind(node)
            .execute(&self.write)
            .await?
            .rows_affected();
        if renewed == 0 {
            sqlx::query("INSERT INTO nodes (id, expires_at) VALUES ($1, $2)")
                .bind(node)
                .bind(expires_at)
                .execute(&self.write)
                .await?;
        }
        Ok(renewed > 0)
    }

    /// Forgets `node` and its users' rows, on a clean stop.
    pub async fn remove_node(&self, node: &str) -> Result<()> {
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(node)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records that `node` holds connections of `user` (`connected`) or no longer does; the change,
    /// if others see one. When their last connection ends they were last seen now, unless they are
    /// invisible: then nothing others see may move.
    pub async fn set_presence(
        &self,
        user: UserId,
        node: &str,
        connected: bool,
        now: i64,
    ) -> Result<Option<PresenceChange>> {
        let mut tx = self.write.begin().await?;
        let version = next_version(&mut tx, user).await?;
        let (_, before) = read_stored(&mut tx, user, now).await?;
        if connected {
            sqlx::query(
                "INSERT INTO presence (user_id, node_id) VALUES ($1, $2)
                 ON CONFLICT (user_id, node_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(node)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM presence WHERE user_id = $1 AND node_id = $2")
                .bind(user.0)
                .bind(node)
                .execute(&mut *tx)
                .await?;
        }
        let (shown, mut after) = read_stored(&mut tx, user, now).await?;
        if before.connected && !after.connected {
            after.last_seen = mark_last_seen(&mut tx, user, &after, now).await?;
        }
        tx.commit().await?;
        Ok(PresenceChange::between(shown, &before, after, version))
    }

    /// Sets `user`'s mode and status text. Returns what they set, the `status:changed` for their
    /// devices (none if nothing changed), and the change others see, if any. Going invisible while
    /// connected looks to others like leaving now.
    pub async fn set_status(
        &self,
        user: UserId,
        mode: PresenceMode,
        text: Option<StatusText>,
        now: i64,
    ) -> Result<(MyStatus, Vec<Logged>, Option<PresenceChange>)> {
        let status = MyStatus {
            mode,
            text: text.map(StatusText::into_inner),
        };
        let mut tx = self.write.begin().await?;
        let seq = next_user_seq(&mut tx, user).await?;
        let version = next_version(&mut tx, user).await?;
        let (_, before) = read_stored(&mut tx, user, now).await?;
        if before.mode == status.mode && before.text == status.text {
            tx.rollback().await?;
            return Ok((status, Vec::new(), None));
        }
        sqlx::query("UPDATE users SET presence_mode = $1, status_text = $2 WHERE id = $3")
            .bind(status.mode.as_str())
            .bind(status.text.as_deref())
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        let (shown, mut after) = read_stored(&mut tx, user, now).await?;
        if after.connected && mode == PresenceMode::Invisible && before.mode != mode {
            after.last_seen = mark_last_seen(&mut tx, user, &before, now).await?;
        }
        let mut append = Append::default();
        let pushed = status.clone();
        append.push(Stream::User(user), seq, Fact::StatusChanged, move |pos| {
            ServerEvent::StatusChanged {
                pos,
                seq,
                status: pushed,
            }
        });
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        let change = PresenceChange::between(shown, &before, after, version);
        Ok((status, logged, change))
    }

    /// The mode and status text `user` set.
    pub async fn my_status(&self, user: UserId) -> Result<MyStatus> {
        let (mode, text) = sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT presence_mode, status_text FROM users WHERE id = $1",
        )
        .bind(user.0)
        .fetch_one(&self.read)
        .await?;
        Ok(MyStatus {
            mode: stored_name(PresenceMode::from_stored(&mode), &mode)?,
            text,
        })
    }

    /// The statuses of these users, by id, for building `status:changed` frames.
    pub(super) async fn statuses_by_user(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::HashMap<UserId, MyStatus>> {
        let ids: Vec<i64> = users.iter().map(|id| id.0).collect();
        let select = "SELECT id, presence_mode, status_text FROM users WHERE id IN";
        let rows: Vec<(i64, String, Option<String>)> =
            super::rows_for_ids(&self.read, select, &ids).await?;
        rows.into_iter()
            .map(|(id, mode, text)| {
                let mode = stored_name(PresenceMode::from_stored(&mode), &mode)?;
                Ok((UserId(id), MyStatus { mode, text }))
            })
            .collect()
    }

    /// The people `viewer` knows (contacts and direct-chat peers), as the viewer may see them.
    pub async fn people_known_to(&self, viewer: UserId, now: i64) -> Result<Vec<Seen>> {
        self.seen(
            viewer,
            &format!("WHERE u.id IN ({KNOWN_TO}) ORDER BY u.id"),
            now,
        )
        .await
    }

    /// A page of the directory as `viewer` may see it: everyone but the viewer whose username
    /// starts with `prefix` (in any letter case), by username, after `after`; and whether more follow.
    pub async fn directory(
        &self,
        viewer: UserId,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
        now: i64,
    ) -> Result<(Vec<Seen>, bool)> {
        let prefix = super::accounts::search_key(prefix);
        // Everything that starts with the prefix sorts before it followed by the highest character.
        let end = format!("{prefix}{}", char::MAX);
        let after = after.map(super::accounts::search_key).unwrap_or_default();
        let mut rows = sqlx::query_as::<_, SeenRow>(&format!(
            "SELECT {SEEN_COLUMNS} WHERE u.id <> $1 AND u.search_key > $3
               AND u.search_key >= $4 AND u.search_key < $5
             ORDER BY u.search_key LIMIT $6"
        ))
        .bind(viewer.0)
        .bind(now)
        .bind(after)
        .bind(prefix)
        .bind(end)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let seen = rows
            .into_iter()
            .map(Seen::try_from)
            .collect::<Result<_>>()?;
        Ok((seen, has_more))
    }

    /// `subject` as `viewer` may see them, if they exist.
    pub async fn seen_by(&self, viewer: UserId, subject: UserId, now: i64) -> Result<Option<Seen>> {
        let row = sqlx::query_as::<_, SeenRow>(&format!("SELECT {SEEN_COLUMNS} WHERE u.id = $3"))
            .bind(viewer.0)
            .bind(now)
            .bind(subject.0)
            .fetch_optional(&self.read)
            .await?;
        row.map(Seen::try_from).transpose()
    }

    async fn seen(&self, viewer: UserId, filter: &str, now: i64) -> Result<Vec<Seen>> {
        sqlx::query_as::<_, SeenRow>(&format!("SELECT {SEEN_COLUMNS} {filter}"))
            .bind(viewer.0)
            .bind(now)
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(Seen::try_from)
            .collect()
    }

    /// Those who might follow `subject`'s presence (see `KNOWN_TO`), each with the pair from the
    /// subject's side, for deciding who is told of a change.
    pub async fn presence_followers(&self, subject: UserId) -> Result<Vec<(UserId, Pair)>> {
        let rows = sqlx::query_as::<_, (i64, Option<String>, Option<String>)>(&format!(
            "SELECT u.id, s.relation, v.relation FROM users u
             LEFT JOIN contacts s ON s.user_id = $1 AND s.other_id = u.id
             LEFT JOIN contacts v ON v.user_id = u.id AND v.other_id = $1
             WHERE u.id IN ({KNOWN_TO})"
        ))
        .bind(subject.0)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(viewer, mine, theirs)| {
                let pair = Pair {
                    mine: relation_of(mine.as_deref())?,
                    theirs: relation_of(theirs.as_deref())?,
                };
                Ok((UserId(viewer), pair))
            })
            .collect()
    }

    /// Takes the nodes whose lease ran out for dead and forgets them; returns the users who went
    /// offline with them.
    pub async fn reap_nodes(&self, now: i64) -> Result<Vec<PresenceChange>> {
        let expired = sqlx::query_scalar::<_, String>("SELECT id FROM nodes WHERE expires_at < $1")
            .bind(now)
            .fetch_all(&self.read)
            .await?;
        let mut orphaned = Vec::new();
        for node in expired {
            let mut tx = self.write.begin().await?;
            let users =
                sqlx::query_scalar::<_, i64>("SELECT user_id FROM presence WHERE node_id = $1")
                    .bind(&node)
                    .fetch_all(&mut *tx)
                    .await?;
            // Another node may have reaped it first; then its users are that node's to announce.
            let reaped = sqlx::query("DELETE FROM nodes WHERE id = $1 AND expires_at < $2")
                .bind(&node)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            if reaped > 0 {
                tracing::warn!(
                    node,
                    users = users.len(),
                    "a node stopped renewing its lease"
                );
                orphaned.extend(users.into_iter().map(UserId));
            }
        }
        let mut changes = Vec::new();
        for user in orphaned {
            if let Some(change) = self.recheck_presence(user, now).await? {
                changes.push(change);
            }
        }
        Ok(changes)
    }

    /// The presence of `user` after a node holding them was forgotten: a change if they are now
    /// offline everywhere and were not invisible (then others saw them leave already).
    async fn recheck_presence(&self, user: UserId, now: i64) -> Result<Option<PresenceChange>> {
        let mut tx = self.write.begin().await?;
        let version = next_version(&mut tx, user).await?;
        let (shown, mut stored) = read_stored(&mut tx, user, now).await?;
        if stored.connected || stored.mode == PresenceMode::Invisible {
            tx.rollback().await?;
            return Ok(None);
        }
        stored.last_seen = mark_last_seen(&mut tx, user, &stored, now).await?;
        tx.commit().await?;
        Ok(Some(PresenceChange {
            user: shown,
            stored,
            version,
            arrived: false,
        }))
    }

    /// The users `node` holds, as the database has it.
    pub async fn users_on_node(&self, node: &str) -> Result<Vec<UserId>> {
        let users = sqlx::query_scalar::<_, i64>("SELECT user_id FROM presence WHERE node_id = $1")
            .bind(node)
            .fetch_all(&self.read)
            .await?;
        Ok(users.into_iter().map(UserId).collect())
    }
}

/// Records that `user` was last seen now, unless they are invisible (`stored` as it was): an
/// invisible person's last seen stays where their going invisible put it. Returns their last seen.
async fn mark_last_seen(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    stored: &StoredPresence,
    now: i64,
) -> Result<Option<i64>> {
    if stored.mode == PresenceMode::Invisible {
        return Ok(stored.last_seen);
    }
    sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(user.0)
        .execute(&mut **tx)
        .await?;
    Ok(Some(now))
}
