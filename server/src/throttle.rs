//! Login throttling: failed attempts are counted per account and per client address in fixed
//! windows; a key over its limit is refused until its window ends, before any password is hashed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per account, and per address, in one window.
const PER_ACCOUNT: u32 = 5;
const PER_ADDRESS: u32 = 30;
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, expired ones are dropped on the next failure, bounding memory.
const PRUNE_ABOVE: usize = 10_000;

struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<String, Window>>,
}

fn keys(username: &str, address: &str) -> [(String, u32); 2] {
    [
        (format!("account:{}", username.to_lowercase()), PER_ACCOUNT),
        (format!("address:{address}"), PER_ADDRESS),
    ]
}

impl LoginThrottle {
    /// `Err(wait)` while the account or the address has used up its attempts.
    pub fn check(&self, username: &str, address: &str) -> Result<(), Duration> {
        self.check_at(username, address, Instant::now())
    }

    fn check_at(&self, username: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let windows = self.windows.lock().expect("throttle lock");
        let wait = keys(username, address)
            .iter()
            .filter_map(|(key, limit)| {
                let window = windows.get(key)?;
                let elapsed = now.duration_since(window.started);
                (elapsed < WINDOW && window.failures >= *limit).then(|| WINDOW - elapsed)
            })
            .max();
        wait.map_or(Ok(()), Err)
    }

    pub fn failed(&self, username: &str, address: &str) {
        self.failed_at(username, address, Instant::now());
    }

    fn failed_at(&self, username: &str, address: &str, now: Instant) {
        let mut windows = self.windows.lock().expect("throttle lock");
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, window| now.duration_since(window.started) < WINDOW);
        }
        for (key, _) in keys(username, address) {
            let window = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(window.started) >= WINDOW {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    /// A successful login clears its account's count (not its address's).
    pub fn succeeded(&self, username: &str) {
        let [(account, _), _] = keys(username, "");
        self.windows.lock().expect("throttle lock").remove(&account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_held_after_its_limit_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..PER_ACCOUNT {
            assert!(throttle.check_at("Alice", "10.0.0.1", start).is_ok());
            throttle.failed_at("Alice", "10.0.0.1", start);
        }
        let wait = throttle.check_at("alice", "10.0.0.2", start).unwrap_err();
        assert_eq!(wait, WINDOW, "any letter case, any address");
        assert!(
            throttle.check_at("bob", "10.0.0.1", start).is_ok(),
            "others may still log in"
        );
        assert!(throttle
            .check_at("alice", "10.0.0.2", start + WINDOW)
            .is_ok());
    }

    #[test]
    fn an_address_is_held_after_guessing_many_accounts() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for n in 0..PER_ADDRESS {
            throttle.failed_at(&format!("user{n}"), "10.0.0.9", now);
        }
        assert!(throttle.check_at("someone", "10.0.0.9", now).is_err());
        assert!(throttle.check_at("someone", "10.0.0.8", now).is_ok());
    }

    #[test]
    fn success_clears_the_account() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_ACCOUNT {
            throttle.failed("carol", "10.0.0.1");
        }
        throttle.succeeded("carol");
        assert!(throttle.check("carol", "10.0.0.3").is_ok());
    }
}
