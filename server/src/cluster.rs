//! Several nodes sharing one database, told of each other's writes over NATS.
//!
//! NATS is a wake-up, never the truth. A node publishes the events it committed; the others hand
//! them to their relays, which deliver them in log order and read the log for whatever did not
//! arrive. While NATS is unreachable the relays read the log on a short interval instead, and
//! `/healthz` says so. Subjects carry the log's epoch, so clusters on different databases that share
//! a NATS server never mix.

use crate::connection_counts::{self, ConnectionCounts, CountsReport};
use crate::db::Logged;
use crate::error::{Error, Result};
use crate::hub::{CloseReason, Hub};
use crate::presence::{Announcement, Presence};
use crate::relay::Relay;
use crate::typing::{Typing, TypingNews};
use app::protocol::close_code;
use futures::StreamExt;
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// This node's link to the others, if it has any.
#[derive(Clone, Default)]
pub struct Cluster {
    nats: Option<Link>,
}

#[derive(Clone)]
struct Link {
    client: async_nats::Client,
    /// `natter.<epoch>`: the prefix of every subject this cluster uses.
    prefix: String,
}

/// Why a session's sockets close when it logs out, on whichever node they are.
pub const LOGGED_OUT: CloseReason = CloseReason {
    code: close_code::UNAUTHORIZED,
    reason: "logged out",
};

impl Cluster {
    /// Connects to NATS at `url`. A server that cannot be reached yet is retried in the background:
    /// the node starts degraded rather than not at all.
    pub async fn join(url: &str, epoch: &str) -> Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("natter")
            // A node hears its own writes directly, not back from NATS.
            .no_echo()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .map_err(|e| Error::Internal(format!("cannot use NATS at {url}: {e}")))?;
        Ok(Self {
            nats: Some(Link {
                client,
                prefix: format!("natter.{epoch}"),
            }),
        })
    }

    /// Whether this node belongs to a cluster but cannot reach NATS now.
    pub fn degraded(&self) -> bool {
        self.nats.as_ref().is_some_and(|link| {
            link.client.connection_state() != async_nats::connection::State::Connected
        })
    }

    /// Tells the other nodes of events this node committed.
    pub fn committed(&self, logged: &[Logged]) {
        self.publish("log", logged);
    }

    /// Tells the other nodes to close the sockets of a session that logged out.
    pub fn session_ended(&self, session_id: i64) {
        self.publish("sessions.ended", &session_id);
    }

    /// Tells the other nodes who is to hear of a presence change.
    pub fn presence_changed(&self, announcement: &Announcement) {
        self.publish("presence", announcement);
    }

    /// Tells the other nodes that someone began, went on or stopped typing.
    pub fn typing(&self, news: &TypingNews) {
        self.publish("typing", news);
    }

    fn publish<T: Serialize + ?Sized>(&self, subject: &str, value: &T) {
        let Some(link) = &self.nats else { return };
        let payload = serde_json::to_vec(value).expect("cluster messages serialize");
        let subject = format!("{}.{subject}", link.prefix);
        let client = link.client.clone();
        // Fire and forget: a lost wake-up is found by position, and the session's row is gone.
        tokio::spawn(async move {
            if let Err(error) = client.publish(subject, payload.into()).await {
                tracing::debug!(%error, "a cluster message was not published");
            }
        });
    }

    /// Hands what the other nodes publish to this node's relay, hub, presence and typing, until
    /// `shutdown`.
    pub async fn listen(
        &self,
        relay: Relay,
        hub: Arc<Hub>,
        presence: Arc<Presence>,
        typing: Arc<Typing>,
        shutdown: CancellationToken,
    ) -> Result<()> {
        let Some(link) = &self.nats else {
            return Ok(());
        };
        let subscribe = |subject: &str| link.client.subscribe(format!("{}.{subject}", link.prefix));
        let failed = |e: async_nats::SubscribeError| Error::Internal(format!("NATS: {e}"));
        let mut log = subscribe("log").await.map_err(failed)?;
        let mut ended = subscribe("sessions.ended").await.map_err(failed)?;
        let mut presences = subscribe("presence").await.map_err(failed)?;
        let mut typists = subscribe("typing").await.map_err(failed)?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    Some(message) = log.next() => {
                        if let Some(logged) = decode::<Vec<Logged>>(&message.payload) {
                            relay.woken(logged);
                        }
                    }
                    Some(message) = ended.next() => {
                        if let Some(session_id) = decode::<i64>(&message.payload) {
                            hub.close_session(session_id, LOGGED_OUT);
                        }
                    }
                    Some(message) = presences.next() => {
                        if let Some(announcement) = decode::<Announcement>(&message.payload) {
                            presence.apply(announcement);
                        }
                    }
                    Some(message) = typists.next() => {
                        if let Some(news) = decode::<TypingNews>(&message.payload) {
                            typing.heard(news);
                        }
                    }
                    else => return,
                }
            }
        });
        Ok(())
    }

    /// Reports this node's connections per client to the other nodes and takes in theirs, so the
    /// per-client cap holds for the cluster (see `connection_counts`), until `shutdown`.
    pub async fn share_connection_counts(
        &self,
        counts: Arc<ConnectionCounts>,
        shutdown: CancellationToken,
    ) -> Result<()> {
        let Some(link) = &self.nats else {
            return Ok(());
        };
        let (client, subject) = (link.client.clone(), format!("{}.connections", link.prefix));
        let mut heard = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| Error::Internal(format!("NATS: {e}")))?;
        counts.start_reporting();
        let cluster = self.clone();
        tokio::spawn(async move {
            // From this one task, in order: a change never overtakes a full report.
            let publish = |report: &CountsReport| {
                let payload = serde_json::to_vec(report).expect("reports serialize");
                // While NATS is away its queue fills up; the next full report repairs what waits.
                tokio::time::timeout(
                    connection_counts::REPORT_EVERY,
                    client.publish(subject.clone(), payload.into()),
                )
            };
            let mut tick = tokio::time::interval(connection_counts::REPORT_EVERY);
            let mut ticks: u32 = 0;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        counts.forget_silent_nodes();
                        let full = ticks.is_multiple_of(connection_counts::REPORTS_PER_FULL_REPORT);
                        ticks = ticks.wrapping_add(1);
                        let outgoing = counts.reports(full);
                        if cluster.degraded() {
                            continue;
                        }
                        for report in &outgoing {
                            if !matches!(publish(report).await, Ok(Ok(()))) {
                                tracing::debug!("connection counts were not published");
                            }
                        }
                    }
                    Some(message) = heard.next() => {
                        if let Some(report) = decode::<CountsReport>(&message.payload) {
                            counts.apply(report);
                        }
                    }
                }
            }
            // The sockets are closing: their clients will reconnect to the other nodes.
            let _ = publish(&counts.leaving()).await;
            let _ = tokio::time::timeout(connection_counts::REPORT_EVERY, client.flush()).await;
        });
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(payload: &[u8]) -> Option<T> {
    serde_json::from_slice(payload)
        .inspect_err(|error| tracing::warn!(%error, "ignored an unreadable cluster message"))
        .ok()
}
