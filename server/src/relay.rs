//! Delivers the event log to this node's connections: in log order, each event once.
//!
//! Events reach the relay as wake-ups: this node's own writes, right after they commit, and the other
//! nodes' over NATS. A wake-up that is next in line is delivered at once. One further ahead means an
//! event in between has not arrived (a concurrent write that has not handed over yet, or a lost
//! wake-up), so the relay reads the log from where it stands instead. Because positions follow commit
//! order without gaps, what it reads is complete. It also looks at the log's head every few seconds,
//! so a lost wake-up at the end of a burst delays its event by that much at most; while NATS is
//! unreachable it looks every quarter second.

use crate::cluster::Cluster;
use crate::db::{Db, Logged, Stream};
use crate::error::Result;
use crate::hub::Hub;
use app::model::{ChatId, UserId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the relay compares what it delivered with the log's head: as a safety net while wake-ups
/// arrive, and as the way events arrive while NATS is unreachable.
const HEAD_CHECK: Duration = Duration::from_secs(2);
const HEAD_CHECK_DEGRADED: Duration = Duration::from_millis(250);
/// Events read from the log at a time while catching up.
const CATCH_UP_BATCH: u32 = 500;
/// Chats whose members are kept in memory; past it the cache starts afresh.
const MEMBER_CACHE_CHATS: usize = 10_000;

/// Hands committed events to the relay.
#[derive(Clone)]
pub struct Relay {
    wake: mpsc::UnboundedSender<Vec<Logged>>,
    cluster: Cluster,
}

impl Relay {
    /// Starts the relay's task, which runs until `shutdown`.
    pub fn start(db: Db, hub: Arc<Hub>, cluster: Cluster, shutdown: CancellationToken) -> Self {
        let (wake, wakes) = mpsc::unbounded_channel();
        let worker = Worker {
            db,
            hub,
            cluster: cluster.clone(),
            members: HashMap::new(),
        };
        tokio::spawn(worker.run(wakes, shutdown));
        Self { wake, cluster }
    }

    /// Delivers events this node just committed, here and on every other node.
    pub fn committed(&self, logged: Vec<Logged>) {
        if logged.is_empty() {
            return;
        }
        self.cluster.committed(&logged);
        self.woken(logged);
    }

    /// Wakes the relay with events just committed, on this node or another.
    pub fn woken(&self, logged: Vec<Logged>) {
        if !logged.is_empty() {
            // Only fails once the relay has stopped, at shutdown: nobody is left to deliver to.
            let _ = self.wake.send(logged);
        }
    }
}

struct Worker {
    db: Db,
    hub: Arc<Hub>,
    cluster: Cluster,
    /// Each chat's membership periods, as of the last membership change delivered.
    members: HashMap<ChatId, Vec<crate::db::MemberPeriod>>,
}

impl Worker {
    async fn run(
        mut self,
        mut wakes: mpsc::UnboundedReceiver<Vec<Logged>>,
        shutdown: CancellationToken,
    ) {
        let mut degraded = false;
        let mut next_check = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(batch) = wakes.recv() => self.offered(batch).await,
                _ = tokio::time::sleep_until(next_check) => {
                    if degraded != self.cluster.degraded() {
                        degraded = !degraded;
                        if degraded {
                            tracing::warn!("NATS is unreachable: reading the log every 250 ms");
                        } else {
                            tracing::info!("NATS is back: delivering on its wake-ups");
                        }
                    }
                    self.catch_up().await;
                    let every = if degraded { HEAD_CHECK_DEGRADED } else { HEAD_CHECK };
                    next_check = tokio::time::Instant::now() + every;
                }
            }
        }
    }

    async fn offered(&mut self, batch: Vec<Logged>) {
        for logged in batch {
            let delivered = self.hub.delivered();
            if logged.pos <= delivered {
                continue;
            }
            let delivered_now = if logged.pos == delivered + 1 {
                self.deliver(logged).await
            } else {
                tracing::debug!(
                    delivered,
                    offered = logged.pos,
                    "reading the log to fill a gap"
                );
                self.catch_up().await
            };
            if !delivered_now {
                return;
            }
        }
    }

    /// Reads and delivers the log from where delivery stands; false if the database failed (the next
    /// head check tries again).
    async fn catch_up(&mut self) -> bool {
        loop {
            let after = self.hub.delivered();
            let events = match self.db.log_after(after, CATCH_UP_BATCH).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, after, "cannot read the log; retrying shortly");
                    return false;
                }
            };
            let complete = events.len() < CATCH_UP_BATCH as usize;
            for logged in events {
                if !self.deliver(logged).await {
                    return false;
                }
            }
            if complete {
                return true;
            }
        }
    }

    async fn deliver(&mut self, logged: Logged) -> bool {
        // Periods read before a membership change lack the one it opens (a newcomer sees the line
        // telling of their arrival) or ends; those read now hold it, and any later change's
        // periods only count from later seqs.
        if let Some(chat) = logged.membership_of() {
            self.members.remove(&chat);
        }
        let recipients = match self.recipients(&logged).await {
            Ok(recipients) => recipients,
            Err(error) => {
                tracing::warn!(%error, pos = logged.pos, "cannot tell who gets an event; retrying shortly");
                return false;
            }
        };
        self.hub.deliver(logged.pos, &recipients, &logged.event);
        true
    }

    /// Who sees `logged`: its user, or the chat's members whose period covers its seq (and that of
    /// the message it is about).
    async fn recipients(&mut self, logged: &Logged) -> Result<Vec<UserId>> {
        let chat = match logged.stream {
            Stream::User(user) => return Ok(vec![user]),
            Stream::Chat(chat) => chat,
        };
        if !self.members.contains_key(&chat) {
            if self.members.len() >= MEMBER_CACHE_CHATS {
                self.members.clear();
            }
            let periods = self.db.member_periods(chat).await?;
            self.members.insert(chat, periods);
        }
        let about = logged.fact.about_seq();
        Ok(self.members[&chat]
            .iter()
            .filter(|period| period.sees_about(logged.seq, about))
            .map(|period| UserId(period.user_id))
            .collect())
    }
}
