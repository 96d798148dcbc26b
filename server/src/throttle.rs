//! Throttles for the expensive, guessable endpoints: logins and registrations.
//!
//! Attempts are counted in fixed windows, in the database so that the limits hold for a whole
//! cluster, and an attempt is *reserved* (counted, under its rows' locks) before any password is
//! hashed: concurrent requests cannot slip past a limit while earlier ones are still hashing.
//!
//! Logins follow OWASP's "device cookie" scheme, so strangers cannot lock an owner out. A browser that
//! has logged in to an account before presents that account's device cookie and has a budget of its
//! own. Every other attempt spends the account's shared budget for unknown devices and its address's
//! budget. A successful login clears the budget it spent (failures count "in a row").

use crate::db::Db;
use crate::error::Result;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per window: for one account from unknown devices, from one known device,
/// and from one address.
pub const LOGINS_PER_ACCOUNT: u32 = 5;
pub const LOGINS_PER_DEVICE: u32 = 5;
pub const LOGINS_PER_ADDRESS: u32 = 30;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(60 * 60);
/// How often closed windows are dropped, which bounds the table by the attempts of one window.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Whose budget a login attempt spends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginBudget {
    /// A browser that logged in to this account before: the SHA-256 of its device token.
    KnownDevice(String),
    /// Anyone else: the account (by lower-case username) and the client's address.
    Unknown { account: String, address: IpAddr },
}

impl LoginBudget {
    /// The keys an attempt counts against, with their limits; the first is cleared by a success.
    fn keys(&self) -> Vec<(String, u32)> {
        match self {
            LoginBudget::KnownDevice(device) => {
                vec![(format!("device:{device}"), LOGINS_PER_DEVICE)]
            }
            LoginBudget::Unknown { account, address } => vec![
                (format!("account:{account}"), LOGINS_PER_ACCOUNT),
                (format!("address:{address}"), LOGINS_PER_ADDRESS),
            ],
        }
    }
}

pub struct Throttles {
    db: Db,
    registrations_per_address: u32,
    pruned_at: Mutex<Instant>,
}

/// A reservation refused: how long until the budget has room again.
pub type Wait = Duration;

impl Throttles {
    pub fn new(db: Db, registrations_per_hour: u32) -> Self {
        Self {
            db,
            registrations_per_address: registrations_per_hour,
            pruned_at: Mutex::new(Instant::now()),
        }
    }

    /// Counts a login attempt, or `Err(wait)` while its budget is spent.
    pub async fn reserve_login(&self, budget: &LoginBudget) -> Result<Result<(), Wait>> {
        self.take(&budget.keys(), LOGIN_WINDOW, crate::now_ms())
            .await
    }

    /// The attempt was never checked (the server was too busy): it counts for nothing.
    pub async fn login_not_checked(&self, budget: &LoginBudget) -> Result<()> {
        let keys: Vec<_> = budget.keys().into_iter().map(|(key, _)| key).collect();
        self.db.refund_attempts(&keys).await
    }

    /// A correct password: the account's (or device's) budget starts afresh, and the attempt no longer
    /// counts against the address, whose limit is for failures.
    pub async fn login_succeeded(&self, budget: &LoginBudget) -> Result<()> {
        let mut keys = budget.keys().into_iter().map(|(key, _)| key);
        if let Some(spent) = keys.next() {
            self.db.clear_attempts(&spent).await?;
        }
        self.db.refund_attempts(&keys.collect::<Vec<_>>()).await
    }

    /// Counts a registration from `address`, or `Err(wait)` while the address has used its allowance.
    pub async fn reserve_registration(&self, address: IpAddr) -> Result<Result<(), Wait>> {
        let key = self.registration_key(address);
        self.take(&[key], REGISTRATION_WINDOW, crate::now_ms())
            .await
    }

    /// The registration was never attempted (the server was too busy): it counts for nothing.
    pub async fn registration_not_attempted(&self, address: IpAddr) -> Result<()> {
        let (key, _) = self.registration_key(address);
        self.db.refund_attempts(&[key]).await
    }

    fn registration_key(&self, address: IpAddr) -> (String, u32) {
        (
            format!("registration:{address}"),
            self.registrations_per_address,
        )
    }

    async fn take(
        &self,
        keys: &[(String, u32)],
        window: Duration,
        now: i64,
    ) -> Result<Result<(), Wait>> {
        let prune = {
            let mut pruned_at = self.pruned_at.lock().expect("throttle lock");
            let due = pruned_at.elapsed() >= PRUNE_EVERY;
            if due {
                *pruned_at = Instant::now();
            }
            due
        };
        if prune {
            self.db.prune_attempts(now).await?;
        }
        let taken = self
            .db
            .take_attempt(keys, window.as_millis() as i64, now)
            .await?;
        Ok(taken.map_err(|wait_ms| Duration::from_millis(wait_ms.max(0) as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(account: &str, address: &str) -> LoginBudget {
        LoginBudget::Unknown {
            account: account.into(),
            address: address.parse().unwrap(),
        }
    }

    async fn throttles(registrations_per_hour: u32) -> (Throttles, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        (Throttles::new(db, registrations_per_hour), dir)
    }

    const WINDOW_MS: i64 = LOGIN_WINDOW.as_millis() as i64;

    /// One login attempt at `now` (milliseconds): whether it was allowed.
    async fn attempt(throttles: &Throttles, budget: &LoginBudget, now: i64) -> bool {
        throttles
            .take(&budget.keys(), LOGIN_WINDOW, now)
            .await
            .unwrap()
            .is_ok()
    }

    #[tokio::test]
    async fn an_account_is_held_after_its_limit_until_the_window_ends() {
        let (throttles, _dir) = throttles(10).await;
        for _ in 0..LOGINS_PER_ACCOUNT {
            assert!(attempt(&throttles, &unknown("alice", "10.0.0.1"), 0).await);
        }
        let wait = throttles
            .take(&unknown("alice", "10.0.0.2").keys(), LOGIN_WINDOW, 0)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(wait, LOGIN_WINDOW, "from any address");
        assert!(attempt(&throttles, &unknown("bob", "10.0.0.1"), 0).await);
        assert!(attempt(&throttles, &unknown("alice", "10.0.0.2"), WINDOW_MS).await);
    }

    #[tokio::test]
    async fn a_known_device_keeps_its_own_budget() {
        let (throttles, _dir) = throttles(10).await;
        for n in 0..LOGINS_PER_ACCOUNT {
            let address = format!("10.0.1.{n}");
            assert!(attempt(&throttles, &unknown("alice", &address), 0).await);
        }
        assert!(!attempt(&throttles, &unknown("alice", "10.0.2.1"), 0).await);
        let device = LoginBudget::KnownDevice("d1".into());
        for _ in 0..LOGINS_PER_DEVICE {
            assert!(attempt(&throttles, &device, 0).await);
        }
        assert!(
            !attempt(&throttles, &device, 0).await,
            "but not an endless one"
        );
    }

    #[tokio::test]
    async fn an_address_is_held_after_guessing_many_accounts() {
        let (throttles, _dir) = throttles(10).await;
        for n in 0..LOGINS_PER_ADDRESS {
            let budget = unknown(&format!("user{n}"), "10.0.0.9");
            assert!(attempt(&throttles, &budget, 0).await);
        }
        assert!(!attempt(&throttles, &unknown("someone", "10.0.0.9"), 0).await);
        assert!(attempt(&throttles, &unknown("someone", "10.0.0.8"), 0).await);
    }

    #[tokio::test]
    async fn a_refused_attempt_counts_nothing() {
        let (throttles, _dir) = throttles(10).await;
        for _ in 0..LOGINS_PER_ACCOUNT {
            assert!(attempt(&throttles, &unknown("carol", "10.0.0.1"), 0).await);
        }
        for _ in 0..100 {
            assert!(!attempt(&throttles, &unknown("carol", "10.0.0.1"), 0).await);
        }
        // The address spent only the five that were counted: 25 more accounts still fit.
        for n in 0..LOGINS_PER_ADDRESS - LOGINS_PER_ACCOUNT {
            let budget = unknown(&format!("other{n}"), "10.0.0.1");
            assert!(attempt(&throttles, &budget, 0).await);
        }
        assert!(!attempt(&throttles, &unknown("one-more", "10.0.0.1"), 0).await);
    }

    #[tokio::test]
    async fn success_clears_the_budget_it_spent() {
        let (throttles, _dir) = throttles(10).await;
        let budget = unknown("carol", "10.0.0.1");
        for _ in 0..LOGINS_PER_ACCOUNT {
            throttles.reserve_login(&budget).await.unwrap().unwrap();
        }
        throttles.login_succeeded(&budget).await.unwrap();
        let later = unknown("carol", "10.0.0.3");
        assert!(throttles.reserve_login(&later).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn only_failures_count_against_an_address() {
        let (throttles, _dir) = throttles(10).await;
        for n in 0..LOGINS_PER_ADDRESS * 2 {
            let budget = unknown(&format!("user{n}"), "10.0.0.1");
            throttles.reserve_login(&budget).await.unwrap().unwrap();
            throttles.login_succeeded(&budget).await.unwrap();
        }
    }

    #[tokio::test]
    async fn attempts_the_server_was_too_busy_to_check_count_for_nothing() {
        let (throttles, _dir) = throttles(10).await;
        let busy = unknown("dave", "10.0.0.1");
        for _ in 0..LOGINS_PER_ACCOUNT * 2 {
            throttles.reserve_login(&busy).await.unwrap().unwrap();
            throttles.login_not_checked(&busy).await.unwrap();
        }
        let address = "10.0.0.9".parse().unwrap();
        for _ in 0..20 {
            throttles
                .reserve_registration(address)
                .await
                .unwrap()
                .unwrap();
            throttles.registration_not_attempted(address).await.unwrap();
        }
    }

    #[tokio::test]
    async fn closed_windows_are_dropped() {
        let (throttles, _dir) = throttles(10).await;
        for n in 0..100 {
            let address = format!("10.0.0.{n}");
            assert!(attempt(&throttles, &unknown(&format!("user{n}"), &address), 0).await);
        }
        throttles.db.prune_attempts(WINDOW_MS).await.unwrap();
        // Every window closed: the same budgets have room again, and nothing else was kept.
        assert!(attempt(&throttles, &unknown("user0", "10.0.0.0"), WINDOW_MS).await);
    }

    #[tokio::test]
    async fn registrations_are_limited_per_address() {
        let (throttles, _dir) = throttles(3).await;
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            throttles
                .reserve_registration(address)
                .await
                .unwrap()
                .unwrap();
        }
        assert!(throttles
            .reserve_registration(address)
            .await
            .unwrap()
            .is_err());
        let other = "10.0.0.2".parse().unwrap();
        assert!(throttles.reserve_registration(other).await.unwrap().is_ok());
    }
}
