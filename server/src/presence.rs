//! Presence across the cluster: a user is online while connected to any node, and offline when their
//! last connection anywhere ends, or when the node holding it stops renewing its lease (it died
//! without a goodbye). The database holds the truth (`db/presence.rs`); changes are announced to the
//! other nodes over NATS, and every node pushes `user:status` to its own connections.
//!
//! Each node renews its lease every third of the lease's length, and then also makes the database
//! agree with the connections it really holds, which repairs a change that failed to be stored (the
//! database was briefly down) or a node that others took for dead.

use crate::cluster::Cluster;
use crate::db::{Db, PresenceChange};
use crate::hub::Hub;
use app::model::{Person, UserId};
use app::protocol::ServerEvent;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Presence {
    db: Db,
    hub: Arc<Hub>,
    cluster: Cluster,
    /// This node's name in the `nodes` table, new at every start.
    node: String,
    lease: Duration,
    /// The newest version applied per user, since announcements may arrive out of order.
    applied: Mutex<HashMap<UserId, i64>>,
}

impl Presence {
    /// Registers this node and keeps its lease until `shutdown`.
    pub async fn start(
        db: Db,
        hub: Arc<Hub>,
        cluster: Cluster,
        lease: Duration,
        shutdown: CancellationToken,
    ) -> crate::error::Result<Arc<Self>> {
        let presence = Arc::new(Self {
            node: crate::auth::new_token()[..16].to_string(),
            db,
            hub,
            cluster,
            lease,
            applied: Mutex::new(HashMap::new()),
        });
        presence.renew().await?;
        let keeper = presence.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(keeper.lease / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => keeper.keep_lease().await,
                }
            }
        });
        Ok(presence)
    }

    async fn renew(&self) -> crate::error::Result<bool> {
        let expires_at = crate::now_ms() + self.lease.as_millis() as i64;
        self.db.renew_node(&self.node, expires_at).await
    }

    async fn keep_lease(&self) {
        if let Err(error) = self.renew().await {
            tracing::warn!(%error, "cannot renew this node's presence lease");
            return;
        }
        if let Err(error) = self.reconcile().await {
            tracing::warn!(%error, "cannot reconcile presence");
        }
        match self.db.reap_nodes(crate::now_ms()).await {
            Ok(changes) => changes.into_iter().for_each(|change| self.announce(change)),
            Err(error) => tracing::warn!(%error, "cannot look for dead nodes"),
        }
    }

    /// Makes the database hold exactly the users connected here.
    async fn reconcile(&self) -> crate::error::Result<()> {
        let stored: HashSet<UserId> = self
            .db
            .users_on_node(&self.node)
            .await?
            .into_iter()
            .collect();
        let here: HashSet<UserId> = self.hub.online_users().into_iter().collect();
        for user in here.difference(&stored) {
            self.changed_here(*user, true).await;
        }
        for user in stored.difference(&here) {
            self.changed_here(*user, false).await;
        }
        Ok(())
    }

    /// `user`'s first connection to this node opened (`connected`), or their last one here closed.
    pub async fn changed_here(&self, user: UserId, connected: bool) {
        let now = crate::now_ms();
        match self.db.set_presence(user, &self.node, connected, now).await {
            Ok(Some(change)) => self.announce(change),
            Ok(None) => {}
            // The next renewal reconciles it.
            Err(error) => tracing::warn!(%error, %user, "cannot store a presence change"),
        }
    }

    fn announce(&self, change: PresenceChange) {
        self.cluster.presence_changed(&change);
        self.apply(change);
    }

    /// Pushes a change made here or announced by another node to everyone connected here, unless a
    /// newer one for that user was applied already.
    pub fn apply(&self, change: PresenceChange) {
        {
            let mut applied = self.applied.lock().expect("presence lock");
            let newest = applied.entry(change.user.id).or_insert(i64::MIN);
            if *newest >= change.version {
                return;
            }
            *newest = change.version;
        }
        let status = ServerEvent::UserStatus {
            person: Person {
                online: change.online,
                user: change.user.clone(),
            },
        };
        self.hub.broadcast_except(change.user.id, &status);
    }

    /// Leaves the cluster on a clean stop: this node's users are no longer held here.
    pub async fn leave(&self) {
        if let Err(error) = self.db.remove_node(&self.node).await {
            tracing::warn!(%error, "cannot remove this node's presence");
        }
    }
}
