//! Password hashing with Argon2id, off the async runtime, with a bound on hashes
//! in flight.
//!
//! Each Argon2id hash with OWASP's parameters (m = 19 MiB, t = 2, p = 1) takes
//! about 14 ms of one core and 19 MiB of memory (measured; docs/PERFORMANCE.md). Hashing on a tokio
//! worker would stall every other request on it, and an unbounded number of
//! concurrent hashes would let a flood of sign-ins exhaust memory. So hashes run
//! on a few dedicated threads, `max_concurrent_password_hashes` of them; the
//! rest wait (cheaply) for a permit.
//!
//! Each hashing thread allocates the Argon2 working memory once and reuses it:
//! allocating 19 MiB per hash (what the argon2 crate's own hasher does) was
//! measured to grow the resident set by one block per sign-in, to ≈ 220 MiB,
//! as the allocator kept freed blocks without reusing them. With N threads,
//! peak hashing memory is N × `password_hash_memory_kib`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::error::{Error, Result};
use super::secret::Secret;

/// OWASP's minimum for Argon2id (Password Storage Cheat Sheet): latchkey refuses
/// to be configured below it.
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
pub const MIN_ITERATIONS: u32 = 2;

/// Longer passwords are refused before hashing (they cost nothing to Argon2,
/// but nobody has one, and a bound keeps bodies honest).
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MIN_PASSWORD_LEN: usize = 8;

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Right password, hashed with weaker parameters than configured: the caller
    /// should store a new hash.
    YesRehash,
}

/// A unit of work for the hashing threads.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Cheap to clone: clones share the hashing threads and their permits.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Feeds the hashing threads; they exit when it is dropped.
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password, verified against when the user does not
    /// exist, so that "unknown user" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        max_in_flight: usize,
    ) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
        let threads = max_in_flight.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("latchkey-argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next
                        // job, by a plain thread, never across an await.
                        let next = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match next {
                            // A panicking job (there should be none) must not
                            // take the thread with it: its caller gets an
                            // error when the result channel drops.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| Error::internal(format!("cannot start a hashing thread: {e}")))?;
        }
        // The dummy hash runs on a short-lived thread of its own: its working
        // memory is freed when the thread exits, so an idle server does not
        // keep 19 MiB resident for it (the hashing threads allocate theirs at
        // their first job). Measured: idle RSS 30 → 11 MiB.
        let dummy_password = super::secret::random_token()?;
        let dummy_hash = std::thread::scope(|s| {
            s.spawn(|| hash_blocking(&params, dummy_password.as_bytes()))
                .join()
        })
        .map_err(|_| Error::internal("computing the dummy hash failed"))??;
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(threads)),
            jobs,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Secret) -> Result<String> {
        check_length(password)?;
        let params = self.params.clone();
        let password = password.clone();
        self.run(None, move || {
            hash_blocking(&params, password.expose().as_bytes())
        })
        .await
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is
    /// no user, taking the same time either way.
    pub async fn verify(&self, password: &Secret, stored: Option<&str>) -> Result<Verified> {
        self.verify_starting_within(password, stored, None).await
    }

    /// [`verify`](Self::verify), giving up with `TemporarilyUnavailable` if
    /// no hashing thread is free within `start_within`: a sign-in holds a
    /// slot of the sign-in limits while it waits here, and must be checked
    /// before that slot's lease lapses, or not at all.
    pub async fn verify_starting_within(
        &self,
        password: &Secret,
        stored: Option<&str>,
        start_within: Option<std::time::Duration>,
    ) -> Result<Verified> {
        let known = stored.is_some();
        let too_long = password_too_long(password);
        let stored = stored.unwrap_or(&*self.dummy_hash).to_owned();
        let password = password.clone();
        let wanted = self.params.clone();
        let verdict = self
            .run(start_within, move || {
                // An over-long password is still run through the dummy hash so
                // that its answer takes the usual time.
                let pw = password.expose().as_bytes();
                let pw = if pw.len() > MAX_PASSWORD_LEN {
                    b"-".as_slice()
                } else {
                    pw
                };
                verify_blocking(&wanted, pw, &stored)
            })
            .await?;
        Ok(if !known || too_long {
            Verified::No
        } else {
            verdict
        })
    }

    /// How many hashes are waiting for or holding a permit, for metrics.
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    async fn run<T: Send + 'static>(
        &self,
        start_within: Option<std::time::Duration>,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        // The Argon2 queue depth: hashes waiting for or holding a permit.
        // A guard, so that a cancelled request (client gone) is uncounted too.
        let _queued = QueueGauge::enter();
        let acquire = self.permits.clone().acquire_owned();
        let permit = match start_within {
            None => acquire.await,
            Some(limit) => tokio::time::timeout(limit, acquire).await.map_err(|_| {
                metrics::counter!("latchkey_password_hash_start_timeouts_total").increment(1);
                Error::TemporarilyUnavailable("too many sign-ins are waiting; try again".into())
            })?,
        }
        .map_err(|_| Error::internal("password hasher closed"))?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let out = f();
                drop(permit);
                let _ = done.send(out);
            }))
            .map_err(|_| Error::internal("the hashing threads are gone"))?;
        result
            .await
            .map_err(|_| Error::internal("password hashing task failed"))?
    }
}

fn password_too_long(p: &Secret) -> bool {
    p.expose().len() > MAX_PASSWORD_LEN
}

/// A new password must be 8 to 1024 bytes (NIST SP 800-63B §5.1.1.2).
pub fn check_length(password: &Secret) -> Result<()> {
    let len = password.expose().len();
    if len < MIN_PASSWORD_LEN {
        return Err(Error::invalid_request(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(Error::invalid_request(format!(
            "a password may have at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

thread_local! {
    /// The Argon2 working memory of this (hashing) thread, allocated once at
    /// the size of the largest hash it has computed and reused by every later
    /// one: no 19 MiB allocation per sign-in, so memory stays at one block
    /// per hashing thread whatever the allocator does with freed blocks.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs Argon2 `a` over `password` and `salt` into `out`, in this thread's
/// reusable memory.
fn argon2_into(
    a: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<()> {
    BLOCKS.with(|cell| {
        let mut blocks = cell
            .try_borrow_mut()
            .map_err(|_| Error::internal("argon2 memory in use"))?;
        let n = params.block_count();
        if blocks.len() < n {
            blocks.resize(n, Block::new());
        }
        a.hash_password_into_with_memory(password, salt, out, &mut blocks[..n])
            .map_err(|e| Error::internal(format!("argon2: {e}")))
    })
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String> {
    let mut salt = [0u8; 16];
    super::secret::fill_random(&mut salt)?;
    let mut out = [0u8; 32];
    argon2_into(&argon2(params), params, password, &salt, &mut out)?;
    let phc = |e: &dyn std::fmt::Display| Error::internal(format!("argon2 hash: {e}"));
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| phc(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| phc(&e))?),
        hash: Some(Output::new(&out).map_err(|e| phc(&e))?),
    };
    Ok(hash.to_string())
}

fn verify_blocking(wanted: &Params, password: &[u8], stored: &str) -> Result<Verified> {
    let parsed = PasswordHash::new(stored)
        .map_err(|e| Error::internal(format!("stored hash unreadable: {e}")))?;
    let unreadable = |what: &str| Error::internal(format!("stored hash unreadable: {what}"));
    // The stored hash's own parameters are used to verify; compare them with
    // the configured ones to decide on a rehash.
    let algorithm =
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| unreadable("algorithm"))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|_| unreadable("version"))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|_| unreadable("parameters"))?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(unreadable("no salt or hash"));
    };
    let mut out = vec![0u8; expected.len()];
    let a = Argon2::new(algorithm, version, params.clone());
    argon2_into(&a, &params, password, salt, &mut out)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        out.as_slice(),
        expected.as_bytes(),
    )) {
        return Ok(Verified::No);
    }
    let weaker = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || params.m_cost() < wanted.m_cost()
        || params.t_cost() < wanted.t_cost()
        || params.p_cost() < wanted.p_cost();
    Ok(if weaker {
        Verified::YesRehash
    } else {
        Verified::Yes
    })
}

/// Counts a hash in `latchkey_password_hash_queue_depth` while it lives.
struct QueueGauge;

impl QueueGauge {
    fn enter() -> QueueGauge {
        metrics::gauge!("latchkey_password_hash_queue_depth").increment(1.0);
        QueueGauge
    }
}

impl Drop for QueueGauge {
    fn drop(&mut self) {
        metrics::gauge!("latchkey_password_hash_queue_depth").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let h = PasswordHasher::new(MIN_MEMORY_KIB, MIN_ITERATIONS, 1, 2).unwrap();
        let pw = Secret::new("correct horse");
        let stored = h.hash(&pw).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(h.verify(&pw, Some(&stored)).await.unwrap(), Verified::Yes);
        assert_eq!(
            h.verify(&Secret::new("wrong horse"), Some(&stored))
                .await
                .unwrap(),
            Verified::No
        );
        assert_eq!(h.verify(&pw, None).await.unwrap(), Verified::No);

        let stronger = PasswordHasher::new(MIN_MEMORY_KIB, 3, 1, 2).unwrap();
        assert_eq!(
            stronger.verify(&pw, Some(&stored)).await.unwrap(),
            Verified::YesRehash
        );
    }

    /// Hashes stored by the argon2 crate's own hasher (as before the
    /// reusable memory) verify, and ours verify with the crate's verifier.
    #[tokio::test]
    async fn compatible_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(MIN_MEMORY_KIB, MIN_ITERATIONS, 1, None).unwrap();
        let theirs = argon2(&params)
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let h = PasswordHasher::new(MIN_MEMORY_KIB, MIN_ITERATIONS, 1, 1).unwrap();
        let pw = Secret::new("correct horse");
        assert_eq!(h.verify(&pw, Some(&theirs)).await.unwrap(), Verified::Yes);
        let ours = h.hash(&pw).await.unwrap();
        argon2(&params)
            .verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap())
            .unwrap();
        assert!(
            argon2(&params)
                .verify_password(b"wrong horse", &PasswordHash::new(&ours).unwrap())
                .is_err()
        );
    }

    #[tokio::test]
    async fn lengths_are_bounded() {
        let h = PasswordHasher::new(MIN_MEMORY_KIB, MIN_ITERATIONS, 1, 1).unwrap();
        assert!(h.hash(&Secret::new("short")).await.is_err());
        let long = Secret::new("x".repeat(MAX_PASSWORD_LEN + 1));
        assert!(h.hash(&long).await.is_err());
        assert_eq!(
            h.verify(&long, Some(&*h.dummy_hash)).await.unwrap(),
            Verified::No
        );
    }
}
