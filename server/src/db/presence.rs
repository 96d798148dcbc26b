//! Presence across nodes: node leases, and which node holds which user's connections.
//!
//! A change of a user's presence takes their row's lock and counts up `presence_version` in the same
//! transaction, so two nodes changing one user's presence at once are put in order, and the version
//! tells every node which announcement is the newer.

use super::Db;
use crate::error::Result;
use app::model::{User, UserId};

/// A user's presence changed: they are now `online`, as of `version`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresenceChange {
    pub user: User,
    pub online: bool,
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    presence_version: i64,
    username: String,
}

/// Counts up `user`'s presence version, taking their row's lock until the transaction ends.
async fn next_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
) -> Result<(User, i64)> {
    let row = sqlx::query_as::<_, VersionRow>(
        "UPDATE users SET presence_version = presence_version + 1 WHERE id = $1
         RETURNING presence_version, username",
    )
    .bind(user.0)
    .fetch_one(&mut **tx)
    .await?;
    let user = User {
        id: user,
        username: row.username,
    };
    Ok((user, row.presence_version))
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
    /// if the user's presence across all live nodes changed with it.
    pub async fn set_presence(
        &self,
        user: UserId,
        node: &str,
        connected: bool,
        now: i64,
    ) -> Result<Option<PresenceChange>> {
        let mut tx = self.write.begin().await?;
        let (shown, version) = next_version(&mut tx, user).await?;
        let was_online = live_rows(&mut tx, user, now).await? > 0;
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
        let online = live_rows(&mut tx, user, now).await? > 0;
        tx.commit().await?;
        Ok((online != was_online).then_some(PresenceChange {
            user: shown,
            online,
            version,
        }))
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
    /// offline everywhere.
    async fn recheck_presence(&self, user: UserId, now: i64) -> Result<Option<PresenceChange>> {
        let mut tx = self.write.begin().await?;
        let (shown, version) = next_version(&mut tx, user).await?;
        let online = live_rows(&mut tx, user, now).await? > 0;
        tx.commit().await?;
        Ok((!online).then_some(PresenceChange {
            user: shown,
            online,
            version,
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

    /// Everyone connected to a live node.
    pub async fn online_users(&self, now: i64) -> Result<Vec<UserId>> {
        let users = sqlx::query_scalar::<_, i64>(
            "SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.id = p.node_id
             WHERE n.expires_at >= $1",
        )
        .bind(now)
        .fetch_all(&self.read)
        .await?;
        Ok(users.into_iter().map(UserId).collect())
    }
}

/// How many live nodes hold `user`.
async fn live_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM presence p JOIN nodes n ON n.id = p.node_id
         WHERE p.user_id = $1 AND n.expires_at >= $2",
    )
    .bind(user.0)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?)
}
