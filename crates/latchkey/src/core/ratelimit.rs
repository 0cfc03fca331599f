//! Brute-force protection for password sign-ins (RFC 6749 §4.3.2: "protect
//! the endpoint against brute force attacks"; OWASP Authentication Cheat
//! Sheet, "Protect against automated attacks"). The reasoning is written out
//! in ARCHITECTURE.md, "Sign-in limits"; docs/signin-limits.md is the user's
//! view.
//!
//! Counters live in the database, one row per key (a username, a client
//! address), so that every process shares them. Four promises shape them:
//!
//! 1. **Only failures count.** A key with `limit` failures in its window is
//!    refused with 429 and `Retry-After` until the window has passed, even
//!    with the right password. A success forgets the username's failures.
//! 2. **A guesser gains nothing from concurrency**: at most `limit` wrong
//!    passwords per key and window ever reach the hasher. So a password is
//!    checked only while its attempt holds a *slot*, and a key never has more
//!    than `limit − failures` slots taken: every attempt in flight might be a
//!    failure, and all of them together can only just reach the limit.
//! 3. **Right passwords are never refused for being concurrent.** An attempt
//!    that finds every slot taken (but fewer than `limit` failures) waits for
//!    one instead of being refused: slots turn over at the pace of the hasher,
//!    which is the bottleneck anyway. 64 concurrent sign-ins of one user with
//!    a limit of 10 run 10 at a time and all succeed.
//! 4. **Nothing sticks.** A slot is taken and given back by atomic statements;
//!    the check runs in a task of its own (see `signin::check_password`), so a
//!    client hanging up cannot leave its slot taken; and should a process die
//!    while holding slots, they are counted per lease epoch and stop counting
//!    after one to two leases ([`SLOT_LEASE_SECONDS`]).
//!
//! The login page of the browser flows uses the same [`SigninLimiter`]
//! (through `signin::check_password`).

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::Notify;

use super::clock::{Clock, UnixTime};
use super::error::{Error, Result};
use super::secret::ServerKey;
use super::settings::Settings;
use super::users::normalize_email;

/// HMAC purpose of the counter keys.
const KEY_PURPOSE: &str = "signin-limit";

/// How long a slot counts at least, in seconds of the injected clock: a slot
/// taken in epoch `e = now / SLOT_LEASE_SECONDS` counts until epoch `e + 2`
/// begins, so for one to two leases. A check holds its slot for milliseconds
/// (an Argon2 hash); [`HASH_START_DEADLINE`] keeps every check well inside
/// the lease, so a slot never lapses under a check still running.
pub const SLOT_LEASE_SECONDS: i64 = 60;

/// How long an attempt waits for a free slot before giving up with 503.
/// Slots turn over every few milliseconds unless the server is overloaded.
const SLOT_WAIT: Duration = Duration::from_secs(10);

/// How long an admitted attempt may wait for a hashing thread before it gives
/// its slot back unchecked (503): half the lease.
pub const HASH_START_DEADLINE: Duration = Duration::from_secs(30);

/// Waiting for a slot freed by another process: polls back off up to this.
const MAX_POLL: Duration = Duration::from_millis(200);

/// A counter after an attempt was charged to it (the device page's
/// user-code limits, which charge before checking and forgive on success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptCount {
    /// When the counter's window began.
    pub window_start: UnixTime,
    /// Attempts charged in the window, this one included.
    pub attempts: i64,
}

/// The answer to a request for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A slot is held; give it back with [`AttemptCounterStore::settle_attempt`].
    /// `failures` is the key's count in its window.
    Reserved { failures: i64 },
    /// The key has `limit` failures in the window that began at
    /// `window_start`: refused until it has passed.
    Locked { window_start: UnixTime },
    /// Failures plus slots held reach the limit: try again when a slot is
    /// given back.
    Busy,
}

/// How an attempt that held a slot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// A wrong password (or unknown or disabled user): one more failure.
    Failure,
    /// Not a failure (a success on an address, or an attempt that was never
    /// checked): the slot is simply given back.
    Release,
    /// A success on a username: its failures are forgotten too.
    Forget,
}

/// Storage of the attempt counters.
///
/// Contracts (checked by `tests/it/store_refresh.rs` on both backends):
/// - `charge_attempt` is atomic, so N concurrent charges to one key leave it
///   N higher (within one window);
/// - `reserve_attempt` is atomic: of any number of concurrent calls, at most
///   `limit − failures` get a slot, in however many processes;
/// - a slot taken in epoch `e` counts in epochs `e` and `e + 1` only.
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

    /// Takes a slot of `key` in lease epoch `epoch` if its failures in the
    /// window (those after `now - window`) plus its live slots are below
    /// `limit`; otherwise says why not.
    fn reserve_attempt(
        &self,
        key: &str,
        limit: i64,
        now: UnixTime,
        window: i64,
        epoch: i64,
    ) -> impl Future<Output = Result<Reservation>> + Send;

    /// Gives back the slot taken in `epoch` (nothing if it has lapsed) and
    /// records how the attempt ended. A failure in a window that has passed
    /// starts a new one at `now`.
    fn settle_attempt(
        &self,
        key: &str,
        epoch: i64,
        settle: Settle,
        now: UnixTime,
        window: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes counters whose window began at or before `before` and that
    /// hold no slot of `live_epoch` or later (nor of the epoch before it).
    fn purge_attempt_counters(
        &self,
        before: UnixTime,
        live_epoch: i64,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// The lease epoch of a moment.
pub fn epoch(now: UnixTime) -> i64 {
    now.div_euclid(SLOT_LEASE_SECONDS)
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

impl LimitKeys {
    /// The client address's counter key (none without an address): the
    /// accounts' endpoints charge it too (`core::accounts`).
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }
}

/// An attempt that holds its slots: the epochs they were taken in.
#[derive(Debug, Clone)]
#[must_use = "an admission holds slots until it is settled"]
pub struct Admission {
    keys: LimitKeys,
    username_epoch: i64,
    address_epoch: Option<i64>,
}

/// How a checked attempt ended, for [`SigninLimiter::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failure,
    Success,
    /// Never checked (an error before the verdict): counts as nothing.
    Unchecked,
}

/// One try at both slots.
enum Try {
    Admitted(Admission, i64),
    Refused(Error),
    /// Wait for a slot of this key.
    Wait(String),
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

    /// Takes a slot of the address and one of the username, waiting (at most
    /// [`SLOT_WAIT`]) while they are all taken; refuses with
    /// `TooManyRequests` a key whose failures reach its limit. Once admitted,
    /// waits the slowdown if the username has used half its failures.
    ///
    /// No slot is held while waiting: an attempt that gets the address but
    /// not the username gives the address back first, so waiters never hold
    /// what others wait for.
    pub async fn admit<S: AttemptCounterStore>(
        &self,
        store: &S,
        keys: LimitKeys,
        clock: &dyn Clock,
    ) -> Result<Admission> {
        let deadline = tokio::time::Instant::now() + SLOT_WAIT;
        let mut poll = Duration::from_millis(5);
        loop {
            match self.try_admit(store, &keys, clock.now()).await? {
                Try::Admitted(admission, failures) => {
                    // Slow down a username that has used half its failures.
                    // Not an address: many people behind one address is
                    // normal; one username guessed at is not.
                    if !self.slowdown.is_zero() && failures * 2 >= self.per_username {
                        tokio::time::sleep(self.slowdown).await;
                    }
                    return Ok(admission);
                }
                Try::Refused(e) => return Err(e),
                Try::Wait(key) => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        metrics::counter!("latchkey_signin_slot_timeouts_total").increment(1);
                        return Err(Error::TemporarilyUnavailable(
                            "too many sign-ins of this account are in progress; try again".into(),
                        ));
                    }
                    // A slot given back in this process wakes us at once;
                    // one given back by another process is seen at the next
                    // poll.
                    let _ = tokio::time::timeout(poll.min(left), wakeup(&key).notified()).await;
                    poll = (poll * 2).min(MAX_POLL);
                }
            }
        }
    }

    async fn try_admit<S: AttemptCounterStore>(
        &self,
        store: &S,
        keys: &LimitKeys,
        now: UnixTime,
    ) -> Result<Try> {
        let epoch = epoch(now);
        // The address first: an address already refused does not also eat
        // into the victim username's allowance.
        let address_epoch = match &keys.address {
            Some(key) => {
                match store
                    .reserve_attempt(key, self.per_address, now, self.window, epoch)
                    .await?
                {
                    Reservation::Reserved { .. } => Some(epoch),
                    Reservation::Locked { window_start } => {
                        return Ok(Try::Refused(self.refusal(window_start, now)));
                    }
                    Reservation::Busy => return Ok(Try::Wait(key.clone())),
                }
            }
            None => None,
        };
        let username = store
            .reserve_attempt(&keys.username, self.per_username, now, self.window, epoch)
            .await;
        let give_back_address = || async {
            if let (Some(key), Some(e)) = (&keys.address, address_epoch) {
                settle_one(store, key, e, Settle::Release, now, self.window).await?;
            }
            Ok::<_, Error>(())
        };
        match username {
            Ok(Reservation::Reserved { failures }) => Ok(Try::Admitted(
                Admission {
                    keys: keys.clone(),
                    username_epoch: epoch,
                    address_epoch,
                },
                failures,
            )),
            Ok(Reservation::Locked { window_start }) => {
                give_back_address().await?;
                Ok(Try::Refused(self.refusal(window_start, now)))
            }
            Ok(Reservation::Busy) => {
                give_back_address().await?;
                Ok(Try::Wait(keys.username.clone()))
            }
            Err(e) => {
                let _ = give_back_address().await;
                Err(e)
            }
        }
    }

    /// Gives the attempt's slots back and records how it ended: a failure
    /// counts against both keys; a success forgets the username's failures
    /// and gives the address its slot back; an unchecked attempt counts as
    /// nothing.
    pub async fn settle<S: AttemptCounterStore>(
        &self,
        store: &S,
        admission: Admission,
        outcome: Outcome,
        now: UnixTime,
    ) -> Result<()> {
        let (username, address) = match outcome {
            Outcome::Failure => (Settle::Failure, Settle::Failure),
            Outcome::Success => (Settle::Forget, Settle::Release),
            Outcome::Unchecked => (Settle::Release, Settle::Release),
        };
        let keys = &admission.keys;
        let first = settle_one(
            store,
            &keys.username,
            admission.username_epoch,
            username,
            now,
            self.window,
        )
        .await;
        if let (Some(key), Some(e)) = (&keys.address, admission.address_epoch) {
            settle_one(store, key, e, address, now, self.window).await?;
        }
        first
    }

    fn refusal(&self, window_start: UnixTime, now: UnixTime) -> Error {
        metrics::counter!("latchkey_rate_limited_total").increment(1);
        let retry_after = (window_start + self.window - now).max(1);
        Error::TooManyRequests {
            retry_after: u64::try_from(retry_after).unwrap_or(1),
        }
    }
}

/// Settles one key and wakes this process's waiters for it: all of them
/// after a failure (it may have locked the key, and they should hear 429 at
/// once), one after a slot was given back (there is one more to take).
async fn settle_one<S: AttemptCounterStore>(
    store: &S,
    key: &str,
    epoch: i64,
    settle: Settle,
    now: UnixTime,
    window: i64,
) -> Result<()> {
    let result = store.settle_attempt(key, epoch, settle, now, window).await;
    match settle {
        Settle::Failure => wakeup(key).notify_waiters(),
        Settle::Release | Settle::Forget => wakeup(key).notify_one(),
    }
    result
}

/// Wake-ups for attempts waiting for a slot, in this process, by a shard of
/// the key. A hint only: the database decides; a wake-up taken by a waiter
/// for another key of the same shard costs the right one a poll interval.
static WAKEUPS: [Notify; 64] = [const { Notify::const_new() }; 64];

fn wakeup(key: &str) -> &'static Notify {
    let shard = key.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    &WAKEUPS[shard % WAKEUPS.len()]
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

    #[test]
    fn epochs_are_floor_divisions() {
        assert_eq!(epoch(0), 0);
        assert_eq!(epoch(SLOT_LEASE_SECONDS - 1), 0);
        assert_eq!(epoch(SLOT_LEASE_SECONDS), 1);
        assert_eq!(epoch(-1), -1);
    }
}
