//! Waiting for someone to come online: a one-shot wish, kept in `waits` until their next arrival
//! ends it with a `user:arrived`, or its owner withdraws it.

use super::contacts::relation_of;
use super::log::{next_user_seq, Append, Fact, Logged, Stream};
use super::{refuse, Db};
use crate::error::Result;
use crate::relations::Pair;
use crate::visibility::may_see;
use app::model::{limits, User, UserId, Visibility};
use app::protocol::{Refusal, ServerEvent};
use sqlx::{Any, Transaction};
use std::collections::HashMap;

/// What a change to the waiting list appends: the list as it now stands.
type WaitsChange = (Vec<User>, Vec<Logged>);

impl Db {
    /// The people `user` waits for, longest first.
    pub async fn waiting(&self, user: UserId) -> Result<Vec<User>> {
        Ok(self
            .waiting_by_user(&[user])
            .await?
            .remove(&user)
            .unwrap_or_default())
    }

    /// The people each of `users` waits for, longest first.
    pub(super) async fn waiting_by_user(
        &self,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Vec<User>>> {
        let ids: Vec<i64> = users.iter().map(|id| id.0).collect();
        let select = "SELECT w.user_id, u.id, u.username, w.since FROM waits w
            JOIN users u ON u.id = w.subject_id WHERE w.user_id IN";
        let mut rows: Vec<(i64, i64, String, i64)> =
            super::rows_for_ids(&self.read, select, &ids).await?;
        rows.sort_by_key(|(owner, subject, _, since)| (*owner, *since, *subject));
        let mut waiting: HashMap<UserId, Vec<User>> =
            users.iter().map(|user| (*user, Vec::new())).collect();
        for (owner, subject, username, _) in rows {
            waiting.entry(UserId(owner)).or_default().push(User {
                id: UserId(subject),
                username,
            });
        }
        Ok(waiting)
    }

    /// `user` starts waiting for `subject`, whose presence they must be allowed to see.
    pub async fn start_waiting(
        &self,
        user: UserId,
        subject: UserId,
        now: i64,
    ) -> Result<WaitsChange> {
        if subject == user {
            return Err(Refusal::IsYou.into());
        }
        let Some(seen) = self.seen_by(user, subject, now).await? else {
            return Err(Refusal::UnknownUser { user_id: subject }.into());
        };
        if !may_see(seen.stored.visibility, seen.pair) {
            return Err(Refusal::PresenceHidden { user_id: subject }.into());
        }
        let mut tx = self.write.begin().await?;
        let seq = next_user_seq(&mut tx, user).await?;
        let added = sqlx::query(
            "INSERT INTO waits (user_id, subject_id, since) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, subject_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(subject.0)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            return refuse(tx, Refusal::AlreadyWaiting).await;
        }
        let held = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM waits WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
        if held > limits::WAITS_MAX as i64 {
            let max = limits::WAITS_MAX;
            return refuse(tx, Refusal::TooManyWaits { max }).await;
        }
        self.log_waiting(tx, user, seq, now).await
    }

    /// `user` stops waiting for `subject`.
    pub async fn stop_waiting(
        &self,
        user: UserId,
        subject: UserId,
        now: i64,
    ) -> Result<WaitsChange> {
        let mut tx = self.write.begin().await?;
        let seq = next_user_seq(&mut tx, user).await?;
        let removed = sqlx::query("DELETE FROM waits WHERE user_id = $1 AND subject_id = $2")
            .bind(user.0)
            .bind(subject.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return refuse(tx, Refusal::NotWaiting).await;
        }
        self.log_waiting(tx, user, seq, now).await
    }

    /// Appends `user`'s `waiting:changed` (at `seq`, taken in `tx`) and commits.
    async fn log_waiting(
        &self,
        mut tx: Transaction<'_, Any>,
        user: UserId,
        seq: i64,
        now: i64,
    ) -> Result<WaitsChange> {
        let waiting = sqlx::query_as::<_, (i64, String)>(
            "SELECT u.id, u.username FROM waits w JOIN users u ON u.id = w.subject_id
             WHERE w.user_id = $1 ORDER BY w.since, u.id",
        )
        .bind(user.0)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, username)| User {
            id: UserId(id),
            username,
        })
        .collect::<Vec<_>>();
        let mut append = Append::default();
        let pushed = waiting.clone();
        append.push(Stream::User(user), seq, Fact::WaitingChanged, move |pos| {
            ServerEvent::WaitingChanged {
                pos,
                seq,
                waiting: pushed,
            }
        });
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok((waiting, logged))
    }

    /// `subject` just came online, as people allowed to see them see it: ends the waits of those
    /// (now) allowed, each with one `user:arrived`. A wait of someone no longer allowed (a block
    /// since, a stricter setting) stays, and does not fire.
    pub async fn end_waits(
        &self,
        subject: &User,
        visibility: Visibility,
        now: i64,
    ) -> Result<Vec<Logged>> {
        let rows = sqlx::query_as::<_, (i64, Option<String>, Option<String>)>(
            "SELECT w.user_id, s.relation, v.relation FROM waits w
             LEFT JOIN contacts s ON s.user_id = $1 AND s.other_id = w.user_id
             LEFT JOIN contacts v ON v.user_id = w.user_id AND v.other_id = $1
             WHERE w.subject_id = $1 ORDER BY w.user_id",
        )
        .bind(subject.id.0)
        .fetch_all(&self.read)
        .await?;
        let mut allowed = Vec::new();
        for (waiter, mine, theirs) in rows {
            let pair = Pair {
                mine: relation_of(mine.as_deref())?,
                theirs: relation_of(theirs.as_deref())?,
            };
            if may_see(visibility, pair) {
                allowed.push(UserId(waiter));
            }
        }
        if allowed.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write.begin().await?;
        let mut append = Append::default();
        for waiter in allowed {
            // The waiter's row lock first, as every writer takes user rows before their other rows:
            // a concurrent `user:wait` by the same person then queues behind this.
            sqlx::query("UPDATE users SET last_seq = last_seq WHERE id = $1")
                .bind(waiter.0)
                .execute(&mut *tx)
                .await?;
            let ended = sqlx::query("DELETE FROM waits WHERE user_id = $1 AND subject_id = $2")
                .bind(waiter.0)
                .bind(subject.id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if ended == 0 {
                continue;
            }
            let seq = next_user_seq(&mut tx, waiter).await?;
            let user = subject.clone();
            append.push(
                Stream::User(waiter),
                seq,
                Fact::UserArrived { user_id: user.id },
                move |pos| ServerEvent::UserArrived { pos, seq, user },
            );
        }
        let logged = append.write(&mut tx, now).await?;
        tx.commit().await?;
        Ok(logged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SettingsChange;

    #[tokio::test]
    async fn one_waits_for_at_most_so_many_people() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let me = db.create_user("me", "hash", 0).await.unwrap();
        let everyone = SettingsChange {
            presence_visibility: Some(Visibility::Everyone),
            ..SettingsChange::default()
        };
        let mut others = Vec::new();
        for n in 0..=limits::WAITS_MAX {
            let other = db.create_user(&format!("p{n}"), "hash", 0).await.unwrap();
            db.update_settings(other.id, everyone, 0).await.unwrap();
            others.push(other);
        }
        for other in &others[..limits::WAITS_MAX] {
            db.start_waiting(me.id, other.id, 1).await.unwrap();
        }
        let again = db.start_waiting(me.id, others[0].id, 1).await;
        assert!(matches!(
            again,
            Err(crate::error::Error::Refused(Refusal::AlreadyWaiting))
        ));
        let over = db
            .start_waiting(me.id, others[limits::WAITS_MAX].id, 1)
            .await;
        assert!(matches!(
            over,
            Err(crate::error::Error::Refused(Refusal::TooManyWaits { .. }))
        ));
        assert_eq!(db.waiting(me.id).await.unwrap().len(), limits::WAITS_MAX);
    }
}
