//! Uploaded files' rows: what each is and whose, and each person's total against their quota.

use super::{refuse, Db};
use crate::error::{Error, Result};
use app::model::{Media, MediaId, MediaKind, UserId};
use app::protocol::Refusal;

#[derive(sqlx::FromRow)]
struct MediaRow {
    id: String,
    kind: String,
    mime: String,
    size: i64,
    name: String,
}

impl TryFrom<MediaRow> for Media {
    type Error = Error;

    fn try_from(row: MediaRow) -> Result<Self> {
        let kind = MediaKind::from_stored(&row.kind)
            .ok_or_else(|| Error::Internal(format!("file {} has kind {:?}", row.id, row.kind)))?;
        Ok(Media {
            id: MediaId(row.id),
            kind,
            mime: row.mime,
            size: u64::try_from(row.size).unwrap_or(0),
            name: row.name,
        })
    }
}

/// Bytes as the database keeps them.
fn stored(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

impl Db {
    /// Bytes `user`'s files take in all.
    pub async fn media_bytes(&self, user: UserId) -> Result<u64> {
        let bytes = sqlx::query_scalar::<_, i64>("SELECT media_bytes FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&self.read)
            .await?
            .unwrap_or(0);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// Records `media`, stored for `owner`, if their files then take at most `quota` bytes; if
    /// not (another upload took the room meanwhile), records nothing and refuses.
    pub async fn add_media(
        &self,
        owner: UserId,
        media: &Media,
        quota: u64,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let counted = sqlx::query(
            "UPDATE users SET media_bytes = media_bytes + $2
             WHERE id = $1 AND media_bytes + $2 <= $3",
        )
        .bind(owner.0)
        .bind(stored(media.size))
        .bind(stored(quota))
        .execute(&mut *tx)
        .await?;
        if counted.rows_affected() == 0 {
            let refusal = Refusal::FileQuotaFull { quota_bytes: quota };
            return refuse(tx, refusal).await;
        }
        sqlx::query(
            "INSERT INTO media (id, owner_id, kind, mime, size, name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&media.id.0)
        .bind(owner.0)
        .bind(media.kind.as_str())
        .bind(&media.mime)
        .bind(stored(media.size))
        .bind(&media.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uploads created before `before` and attached to no message, oldest first, at most `limit`.
    pub async fn unattached_media(&self, before: i64, limit: u32) -> Result<Vec<MediaId>> {
        let ids = sqlx::query_scalar::<_, String>(
            "SELECT id FROM media WHERE message_id IS NULL AND created_at < $1
             ORDER BY created_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(ids.into_iter().map(MediaId).collect())
    }

    /// Forgets the unattached upload `id` and gives its bytes back to its owner's quota; false if
    /// it was gone, or attached meanwhile.
    pub async fn forget_unattached_media(&self, id: &MediaId) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let forgotten = sqlx::query_as::<_, (i64, i64)>(
            "DELETE FROM media WHERE id = $1 AND message_id IS NULL RETURNING owner_id, size",
        )
        .bind(&id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((owner, size)) = forgotten else {
            tx.rollback().await?;
            return Ok(false);
        };
        sqlx::query("UPDATE users SET media_bytes = media_bytes - $2 WHERE id = $1")
            .bind(owner)
            .bind(size)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The file `id` if `viewer` may have it: for now, only its owner may.
    pub async fn media_for(&self, viewer: UserId, id: &MediaId) -> Result<Option<Media>> {
        let row = sqlx::query_as::<_, MediaRow>(
            "SELECT id, kind, mime, size, name FROM media WHERE id = $1 AND owner_id = $2",
        )
        .bind(&id.0)
        .bind(viewer.0)
        .fetch_optional(&self.read)
        .await?;
        row.map(Media::try_from).transpose()
    }
}
