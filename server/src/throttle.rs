//! Throttles for the expensive, guessable endpoints: logins and registrations.
//!
//! Attempts are counted in fixed windows, and an attempt is *reserved* (counted) before any password
//! is hashed, under one lock: concurrent requests cannot slip past a limit while earlier ones are
//! still hashing.
//!
//! Logins follow OWASP's "device cookie" scheme, so strangers cannot lock an owner out. A browser that
//! has logged in to an account before presents that account's device cookie and has a budget of its
//! own. Every other attempt spends the account's shared budget for unknown devices and its address's
//! budget. A successful login clears the budget it spent (failures count "in a row").

use std::collections::HashMap;
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
/// How often expired windows are dropped, which bounds memory by the attempts of one window.
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
    logins: Windows,
    registrations: Windows,
    registrations_per_address: u32,
}

impl Throttles {
    pub fn new(registrations_per_hour: u32) -> Self {
        Self {
            logins: Windows::new(LOGIN_WINDOW),
            registrations: Windows::new(REGISTRATION_WINDOW),
            registrations_per_address: registrations_per_hour,
        }
    }

    /// Counts a login attempt, or `Err(wait)` while its budget is spent.
    pub fn reserve_login(&self, budget: &LoginBudget) -> Result<(), Duration> {
        self.logins.take(&budget.keys(), Instant::now())
    }

    /// The attempt was never checked (the server was too busy): it counts for nothing.
    pub fn login_not_checked(&self, budget: &LoginBudget) {
        self.logins
            .refund(budget.keys().into_iter().map(|(key, _)| key));
    }

    /// A correct password: the account's (or device's) budget starts afresh, and the attempt no longer
    /// counts against the address, whose limit is for failures.
    pub fn login_succeeded(&self, budget: &LoginBudget) {
        let mut keys = budget.keys().into_iter();
        if let Some((spent, _)) = keys.next() {
            self.logins.clear(&spent);
        }
        self.logins.refund(keys.map(|(key, _)| key));
    }

    /// Counts a registration from `address`, or `Err(wait)` while the address has used its allowance.
    pub fn reserve_registration(&self, address: IpAddr) -> Result<(), Duration> {
        self.registrations
            .take(&[self.registration_key(address)], Instant::now())
    }

    /// The registration was never attempted (the server was too busy): it counts for nothing.
    pub fn registration_not_attempted(&self, address: IpAddr) {
        let (key, _) = self.registration_key(address);
        self.registrations.refund([key]);
    }

    fn registration_key(&self, address: IpAddr) -> (String, u32) {
        (format!("address:{address}"), self.registrations_per_address)
    }
}

/// Attempt counts per key in fixed windows.
struct Windows {
    length: Duration,
    state: Mutex<WindowsState>,
}

struct WindowsState {
    windows: HashMap<String, Window>,
    pruned_at: Instant,
}

struct Window {
    started: Instant,
    attempts: u32,
}

impl Windows {
    fn new(length: Duration) -> Self {
        Self {
            length,
            state: Mutex::new(WindowsState {
                windows: HashMap::new(),
                pruned_at: Instant::now(),
            }),
        }
    }

    /// Counts one attempt against every key if all are under their limits; otherwise counts nothing
    /// and returns how long until the last full key's window ends.
    fn take(&self, keys: &[(String, u32)], now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("throttle lock");
        if now.duration_since(state.pruned_at) >= PRUNE_EVERY {
            state
                .windows
                .retain(|_, window| now.duration_since(window.started) < self.length);
            state.pruned_at = now;
        }
        let wait = keys
            .iter()
            .filter_map(|(key, limit)| {
                let window = state.windows.get(key)?;
                let elapsed = now.duration_since(window.started);
                (elapsed < self.length && window.attempts >= *limit).then(|| self.length - elapsed)
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, _) in keys {
            let window = state.windows.entry(key.clone()).or_insert(Window {
                started: now,
                attempts: 0,
            });
            if now.duration_since(window.started) >= self.length {
                *window = Window {
                    started: now,
                    attempts: 0,
                };
            }
            window.attempts += 1;
        }
        Ok(())
    }

    fn clear(&self, key: &str) {
        self.state
            .lock()
            .expect("throttle lock")
            .windows
            .remove(key);
    }

    /// Takes back one attempt from each key.
    fn refund(&self, keys: impl IntoIterator<Item = String>) {
        let mut state = self.state.lock().expect("throttle lock");
        for key in keys {
            if let Some(window) = state.windows.get_mut(&key) {
                window.attempts = window.attempts.saturating_sub(1);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().unwrap().windows.len()
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

    #[test]
    fn an_account_is_held_after_its_limit_until_the_window_ends() {
        let windows = Windows::new(LOGIN_WINDOW);
        let start = Instant::now();
        for _ in 0..LOGINS_PER_ACCOUNT {
            assert!(windows
                .take(&unknown("alice", "10.0.0.1").keys(), start)
                .is_ok());
        }
        let wait = windows
            .take(&unknown("alice", "10.0.0.2").keys(), start)
            .unwrap_err();
        assert_eq!(wait, LOGIN_WINDOW, "from any address");
        assert!(windows
            .take(&unknown("bob", "10.0.0.1").keys(), start)
            .is_ok());
        assert!(windows
            .take(&unknown("alice", "10.0.0.2").keys(), start + LOGIN_WINDOW)
            .is_ok());
    }

    #[test]
    fn a_known_device_keeps_its_own_budget() {
        let windows = Windows::new(LOGIN_WINDOW);
        let now = Instant::now();
        for n in 0..LOGINS_PER_ACCOUNT {
            let address = format!("10.0.1.{n}");
            assert!(windows
                .take(&unknown("alice", &address).keys(), now)
                .is_ok());
        }
        assert!(windows
            .take(&unknown("alice", "10.0.2.1").keys(), now)
            .is_err());
        let device = LoginBudget::KnownDevice("d1".into());
        for _ in 0..LOGINS_PER_DEVICE {
            assert!(windows.take(&device.keys(), now).is_ok());
        }
        assert!(
            windows.take(&device.keys(), now).is_err(),
            "but not an endless one"
        );
    }

    #[test]
    fn an_address_is_held_after_guessing_many_accounts() {
        let windows = Windows::new(LOGIN_WINDOW);
        let now = Instant::now();
        for n in 0..LOGINS_PER_ADDRESS {
            let budget = unknown(&format!("user{n}"), "10.0.0.9");
            assert!(windows.take(&budget.keys(), now).is_ok());
        }
        assert!(windows
            .take(&unknown("someone", "10.0.0.9").keys(), now)
            .is_err());
        assert!(windows
            .take(&unknown("someone", "10.0.0.8").keys(), now)
            .is_ok());
    }

    #[test]
    fn a_refused_attempt_counts_nothing() {
        let windows = Windows::new(LOGIN_WINDOW);
        let now = Instant::now();
        for _ in 0..LOGINS_PER_ACCOUNT {
            windows
                .take(&unknown("carol", "10.0.0.1").keys(), now)
                .unwrap();
        }
        for _ in 0..100 {
            assert!(windows
                .take(&unknown("carol", "10.0.0.1").keys(), now)
                .is_err());
        }
        let address = windows.state.lock().unwrap().windows["address:10.0.0.1"].attempts;
        assert_eq!(address, LOGINS_PER_ACCOUNT);
    }

    #[test]
    fn success_clears_the_budget_it_spent() {
        let throttles = Throttles::new(10);
        let budget = unknown("carol", "10.0.0.1");
        for _ in 0..LOGINS_PER_ACCOUNT {
            throttles.reserve_login(&budget).unwrap();
        }
        throttles.login_succeeded(&budget);
        assert!(throttles
            .reserve_login(&unknown("carol", "10.0.0.3"))
            .is_ok());
    }

    #[test]
    fn only_failures_count_against_an_address() {
        let throttles = Throttles::new(10);
        for n in 0..LOGINS_PER_ADDRESS * 2 {
            let budget = unknown(&format!("user{n}"), "10.0.0.1");
            throttles.reserve_login(&budget).unwrap();
            throttles.login_succeeded(&budget);
        }
    }

    #[test]
    fn attempts_the_server_was_too_busy_to_check_count_for_nothing() {
        let throttles = Throttles::new(10);
        let busy = unknown("dave", "10.0.0.1");
        for _ in 0..LOGINS_PER_ACCOUNT * 2 {
            throttles.reserve_login(&busy).unwrap();
            throttles.login_not_checked(&busy);
        }
        let address = "10.0.0.9".parse().unwrap();
        for _ in 0..20 {
            throttles.reserve_registration(address).unwrap();
            throttles.registration_not_attempted(address);
        }
    }

    #[test]
    fn expired_windows_are_dropped() {
        let windows = Windows::new(LOGIN_WINDOW);
        let start = Instant::now();
        for n in 0..1000 {
            let address = format!("10.0.{}.{}", n / 256, n % 256);
            windows
                .take(&unknown(&format!("user{n}"), &address).keys(), start)
                .unwrap();
        }
        assert_eq!(windows.tracked(), 2000);
        windows
            .take(
                &unknown("late", "10.0.0.2").keys(),
                start + LOGIN_WINDOW + PRUNE_EVERY,
            )
            .unwrap();
        assert_eq!(windows.tracked(), 2, "only the new attempt's keys remain");
    }

    #[test]
    fn registrations_are_limited_per_address() {
        let throttles = Throttles::new(3);
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            throttles.reserve_registration(address).unwrap();
        }
        assert!(throttles.reserve_registration(address).is_err());
        assert!(throttles
            .reserve_registration("10.0.0.2".parse().unwrap())
            .is_ok());
    }
}
