//! Presence across the cluster: a user is connected while connected to any node, until their last
//! connection anywhere ends, or the node holding it stops renewing its lease (it died without a
//! goodbye). What others see of it also follows the mode and status text the user set. The database
//! holds the truth (`db/presence.rs`).
//!
//! A change others see is announced once, by the node that made it, to an audience it reads from the
//! database: the user's contacts and direct-chat peers whom `visibility` lets see it. The announcement
//! goes to the other nodes over NATS, and each node pushes `user:status` to the audience's
//! connections it holds. Nobody else hears anything, so a person not allowed to see someone cannot
//! even time their comings and goings. A change of who may see (a friendship made or ended, a block,
//! the visibility setting) tells just the people whose view changed.
//!
//! Each node renews its lease every third of the lease's length, and then also makes the database
//! agree with the connections it really holds, which repairs a change that failed to be stored (the
//! database was briefly down) or a node that others took for dead.

use crate::cluster::Cluster;
use crate::db::{Db, PresenceChange, RelationChange};
use crate::hub::Hub;
use crate::relations::Pair;
use crate::relay::Relay;
use crate::visibility::may_see;
use app::model::{Person, Relation, UserId, Visibility};
use app::protocol::ServerEvent;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Presence {
    db: Db,
    hub: Arc<Hub>,
    cluster: Cluster,
    /// Delivers the `user:arrived` events that end waits.
    relay: Relay,
    /// This node's name in the `nodes` table, new at every start.
    node: String,
    lease: Duration,
    /// The newest version applied per user, since announcements may arrive out of order.
    applied: Mutex<HashMap<UserId, i64>>,
    /// One user's presence writes on this node take turns (users share a turn by their id), and
    /// each stores what the hub holds when it runs: a connect and a disconnect whose writes cross
    /// then still leave the last write, and the database, with the truth.
    turns: Vec<tokio::sync::Mutex<()>>,
}

/// How many turns users share; any two users rarely wait for each other.
const TURNS: usize = 64;

/// Who is to hear what of someone's presence: sent between nodes, and pushed as `user:status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    pub person: Person,
    /// The subject's presence version this view was read at.
    pub version: i64,
    pub audience: Vec<UserId>,
}

impl Presence {
    /// Registers this node and keeps its lease until `shutdown`.
    pub async fn start(
        db: Db,
        hub: Arc<Hub>,
        cluster: Cluster,
        relay: Relay,
        lease: Duration,
        shutdown: CancellationToken,
    ) -> crate::error::Result<Arc<Self>> {
        let presence = Arc::new(Self {
            node: crate::auth::new_token()[..16].to_string(),
            db,
            hub,
            cluster,
            relay,
            lease,
            applied: Mutex::new(HashMap::new()),
            turns: (0..TURNS).map(|_| tokio::sync::Mutex::new(())).collect(),
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
            Ok(changes) => {
                for change in changes {
                    self.announce(change).await;
                }
            }
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
        for user in here.symmetric_difference(&stored) {
            self.changed_here(*user).await;
        }
        Ok(())
    }

    /// `user`'s first connection to this node opened, or their last one here closed: stores
    /// whether this node holds them now.
    pub async fn changed_here(&self, user: UserId) {
        let _turn = self.turns[user.0.unsigned_abs() as usize % TURNS]
            .lock()
            .await;
        let connected = self.hub.is_connected(user);
        let now = crate::now_ms();
        match self.db.set_presence(user, &self.node, connected, now).await {
            Ok(Some(change)) => self.announce(change).await,
            Ok(None) => {}
            // The next renewal reconciles it.
            Err(error) => tracing::warn!(%error, %user, "cannot store a presence change"),
        }
    }

    /// Tells everyone allowed to follow the user of a change they see, and on an arrival ends the
    /// waits for them.
    pub async fn announce(&self, change: PresenceChange) {
        if change.arrived {
            let ended = self
                .db
                .end_waits(&change.user, change.stored.visibility, crate::now_ms())
                .await;
            match ended {
                Ok(logged) => self.relay.committed(logged),
                // The waits stay for the next arrival.
                Err(error) => {
                    tracing::warn!(%error, user = %change.user.id, "cannot end the waits for an arrival")
                }
            }
        }
        let followers = match self.db.presence_followers(change.user.id).await {
            Ok(followers) => followers,
            Err(error) => {
                tracing::warn!(%error, user = %change.user.id, "cannot tell who follows a presence change");
                return;
            }
        };
        let visibility = change.stored.visibility;
        let audience = followers
            .into_iter()
            .filter(|(_, pair)| may_see(visibility, *pair))
            .map(|(viewer, _)| viewer)
            .collect();
        self.publish(Announcement {
            person: Person {
                user: change.user,
                presence: Some(change.stored.public()),
            },
            version: change.version,
            audience,
        });
    }

    /// A relation changed (and both users' presence versions with it). Each side is told what it
    /// now sees of the other where that changed, except what would give a block away: to the person
    /// blocked, a block reads as the friendship or request ending, and an unblock as nothing. The
    /// others allowed to see each user hear their presence again at the new version, so an older
    /// announcement still on its way, now dropped, costs them nothing.
    pub async fn relation_changed(&self, actor: UserId, change: &RelationChange) {
        let mirrored = |pair: Pair| Pair {
            mine: pair.theirs,
            theirs: pair.mine,
        };
        let without_actors_block = |pair: Pair| Pair {
            mine: match pair.mine {
                Relation::Blocked => Relation::None,
                other => other,
            },
            theirs: pair.theirs,
        };
        let sides = [
            // The actor's presence, as the other sees it.
            (
                actor,
                change.other,
                without_actors_block(change.before),
                without_actors_block(change.after),
            ),
            // The other's presence, as the actor sees it.
            (
                change.other,
                actor,
                mirrored(change.before),
                mirrored(change.after),
            ),
        ];
        for (subject, viewer, before, after) in sides {
            if let Err(error) = self.reannounce(subject, viewer, before, after).await {
                tracing::warn!(%error, "cannot announce a presence after a relation changed");
            }
        }
    }

    /// Tells `viewer` what they now see of `subject` if the change from `before` to `after` (pairs
    /// from the subject's side, as the viewer may know them) changed it, and everyone else allowed
    /// what they see still.
    async fn reannounce(
        &self,
        subject: UserId,
        viewer: UserId,
        before: Pair,
        after: Pair,
    ) -> crate::error::Result<()> {
        let (followers, seen) = tokio::try_join!(
            self.db.presence_followers(subject),
            self.db.seen_by(viewer, subject, crate::now_ms())
        )?;
        let Some(seen) = seen else { return Ok(()) };
        let visibility = seen.stored.visibility;
        let (was, is) = (may_see(visibility, before), may_see(visibility, after));
        let newly_related = before == Pair::default() && after != Pair::default();
        // What the viewer is told, if anything: never more than they may truly see now.
        let told = match seen.stored.shown_to(seen.pair) {
            Some(presence) if !was || newly_related => Some(Some(presence)),
            None if was && !is => Some(None),
            _ => None,
        };
        if let Some(presence) = told {
            self.publish(Announcement {
                person: Person {
                    user: seen.user.clone(),
                    presence,
                },
                version: seen.version,
                audience: vec![viewer],
            });
        }
        let others = followers
            .into_iter()
            .filter(|(follower, pair)| *follower != viewer && may_see(visibility, *pair))
            .map(|(follower, _)| follower)
            .collect::<Vec<_>>();
        if !others.is_empty() {
            self.publish(Announcement {
                person: Person {
                    user: seen.user,
                    presence: Some(seen.stored.public()),
                },
                version: seen.version,
                audience: others,
            });
        }
        Ok(())
    }

    /// The user changed who may see them (and their presence version with it): those who lost the
    /// view are told it is gone, and everyone allowed hears the presence at the new version.
    pub async fn visibility_changed(&self, subject: UserId, before: Visibility, after: Visibility) {
        let now = crate::now_ms();
        let (followers, seen) = match tokio::try_join!(
            self.db.presence_followers(subject),
            self.db.seen_by(subject, subject, now)
        ) {
            Ok((followers, Some(seen))) => (followers, seen),
            Ok((_, None)) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read a presence after its visibility changed");
                return;
            }
        };
        let (mut allowed, mut lost) = (Vec::new(), Vec::new());
        for (viewer, pair) in followers {
            match (may_see(before, pair), may_see(after, pair)) {
                (_, true) => allowed.push(viewer),
                (true, false) => lost.push(viewer),
                (false, false) => {}
            }
        }
        for (audience, presence) in [(allowed, Some(seen.stored.public())), (lost, None)] {
            if !audience.is_empty() {
                self.publish(Announcement {
                    person: Person {
                        user: seen.user.clone(),
                        presence,
                    },
                    version: seen.version,
                    audience,
                });
            }
        }
    }

    fn publish(&self, announcement: Announcement) {
        self.cluster.presence_changed(&announcement);
        self.apply(announcement);
    }

    /// Pushes an announcement made here or by another node to its audience connected here, unless
    /// a newer one for that user was applied already.
    pub fn apply(&self, announcement: Announcement) {
        {
            let mut applied = self.applied.lock().expect("presence lock");
            let newest = applied
                .entry(announcement.person.user.id)
                .or_insert(i64::MIN);
            // Equal versions pass: one change may be told in several announcements (different
            // views for different audiences), all at its version.
            if *newest > announcement.version {
                return;
            }
            *newest = announcement.version;
        }
        let status = ServerEvent::UserStatus {
            person: announcement.person,
        };
        self.hub.push(&announcement.audience, &status);
    }

    /// This node's name in the `nodes` table.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// Leaves the cluster on a clean stop: this node's users are no longer held here.
    pub async fn leave(&self) {
        if let Err(error) = self.db.remove_node(&self.node).await {
            tracing::warn!(%error, "cannot remove this node's presence");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LiveState;

    /// Connections that open and close while their presence writes are still under way leave the
    /// database agreeing with the hub, whatever order the writes run in.
    #[tokio::test]
    async fn crossing_presence_writes_store_what_the_hub_holds() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let state = LiveState::start(db, Cluster::default(), Duration::from_secs(15))
            .await
            .unwrap();
        let user = state.db.create_user("ann", "hash", 0).await.unwrap().id;
        for round in 0..20 {
            let first = state.hub.register(user, 1);
            let connected = tokio::spawn({
                let presence = state.presence.clone();
                async move { presence.changed_here(user).await }
            });
            state.hub.unregister(user, first.id);
            let left = tokio::spawn({
                let presence = state.presence.clone();
                async move { presence.changed_here(user).await }
            });
            let second = state.hub.register(user, 2);
            state.presence.changed_here(user).await;
            connected.await.unwrap();
            left.await.unwrap();
            let stored = state
                .db
                .users_on_node(state.presence.node_name())
                .await
                .unwrap();
            assert_eq!(stored, vec![user], "round {round}: connected, so stored");
            state.hub.unregister(user, second.id);
            state.presence.changed_here(user).await;
            let stored = state
                .db
                .users_on_node(state.presence.node_name())
                .await
                .unwrap();
            assert!(stored.is_empty(), "round {round}: gone, so not stored");
        }
    }
}
