//! Users and their sessions.

use super::Db;
use crate::error::{Error, Result};
use app::model::{User, UserId};

/// A valid session, as the token that presents it resolves to.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: i64,
    pub user: User,
}

impl Db {
    /// Registers a user; a taken username (in any letter case) is a conflict.
    pub async fn create_user(&self, username: &str, password_hash: &str, now: i64) -> Result<User> {
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.write)
        .await;
        match inserted {
            Ok(id) => Ok(User {
                id: UserId(id),
                username: username.to_string(),
            }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Conflict("That username is taken.".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The user with this username (any letter case) and their password hash.
    pub async fn find_credentials(&self, username: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query_as::<_, (i64, String, String)>(
            "SELECT id, username, password_hash FROM users WHERE lower(username) = lower(?)",
        )
        .bind(username)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, username, hash)| {
            (
                User {
                    id: UserId(id),
                    username,
                },
                hash,
            )
        }))
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query_as::<_, (i64, String)>("SELECT id, username FROM users ORDER BY id")
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

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query_scalar::<_, String>("SELECT username FROM users WHERE id = ?")
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
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)
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
        let row = sqlx::query_as::<_, (i64, i64, String)>(
            "SELECT s.id, u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(id, user_id, username)| SessionRow {
            id,
            user: User {
                id: UserId(user_id),
                username,
            },
        }))
    }

    /// Remembers a browser as one that has logged in to `user`.
    pub async fn remember_device(&self, token_hash: &str, user: UserId, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO known_devices (token_hash, user_id, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(user.0)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The account a device token was issued for.
    pub async fn device_owner(&self, token_hash: &str) -> Result<Option<UserId>> {
        let owner =
            sqlx::query_scalar::<_, i64>("SELECT user_id FROM known_devices WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?;
        Ok(owner.map(UserId))
    }

    pub async fn delete_session(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = ?")
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
