//! Storage: SQLite (embedded, the default) or PostgreSQL, chosen by the database URL at start.
//!
//! Every query is written once, in SQL both accept, and runs through sqlx's `Any` driver. What truly
//! differs lives in this file alone: each backend's migrations, how its pools are set up, and how its
//! errors are classified.
//!
//! On SQLite, writes go through a pool of one connection: SQLite allows one writer at a time anyway,
//! and queuing writers in-process avoids `SQLITE_BUSY` on lock upgrades; reads use their own pool,
//! which WAL lets run beside the writer. On PostgreSQL one pool serves both.

mod accounts;
pub use accounts::SessionRow;
mod chats;
pub use chats::HistoryFrom;
mod contacts;
mod groups;
mod messages;
mod reads;
pub use contacts::{RelationChange, SettingsChange};
mod log;
mod media;
pub use log::{Fact, Logged, MemberPeriod, Stream};
mod presence;
pub use presence::{PresenceChange, Seen};
pub use reads::UnreadTotals;
mod throttle;
mod waits;

use crate::error::{Error, Result};
use sqlx::any::AnyPoolOptions;
use sqlx::Executor;
use sqlx::{AnyConnection, AnyPool};
use std::time::Duration;

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::Internal(format!(
                "unsupported database URL {url:?}: use sqlite://<file> or postgres://…"
            )))
        }
    }
}

/// How long a request waits for a database connection before it answers `unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    /// The log's epoch, fixed when the database was created.
    epoch: std::sync::Arc<str>,
}

impl Db {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url)?;
        let (read, write) = match backend {
            Backend::Sqlite => {
                // Migrations may change a table's definition in place, which only connections
                // opened afterwards see: they get a connection of their own.
                let migrating = sqlite_pool(url, "rwc", 1).await?;
                migrate(&migrating, backend).await?;
                migrating.close().await;
                let write = sqlite_pool(url, "rw", 1).await?;
                (sqlite_pool(url, "ro", 8).await?, write)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?;
                migrate(&pool, backend).await?;
                (pool.clone(), pool)
            }
        };
        let epoch = log::open_log(&write).await?;
        Ok(Self {
            read,
            write,
            backend,
            epoch: epoch.into(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

async fn migrate(pool: &AnyPool, backend: Backend) -> Result<()> {
    let migrated = match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(pool).await,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(pool).await,
    };
    migrated.map_err(|e| Error::Internal(format!("migrations failed: {e}")))
}

/// A pool on the SQLite file of `url`, opened in `mode` (`rwc` creates it).
async fn sqlite_pool(url: &str, mode: &str, connections: u32) -> Result<AnyPool> {
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|connection: &mut AnyConnection, _| {
            Box::pin(async move {
                // Acknowledged means durable, even on power loss.
                connection
                    .execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                Ok(())
            })
        })
        .connect(&format!("{url}{separator}mode={mode}"))
        .await?)
}

/// A database error the client may retry: busy, locked or unreachable databases, exhausted pools.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
            let sqlite_busy = code
                .parse::<i32>()
                .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
            // PostgreSQL: connection exceptions (08…), shutting down or starting (57P0…), too many
            // connections, and conflicts a retry resolves (serialization failure, deadlock).
            let postgres_unavailable = code.starts_with("08")
                || code.starts_with("57P0")
                || matches!(code.as_ref(), "53300" | "40001" | "40P01");
            sqlite_busy || postgres_unavailable
        }
        _ => false,
    }
}

/// Whether `error` is a unique constraint's violation, on either backend.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `$1, $2, …`: `count` numbered placeholders for an `IN` list.
fn placeholders(count: usize) -> String {
    (1..=count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows `select` (a query ending in `IN`) finds for `ids`, in no particular order. The ids go in
/// slices, so a long list stays within every backend's limit on bound values.
async fn rows_for_ids<R>(pool: &AnyPool, select: &str, ids: &[i64]) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut rows = Vec::with_capacity(ids.len());
    for slice in ids.chunks(500) {
        let sql = format!("{select} ({})", placeholders(slice.len()));
        let mut query = sqlx::query_as::<_, R>(&sql);
        for id in slice {
            query = query.bind(*id);
        }
        rows.extend(query.fetch_all(pool).await?);
    }
    Ok(rows)
}

/// Rolls back `tx` and returns `error`: the refusal a check inside a write transaction found.
async fn refuse<T>(tx: sqlx::Transaction<'_, sqlx::Any>, error: impl Into<Error>) -> Result<T> {
    tx.rollback().await?;
    Err(error.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{ChatId, ChatKind, GroupTitle, MessageBody, MessageId, Nonce, UserId};

    /// A SQLite database at `dir` made by the release whose newest migration is `last`, open on
    /// one connection; and its URL.
    async fn made_by_release_up_to(dir: &std::path::Path, last: &str) -> (AnyPool, String) {
        let release = dir.join("release");
        std::fs::create_dir(&release).unwrap();
        let from = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        for entry in std::fs::read_dir(from).unwrap() {
            let name = entry.unwrap().file_name();
            if name.to_str().unwrap() <= last {
                std::fs::copy(std::path::Path::new(from).join(&name), release.join(&name)).unwrap();
            }
        }
        let url = format!("sqlite://{}/natter.db", dir.display());
        sqlx::any::install_default_drivers();
        let old = sqlite_pool(&url, "rwc", 1).await.unwrap();
        sqlx::migrate::Migrator::new(release.as_path())
            .await
            .unwrap()
            .run(&old)
            .await
            .unwrap();
        (old, url)
    }

    /// A database made by the release before the event log keeps its chats and history.
    #[tokio::test]
    async fn upgrading_to_the_event_log_keeps_chats_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let (old, url) = made_by_release_up_to(dir.path(), "0003_chat_activity.sql").await;
        old.execute(
            "INSERT INTO users (id, username, password_hash, created_at, last_seq)
                 VALUES (1, 'ann', 'h', 0, 2), (2, 'bob', 'h', 0, 2);
             INSERT INTO chats (id, kind, direct_key, created_at, active_at) VALUES (1, 'direct', '1:2', 0, 5);
             INSERT INTO chat_members (chat_id, user_id, joined_at) VALUES (1, 1, 0), (1, 2, 0);
             INSERT INTO messages (id, chat_id, sender_id, nonce, body, sent_at) VALUES (1, 1, 1, 'n1', 'hello', 5);
             UPDATE chats SET last_message_id = 1 WHERE id = 1;
             INSERT INTO stream_events (user_id, seq, event, created_at) VALUES (2, 1, '{}', 0);",
        )
        .await
        .unwrap();
        old.close().await;

        let db = Db::open(&url).await.unwrap();
        let (chats, _) = db.chats_page(UserId(2), None, 10).await.unwrap();
        assert_eq!(chats.len(), 1);
        assert_eq!(chats[0].kind, ChatKind::Direct);
        assert_eq!(chats[0].members.len(), 2);
        assert_eq!(chats[0].last_message.as_ref().unwrap().text, "hello");
        let latest = HistoryFrom::Before(None);
        let (history, _) = db.history(UserId(2), ChatId(1), latest, 10).await.unwrap();
        assert_eq!(history.len(), 1);

        let ann = db.user(UserId(1)).await.unwrap().unwrap();
        let title = GroupTitle::parse("after").unwrap();
        let (group, _) = db
            .create_group(&ann, &title, &[UserId(2)], false, 10, 6)
            .await
            .unwrap();
        assert_eq!(group.kind, ChatKind::Group, "the widened kinds hold");

        let body = MessageBody::parse("after the upgrade".into()).unwrap();
        let nonce = Nonce::parse("n2".into()).unwrap();
        let (_, logged) = db
            .send_message(UserId(1), ChatId(1), &nonce, &body, 6)
            .await
            .unwrap();
        assert_eq!(
            (logged[0].pos, logged[0].seq),
            (4, 1),
            "after the group's two chat:new and its first line"
        );
        let page = db.sync(UserId(2), db.epoch(), 0, 10).await.unwrap();
        assert_eq!(
            page.events.len(),
            3,
            "bob's chat:new for the group, its first line, and the message"
        );
        let (history, _) = db.history(UserId(2), ChatId(1), latest, 10).await.unwrap();
        assert_eq!(
            history.len(),
            2,
            "the message from before the log, and the new one"
        );
    }

    /// Read positions from before `read_marked` count as marked only where their member sent a
    /// read in their current membership period: a newcomer's starting position stays unmarked.
    #[tokio::test]
    async fn upgrading_marks_only_the_read_positions_someone_sent() {
        let dir = tempfile::tempdir().unwrap();
        let (old, url) = made_by_release_up_to(dir.path(), "0009_reads.sql").await;
        old.execute(
            r#"INSERT INTO users (id, username, password_hash, created_at)
                 VALUES (1, 'ann', 'h', 0), (2, 'bob', 'h', 0), (3, 'cat', 'h', 0);
             INSERT INTO chats (id, kind, created_at, active_at, last_seq, title)
                 VALUES (1, 'group', 0, 2, 4, 'Team');
             INSERT INTO messages (id, chat_id, sender_id, nonce, body, sent_at, seq, system) VALUES
                 (1, 1, 1, 'system 1 1', 'ann created the group', 0, 1, '{"change":"created","title":"Team"}'),
                 (2, 1, 1, 'n2', 'hello', 1, 2, NULL),
                 (3, 1, 1, 'system 1 4', 'ann added cat', 2, 4, '{"change":"added","users":[{"id":3,"username":"cat"}]}');
             UPDATE chats SET last_message_id = 3;
             INSERT INTO chat_members (chat_id, user_id, joined_at, joined_seq, role, read_through) VALUES
                 (1, 1, 0, 0, 'owner', 1), (1, 2, 0, 0, 'member', 2), (1, 3, 2, 3, 'member', 3);
             INSERT INTO events (pos, chat_id, seq, fact, created_at) VALUES
                 (1, 1, 2, '{"fact":"chat_read@1","user_id":3,"read":1}', 1),
                 (2, 1, 3, '{"fact":"chat_read@1","user_id":2,"read":2}', 1);"#,
        )
        .await
        .unwrap();
        old.close().await;

        let db = Db::open(&url).await.unwrap();
        let (chats, _) = db.chats_page(UserId(1), None, 10).await.unwrap();
        let group = &chats[0];
        assert_eq!(group.read_by(UserId(2)), Some(MessageId(2)), "bob read it");
        assert_eq!(group.read_by(UserId(1)), None, "ann never sent a read");
        assert_eq!(
            group.read_by(UserId(3)),
            None,
            "cat only arrived; her read was from an earlier period"
        );
    }
}
