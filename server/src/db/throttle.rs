//! Attempt counts for the throttles (`crate::throttle`), shared by every node.

use super::Db;
use crate::error::Result;

#[derive(sqlx::FromRow)]
struct WindowRow {
    expires_at: i64,
    attempts: i64,
}

impl Db {
    /// Counts one attempt against every key, each in its window of `length_ms` (opening a new one
    /// where the last has closed), if all are under their limits. Otherwise counts nothing and
    /// returns how long, in milliseconds, until the last full key's window closes. Each key's row
    /// stays locked until the transaction ends, so concurrent attempts are counted one by one.
    pub async fn take_attempt(
        &self,
        keys: &[(String, u32)],
        length_ms: i64,
        now: i64,
    ) -> Result<Result<(), i64>> {
        let mut tx = self.write.begin().await?;
        let mut wait = None;
        for (key, limit) in keys {
            let window = sqlx::query_as::<_, WindowRow>(
                "INSERT INTO throttle_windows (key, expires_at, attempts) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                   attempts = CASE WHEN throttle_windows.expires_at <= $3 THEN 1
                                   ELSE throttle_windows.attempts + 1 END,
                   expires_at = CASE WHEN throttle_windows.expires_at <= $3 THEN $2
                                     ELSE throttle_windows.expires_at END
                 RETURNING expires_at, attempts",
            )
            .bind(key)
            .bind(now + length_ms)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            if window.attempts > i64::from(*limit) {
                wait = wait.max(Some(window.expires_at - now));
            }
        }
        match wait {
            Some(wait) => {
                tx.rollback().await?;
                Ok(Err(wait))
            }
            None => {
                tx.commit().await?;
                Ok(Ok(()))
            }
        }
    }

    /// Takes back one attempt from each key.
    pub async fn refund_attempts(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            sqlx::query(
                "UPDATE throttle_windows SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0",
            )
            .bind(key)
            .execute(&self.write)
            .await?;
        }
        Ok(())
    }

    /// Forgets a key's attempts.
    pub async fn clear_attempts(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM throttle_windows WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Drops windows closed before `now`.
    pub async fn prune_attempts(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM throttle_windows WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
