//! Open connections per client, counted for the whole cluster.
//!
//! Each node counts the connections it holds and tells the others over NATS: every half second what
//! changed, every ten seconds all of it (which repairs a lost report and introduces a new node), and
//! that it holds nothing when it stops. A node admits a connection while the client's connections
//! here and those last reported elsewhere stay under the cap. Admission never waits on the network,
//! so the cap can be exceeded by what other nodes admitted since their last report (and, for a node
//! that just started, by what the others hold until their next full report). A node not heard from
//! for thirty seconds counts for nothing: it died, or NATS is down and each node caps alone.

use serde::{Deserialize, Serialize};
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// How often a node reports what changed.
pub const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Every this many reports, a node reports all its counts, not only what changed.
pub const REPORTS_PER_FULL_REPORT: u32 = 20;
/// How long another node's counts stand without a word from it.
const SILENCE_FORGOTTEN: Duration = Duration::from_secs(30);
/// Entries per message, so a full report of a busy node stays far under NATS's payload limit.
const ENTRIES_PER_REPORT: usize = 5_000;

pub struct ConnectionCounts {
    per_client: usize,
    /// This node's name in reports, new at every start.
    node: String,
    /// Whether other nodes hear of this one's counts; alone, a node keeps no record of changes.
    reporting: AtomicBool,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    here: HashMap<IpAddr, usize>,
    /// Clients whose count here changed since the last report.
    changed: HashSet<IpAddr>,
    elsewhere: HashMap<String, NodeCounts>,
    /// The sum over `elsewhere`, per client.
    elsewhere_total: HashMap<IpAddr, usize>,
}

struct NodeCounts {
    clients: HashMap<IpAddr, usize>,
    heard: Instant,
}

/// What one node holds: all of it (`full`, replacing what others knew of it) or what changed. A full
/// report too long for one message is the first message `full` and the rest not.
#[derive(Debug, Serialize, Deserialize)]
pub struct CountsReport {
    node: String,
    full: bool,
    clients: Vec<(IpAddr, usize)>,
}

/// One admitted connection; dropping it frees its place.
pub struct ClientSlot {
    counts: Arc<ConnectionCounts>,
    client: IpAddr,
}

impl ConnectionCounts {
    pub fn new(per_client: usize) -> Self {
        Self {
            per_client,
            node: crate::auth::new_token()[..16].to_string(),
            reporting: AtomicBool::new(false),
            counts: Mutex::default(),
        }
    }

    /// From now on, changes are kept for `reports`, which a cluster node sends on a timer.
    pub fn start_reporting(&self) {
        self.reporting.store(true, Ordering::Relaxed);
    }

    fn changed(&self, counts: &mut Counts, client: IpAddr) {
        if self.reporting.load(Ordering::Relaxed) {
            counts.changed.insert(client);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("connection counts lock")
    }

    /// A place for one more connection of `client`, unless it holds its share of the cluster.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Option<ClientSlot> {
        let mut counts = self.lock();
        let elsewhere = counts.elsewhere_total.get(&client).copied().unwrap_or(0);
        let here = counts.here.entry(client).or_default();
        if *here + elsewhere >= self.per_client {
            if *here == 0 {
                counts.here.remove(&client);
            }
            return None;
        }
        *here += 1;
        self.changed(&mut counts, client);
        Some(ClientSlot {
            counts: self.clone(),
            client,
        })
    }

    /// The reports to send now: everything if `full`, else what changed (nothing, if nothing did).
    pub fn reports(&self, full: bool) -> Vec<CountsReport> {
        let mut counts = self.lock();
        let changed = std::mem::take(&mut counts.changed);
        let clients: Vec<(IpAddr, usize)> = if full {
            counts
                .here
                .iter()
                .map(|(client, n)| (*client, *n))
                .collect()
        } else {
            changed
                .into_iter()
                .map(|client| (client, counts.here.get(&client).copied().unwrap_or(0)))
                .collect()
        };
        if clients.is_empty() && !full {
            return Vec::new();
        }
        let mut chunks: Vec<_> = clients.chunks(ENTRIES_PER_REPORT).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        chunks
            .into_iter()
            .enumerate()
            .map(|(index, chunk)| CountsReport {
                node: self.node.clone(),
                full: full && index == 0,
                clients: chunk.to_vec(),
            })
            .collect()
    }

    /// What this node says when it stops: it holds nothing.
    pub fn leaving(&self) -> CountsReport {
        CountsReport {
            node: self.node.clone(),
            full: true,
            clients: Vec::new(),
        }
    }

    /// Takes in another node's report. (NATS never echoes a node's own reports back to it.)
    pub fn apply(&self, report: CountsReport) {
        let now = Instant::now();
        let mut counts = self.lock();
        let Counts {
            elsewhere,
            elsewhere_total,
            ..
        } = &mut *counts;
        let node = elsewhere.entry(report.node).or_insert_with(|| NodeCounts {
            clients: HashMap::new(),
            heard: now,
        });
        node.heard = now;
        if report.full {
            for (client, old) in node.clients.drain() {
                adjust(elsewhere_total, client, old, 0);
            }
        }
        for (client, count) in report.clients {
            let old = node.clients.get(&client).copied().unwrap_or(0);
            adjust(elsewhere_total, client, old, count);
            if count == 0 {
                node.clients.remove(&client);
            } else {
                node.clients.insert(client, count);
            }
        }
    }

    /// Stops counting what nodes silent for too long reported.
    pub fn forget_silent_nodes(&self) {
        self.forget_silent_nodes_at(Instant::now());
    }

    fn forget_silent_nodes_at(&self, now: Instant) {
        let mut counts = self.lock();
        let Counts {
            elsewhere,
            elsewhere_total,
            ..
        } = &mut *counts;
        let silent: Vec<String> = elsewhere
            .iter()
            .filter(|(_, node)| now.duration_since(node.heard) > SILENCE_FORGOTTEN)
            .map(|(name, _)| name.clone())
            .collect();
        for name in silent {
            if let Some(node) = elsewhere.remove(&name) {
                for (client, old) in node.clients {
                    adjust(elsewhere_total, client, old, 0);
                }
            }
        }
    }
}

fn adjust(totals: &mut HashMap<IpAddr, usize>, client: IpAddr, old: usize, new: usize) {
    let total = totals.entry(client).or_default();
    *total = (*total + new).saturating_sub(old);
    if *total == 0 {
        totals.remove(&client);
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock();
        if let Some(here) = counts.here.get_mut(&self.client) {
            *here -= 1;
            if *here == 0 {
                counts.here.remove(&self.client);
            }
        }
        self.counts.changed(&mut counts, self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn node(per_client: usize) -> Arc<ConnectionCounts> {
        let node = Arc::new(ConnectionCounts::new(per_client));
        node.start_reporting();
        node
    }

    /// Hands every report `from` has now to `to`.
    fn tell(from: &ConnectionCounts, to: &ConnectionCounts, full: bool) {
        for report in from.reports(full) {
            to.apply(report);
        }
    }

    #[test]
    fn a_client_holds_at_most_its_cap_on_one_node() {
        let a = node(2);
        let first = a.admit(ip("10.0.0.1")).unwrap();
        let _second = a.admit(ip("10.0.0.1")).unwrap();
        assert!(a.admit(ip("10.0.0.1")).is_none());
        assert!(
            a.admit(ip("10.0.0.2")).is_some(),
            "others are counted apart"
        );
        drop(first);
        assert!(
            a.admit(ip("10.0.0.1")).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn connections_held_on_other_nodes_count_once_reported() {
        let (a, b) = (node(3), node(3));
        let client = ip("203.0.113.7");
        let held: Vec<_> = (0..2).map(|_| a.admit(client).unwrap()).collect();
        tell(&a, &b, false);
        let on_b = b.admit(client).expect("a third place");
        assert!(
            b.admit(client).is_none(),
            "two on a and one on b fill the cap"
        );
        tell(&b, &a, false);
        assert!(a.admit(client).is_none());

        drop(held);
        tell(&a, &b, false);
        assert!(b.admit(client).is_some(), "closing on a frees places on b");
        drop(on_b);
        assert!(
            a.reports(false).is_empty(),
            "nothing changed on a since its last report"
        );
    }

    #[test]
    fn a_full_report_replaces_what_was_known_and_repairs_a_lost_one() {
        let (a, b) = (node(2), node(2));
        let client = ip("203.0.113.7");
        let one = a.admit(client).unwrap();
        let _two = a.admit(client).unwrap();
        tell(&a, &b, false);
        assert!(b.admit(client).is_none());
        drop(one);
        let lost = a.reports(false);
        assert_eq!(lost.len(), 1, "the change that never arrives");
        assert!(b.admit(client).is_none());
        tell(&a, &b, true);
        assert!(b.admit(client).is_some(), "the full report corrects b");
    }

    #[test]
    fn a_full_report_of_many_clients_comes_in_several_messages() {
        let (a, b) = (node(1), node(1));
        let held: Vec<_> = (0..ENTRIES_PER_REPORT as u32 + 10)
            .map(|n| a.admit(IpAddr::V4(n.into())).unwrap())
            .collect();
        let reports = a.reports(true);
        assert_eq!(reports.len(), 2);
        assert!(reports[0].full && !reports[1].full);
        for report in reports {
            b.apply(report);
        }
        assert!(b.admit(IpAddr::V4(0.into())).is_none());
        assert!(b
            .admit(IpAddr::V4((ENTRIES_PER_REPORT as u32 + 9).into()))
            .is_none());
        drop(held);
        let empty = a.reports(true);
        assert_eq!(
            empty.len(),
            1,
            "an empty full report still says the node is alive"
        );
        assert!(empty[0].clients.is_empty());
    }

    #[test]
    fn a_silent_node_counts_for_nothing() {
        let (a, b) = (node(1), node(1));
        let client = ip("203.0.113.7");
        let _held = a.admit(client).unwrap();
        tell(&a, &b, true);
        b.forget_silent_nodes();
        assert!(b.admit(client).is_none(), "a was heard from just now");
        b.forget_silent_nodes_at(Instant::now() + SILENCE_FORGOTTEN + Duration::from_secs(1));
        assert!(
            b.admit(client).is_some(),
            "a went quiet: it died, or NATS is down"
        );
    }

    #[test]
    fn a_node_that_stops_frees_its_clients_places() {
        let (a, b) = (node(1), node(1));
        let client = ip("203.0.113.7");
        let _held = a.admit(client).unwrap();
        tell(&a, &b, false);
        assert!(b.admit(client).is_none());
        b.apply(a.leaving());
        assert!(b.admit(client).is_some());
    }

    #[test]
    fn a_node_alone_keeps_no_record_of_changes() {
        let alone = Arc::new(ConnectionCounts::new(1));
        drop(alone.admit(ip("10.0.0.1")).unwrap());
        assert!(alone.lock().changed.is_empty());
    }
}
