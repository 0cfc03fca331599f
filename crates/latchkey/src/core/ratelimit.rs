//! Brute-force protection for password sign-ins (SPEC §5; OWASP Authentication
//! Cheat Sheet, "Protect against automated attacks").
//!
//! Attempts are counted per username and per client address, in the database,
//! so that every process shares the counters. Each counter is a fixed window
//! that starts with its first failure: once it holds the maximum, the key is
//! refused with 429 and `Retry-After` until the window has passed, even with
//! the right password; then the counter starts over (the decay). Near the
//! maximum, attempts are slowed before their password is checked.
//!
//! An attempt is *charged before* its password is checked and forgiven if it
//! succeeds. Checking first and counting afterwards would let a burst of
//! concurrent guesses all pass the check before any of them is counted: with
//! charging, the counter is an atomic upsert, and at most `max` guesses per
//! window ever reach the password hasher, however many arrive at once.
//!
//! The login page of the browser flows uses the same [`SigninLimiter`]:
//! `admit` → check the password → `succeeded` (or nothing on failure).

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use super::clock::UnixTime;
use super::error::{Error, Result};
use super::secret::ServerKey;
use super::settings::Settings;
use super::users::normalize_email;

/// HMAC purpose of the counter keys.
const KEY_PURPOSE: &str = "signin-limit";

/// A counter after an attempt was charged to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCount {
    /// When the counter's window began.
    pub window_start: UnixTime,
    /// Attempts charged in the window, this one included.
    pub attempts: i64,
}

/// Storage of the attempt counters.
///
/// Contract: `charge_attempt` is atomic, so N concurrent charges to one key
/// leave it N higher (within one window).
pub trait AttemptCounterStore: Send + Sync {
    /// Adds one attempt to `key`. A counter whose window began at or before
    /// `now - window` starts over at `now` with this attempt. Returns the
    /// counter after.
    fn charge_attempt(
        &self,
        key: &str,
        now: UnixTime,
        window: i64,
    ) -> impl Future<Output = Result<AttemptCount>> + Send;

    /// Takes one attempt back from `key`, if its window is still the one
    /// that began at `window_start`.
    fn forgive_attempt(
        &self,
        key: &str,
        window_start: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Forgets every attempt of `key`.
    fn clear_attempts(&self, key: &str) -> impl Future<Output = Result<()>> + Send;

    /// Deletes counters whose window began at or before `before`.
    fn purge_attempt_counters(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// The limits, from the settings.
#[derive(Debug, Clone)]
pub struct SigninLimiter {
    per_username: i64,
    per_address: i64,
    window: i64,
    slowdown: Duration,
}

/// The counter keys of one attempt: HMACs, so that what was typed into the
/// username field (sometimes a password) is never stored.
#[derive(Debug, Clone)]
pub struct LimitKeys {
    username: String,
    address: Option<String>,
}

/// An attempt that was let through, with what it was charged.
#[derive(Debug, Clone)]
pub struct Admission {
    keys: LimitKeys,
    address: Option<AttemptCount>,
}

impl SigninLimiter {
    pub fn new(settings: &Settings) -> Self {
        SigninLimiter {
            per_username: i64::from(settings.signin_max_failures_per_username),
            per_address: i64::from(settings.signin_max_failures_per_address),
            window: settings.signin_failure_window_seconds,
            slowdown: Duration::from_millis(settings.signin_slowdown_ms),
        }
    }

    /// How long a counter lives: the background purge deletes older ones.
    pub fn window(&self) -> i64 {
        self.window
    }

    /// The keys of an attempt on `username` from `address`. Usernames are
    /// normalized as emails are; an IPv6 address counts by its /64, which is
    /// what one subscriber usually gets.
    pub fn keys(
        &self,
        server_key: &ServerKey,
        username: &str,
        address: Option<IpAddr>,
    ) -> LimitKeys {
        let username = format!("username:{}", normalize_email(username));
        LimitKeys {
            username: server_key.mac_token(KEY_PURPOSE, username.as_bytes()),
            address: address.map(|a| {
                let a = format!("address:{}", address_bucket(a));
                server_key.mac_token(KEY_PURPOSE, a.as_bytes())
            }),
        }
    }

    /// Charges an attempt to the address and then the username; refuses with
    /// `TooManyRequests` if either has no attempts left in its window;
    /// otherwise waits the slowdown if the username is past half its limit,
    /// and lets the attempt through.
    pub async fn admit<S: AttemptCounterStore>(
        &self,
        store: &S,
        keys: LimitKeys,
        now: UnixTime,
    ) -> Result<Admission> {
        // The address first: an address already refused does not also eat
        // into the victim username's allowance.
        let address = match &keys.address {
            Some(k) => {
                let count = store.charge_attempt(k, now, self.window).await?;
                self.refuse_if_over(count, self.per_address, now)?;
                Some(count)
            }
            None => None,
        };
        let username = store
            .charge_attempt(&keys.username, now, self.window)
            .await?;
        self.refuse_if_over(username, self.per_username, now)?;
        // Slow down a username that has used half its attempts. Not an
        // address: its count includes attempts still in flight, and many
        // people behind one address signing in at once is normal; one
        // username guessed at concurrently is not.
        if !self.slowdown.is_zero() && (username.attempts - 1) * 2 >= self.per_username {
            tokio::time::sleep(self.slowdown).await;
        }
        Ok(Admission { keys, address })
    }

    /// The attempt succeeded: the username's failures are forgotten and the
    /// address gets this attempt back. (A failed attempt needs no call: it
    /// was charged on admission.)
    pub async fn succeeded<S: AttemptCounterStore>(
        &self,
        store: &S,
        admission: &Admission,
    ) -> Result<()> {
        store.clear_attempts(&admission.keys.username).await?;
        if let (Some(key), Some(count)) = (&admission.keys.address, admission.address) {
            store.forgive_attempt(key, count.window_start).await?;
        }
        Ok(())
    }

    fn refuse_if_over(&self, count: AttemptCount, max: i64, now: UnixTime) -> Result<()> {
        if count.attempts <= max {
            return Ok(());
        }
        metrics::counter!("latchkey_rate_limited_total").increment(1);
        let retry_after = (count.window_start + self.window - now).max(1);
        Err(Error::TooManyRequests {
            retry_after: u64::try_from(retry_after).unwrap_or(1),
        })
    }
}

/// The unit an address is counted by: the address itself for IPv4 (and
/// IPv4-mapped IPv6), the /64 prefix for IPv6.
pub fn address_bucket(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_bucket(a), address_bucket(b));
        assert_ne!(address_bucket(a), address_bucket(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_bucket(mapped), "192.0.2.1");
    }

    #[test]
    fn keys_normalize_usernames_and_hide_them() {
        let limiter = SigninLimiter::new(&Settings::default());
        let key = ServerKey::from_secret("k");
        let a = limiter.keys(&key, " Alice@Example.com", None);
        let b = limiter.keys(&key, "alice@example.com", None);
        assert_eq!(a.username, b.username);
        assert!(!a.username.contains("alice"));
        assert!(a.address.is_none());
    }
}
