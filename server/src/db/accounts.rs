//! Users and their sessions.

use super::{is_unique_violation, rows_for_ids, Db};
use crate::error::Result;
use app::model::{User, UserId};
use app::protocol::Refusal;

/// Devices remembered per account.
const KNOWN_DEVICES_MAX: i64 = 20;

/// A valid session, as the token that presents it resolves to.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: i64,
    pub user: User,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            username: row.username,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    id: i64,
    username: String,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct SessionUserRow {
    session_id: i64,
    user_id: i64,
    username: String,
}

/// A username as the directory orders and finds it: in lower case, ASCII only, so the same on
/// every backend whatever its locale.
pub(super) fn search_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

impl Db {
    /// Registers a user; a taken username (in any letter case) is a conflict.
    pub async fn create_user(&self, username: &str, password_hash: &str, now: i64) -> Result<User> {
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (username, search_key, password_hash, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(username)
        .bind(search_key(username))
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.write)
        .await;
        match inserted {
            Ok(id) => Ok(User {
                id: UserId(id),
                username: username.to_string(),
            }),
            Err(e) if is_unique_violation(&e) => Err(Refusal::UsernameTaken.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// The user with this username (any letter case) and their password hash.
    pub async fn find_credentials(&self, username: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query_as::<_, CredentialsRow>(
            "SELECT id, username, password_hash FROM users WHERE search_key = $1",
        )
        .bind(search_key(username))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|row| {
            let user = User {
                id: UserId(row.id),
                username: row.username,
            };
            (user, row.password_hash)
        }))
    }

    /// The users with these ids that exist, in no particular order.
    pub async fn users_by_id(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let select = "SELECT id, username FROM users WHERE id IN";
        let rows: Vec<UserRow> = rows_for_ids(&self.read, select, &ids).await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    /// The `seq` of `user`'s newest own event.
    pub async fn user_seq(&self, user: UserId) -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT last_seq FROM users WHERE id = $1")
                .bind(user.0)
                .fetch_one(&self.read)
                .await?,
        )
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query_scalar::<_, String>("SELECT username FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|username| User { id, username }))
    }

    pub async fn create_session(
        &self,
        user: UserId,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.write)
        .await?;
        Ok(id)
    }

    /// The unexpired session whose token hashes to `token_hash`.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        let row = sqlx::query_as::<_, SessionUserRow>(
            "SELECT s.id AS session_id, u.id AS user_id, u.username FROM sessions s
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|row| SessionRow {
            id: row.session_id,
            user: User {
                id: UserId(row.user_id),
                username: row.username,
            },
        }))
    }

    /// Remembers a browser as one that has logged in to `user`, forgetting all but the account's
    /// newest `KNOWN_DEVICES_MAX` (clients that keep no cookies would otherwise add one per login).
    pub async fn remember_device(&self, token_hash: &str, user: UserId, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO known_devices (token_hash, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM known_devices WHERE user_id = $1 AND token_hash NOT IN (
                SELECT token_hash FROM known_devices WHERE user_id = $2
                ORDER BY created_at DESC LIMIT $3)",
        )
        .bind(user.0)
        .bind(user.0)
        .bind(KNOWN_DEVICES_MAX)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account a device token was issued for, while it is younger than `max_age_ms`.
    pub async fn device_owner(
        &self,
        token_hash: &str,
        now: i64,
        max_age_ms: i64,
    ) -> Result<Option<UserId>> {
        let owner = sqlx::query_scalar::<_, i64>(
            "SELECT user_id FROM known_devices WHERE token_hash = $1 AND created_at > $2",
        )
        .bind(token_hash)
        .bind(now - max_age_ms)
        .fetch_optional(&self.read)
        .await?;
        Ok(owner.map(UserId))
    }

    /// Whether session `id` still exists and has not expired.
    pub async fn session_is_live(&self, id: i64, now: i64) -> Result<bool> {
        let found = sqlx::query_scalar::<_, i64>(
            "SELECT id FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }

    pub async fn delete_session(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

impl Db {
    /// How many users exist; also the health check's proof that the database answers.
    pub async fn users_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users")
            .fetch_one(&self.read)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_account_remembers_its_newest_devices_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let ann = db.create_user("ann", "hash", 0).await.unwrap();
        for n in 0..=KNOWN_DEVICES_MAX {
            db.remember_device(&format!("d{n}"), ann.id, n)
                .await
                .unwrap();
        }
        let owner = |device: &'static str, now: i64| db.device_owner(device, now, 1000);
        assert_eq!(
            owner("d0", 100).await.unwrap(),
            None,
            "the oldest is forgotten"
        );
        assert_eq!(owner("d1", 100).await.unwrap(), Some(ann.id));
        assert_eq!(owner("d20", 100).await.unwrap(), Some(ann.id));
        assert_eq!(owner("d20", 5000).await.unwrap(), None, "and expires");
        assert_eq!(owner("unknown", 100).await.unwrap(), None);
    }
}
