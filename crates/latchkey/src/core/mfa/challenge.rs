//! Challenges: a sign-in whose first factor passed, waiting for its second
//! (see the module above). Started by the login page and `/v1/signin`,
//! loaded by `/login/mfa` and `/v1/signin/mfa` for the browser or client it
//! is bound to, and taken once by the request that proves the second
//! factor. Codes are checked here, under the sign-in limits: a wrong code
//! is a failure of the user's per-username counter, as a wrong password is.

use std::net::IpAddr;

use super::super::Authority;
use super::super::audit::{self, AuditEvent, AuditLog, Outcome};
use super::super::clock::{SharedClock, UnixTime};
use super::super::error::{Error, Result};
use super::super::ratelimit::{
    AttemptCounterStore, LimitKeys, Outcome as RateOutcome, SigninLimiter,
};
use super::super::secret::{self, Secret, SecretHash, ServerKey};
use super::super::users::User;
use super::seal::SealKeys;
use super::{Amr, Challenge, ChallengeContext, ChallengeKind, Method, MfaStore, recovery, totp};

/// How long a challenge waits for its second factor: five minutes (the
/// `mfa_token`'s lifetime; the login page's too).
pub const TTL_SECONDS: i64 = 300;

/// Challenge ids longer than this are not even hashed (ours are 43).
const MAX_ID_LEN: usize = 128;

/// A challenge to start.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub user: User,
    pub kind: ChallengeKind,
    /// The browser's `latchkey_browser` value (kind browser; stored as its
    /// hash) or the client id (kind api).
    pub bound_to: String,
    pub amr: Amr,
    pub auth_time: UnixTime,
    pub context: ChallengeContext,
}

/// What a challenge is bound to, as stored.
fn binding(kind: ChallengeKind, bound_to: &str) -> String {
    match kind {
        ChallengeKind::Browser => SecretHash::of(bound_to).as_str().to_owned(),
        ChallengeKind::Api => bound_to.to_owned(),
    }
}

/// Stores a challenge; returns its id (the `mfa_token`, or the login
/// page's `challenge` field).
pub async fn start<S: MfaStore>(auth: &Authority<S>, new: NewChallenge) -> Result<Secret> {
    let now = auth.clock.now();
    let id = Secret::new(secret::random_token()?);
    auth.store
        .insert_challenge(
            &SecretHash::of(id.expose()),
            &Challenge {
                user_id: new.user.id.clone(),
                kind: new.kind,
                bound_to: binding(new.kind, &new.bound_to),
                amr: new.amr,
                auth_time: new.auth_time,
                context: new.context,
                created_at: now,
                expires_at: now + TTL_SECONDS,
            },
        )
        .await?;
    Ok(id)
}

/// The challenge `id`, if it exists, is unexpired, of this kind and bound
/// to `bound_to` (the browser's cookie value, or the client id).
pub async fn load<S: MfaStore>(
    auth: &Authority<S>,
    id: &str,
    kind: ChallengeKind,
    bound_to: Option<&str>,
) -> Result<Option<Challenge>> {
    let Some(bound_to) = bound_to else {
        return Ok(None);
    };
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Ok(None);
    }
    let Some(c) = auth.store.find_challenge(&SecretHash::of(id)).await? else {
        return Ok(None);
    };
    let ok = c.kind == kind
        && c.expires_at > auth.clock.now()
        && secret::constant_time_eq(&c.bound_to, &binding(kind, bound_to));
    Ok(ok.then_some(c))
}

/// Takes the challenge `id` (once, and only before it expires): the caller
/// that gets `true` continues it.
pub async fn take<S: MfaStore>(auth: &Authority<S>, id: &str) -> Result<bool> {
    auth.store
        .take_challenge(&SecretHash::of(id), auth.clock.now())
        .await
}

/// A second factor typed into a form or sent as JSON.
#[derive(Debug, Clone)]
pub enum Proof {
    /// A TOTP code (`code`).
    Totp(Secret),
    /// A recovery code (`recovery_code`).
    RecoveryCode(Secret),
}

impl Proof {
    /// `code` or `recovery_code`, exactly one of them (empty is absent).
    pub fn from_fields(code: Option<&str>, recovery_code: Option<&str>) -> Result<Proof> {
        let code = code.map(str::trim).filter(|c| !c.is_empty());
        let recovery = recovery_code.map(str::trim).filter(|c| !c.is_empty());
        match (code, recovery) {
            (Some(c), None) => Ok(Proof::Totp(Secret::new(c))),
            (None, Some(r)) => Ok(Proof::RecoveryCode(Secret::new(r))),
            (None, None) => Err(Error::invalid_request(
                "send the code of the authenticator app (code) or a recovery code (recovery_code)",
            )),
            (Some(_), Some(_)) => Err(Error::invalid_request(
                "send either code or recovery_code, not both",
            )),
        }
    }
}

/// Checks `proof` for `user` under the sign-in limits: a wrong (or
/// replayed) code is a failure of the user's counters, as a wrong
/// password is, and a user over the limit is refused with
/// `TooManyRequests` before any check. Returns the method proved, or
/// `None` for a wrong code.
///
/// Like a password check, it runs in a task of its own, so that a client
/// hanging up cannot leave its slot taken or its failure uncounted.
pub async fn check_code<S: MfaStore + AttemptCounterStore + Clone + 'static>(
    auth: &Authority<S>,
    user: &User,
    proof: Proof,
    client_addr: Option<IpAddr>,
    client_id: Option<&str>,
) -> Result<Option<Method>> {
    let limiter = SigninLimiter::new(&auth.settings);
    let check = CodeCheck {
        keys: limiter.keys(&auth.server_key, &user.email, client_addr),
        limiter,
        store: auth.store.clone(),
        seal: auth.mfa_keys.clone(),
        server_key: auth.server_key.clone(),
        clock: auth.clock.clone(),
        audit: auth.audit.clone(),
        user: user.clone(),
        proof,
        client_addr,
        client_id: client_id.map(str::to_owned),
    };
    tokio::spawn(check.run())
        .await
        .map_err(|e| Error::internal(format!("the code check stopped: {e}")))?
}

/// What a detached code check owns.
struct CodeCheck<S> {
    limiter: SigninLimiter,
    keys: LimitKeys,
    store: S,
    seal: std::sync::Arc<SealKeys>,
    server_key: ServerKey,
    clock: SharedClock,
    audit: AuditLog,
    user: User,
    proof: Proof,
    client_addr: Option<IpAddr>,
    client_id: Option<String>,
}

impl<S: MfaStore + AttemptCounterStore + Clone + 'static> CodeCheck<S> {
    async fn run(self) -> Result<Option<Method>> {
        let admission = self
            .limiter
            .admit(&self.store, self.keys.clone(), &*self.clock)
            .await?;
        let verdict = self.verify().await;
        let now = self.clock.now();
        let outcome = match &verdict {
            Ok(Some(_)) => RateOutcome::Success,
            Ok(None) => RateOutcome::Failure,
            Err(_) => RateOutcome::Unchecked,
        };
        let settled = self
            .limiter
            .settle(&self.store, admission, outcome, now)
            .await;
        let method = verdict?;
        settled?;
        let what = match self.proof {
            Proof::Totp(_) => "second factor: totp",
            Proof::RecoveryCode(_) => "second factor: recovery code",
        };
        let (actor, result) = match method {
            Some(_) => (format!("user:{}", self.user.id), Outcome::Success),
            None => {
                metrics::counter!("latchkey_signin_failures_total").increment(1);
                ("anonymous".to_owned(), Outcome::Failure)
            }
        };
        let mut event = AuditEvent::new(now, audit::Kind::Signin, actor, result)
            .user(self.user.id.as_str())
            .address(self.client_addr)
            .detail(what);
        if let Some(c) = &self.client_id {
            event = event.client(c);
        }
        self.audit.record(event);
        Ok(method)
    }

    /// The check itself: `None` for a wrong, replayed or unusable code.
    async fn verify(&self) -> Result<Option<Method>> {
        let now = self.clock.now();
        match &self.proof {
            Proof::Totp(code) => {
                let Some(stored) = self.store.find_totp(&self.user.id).await? else {
                    return Ok(None);
                };
                if !stored.confirmed {
                    return Ok(None);
                }
                let opened = self.seal.open(&self.user.id, &stored.sealed)?;
                let Some(step) = totp::matching_step(&opened.secret, code.expose(), now) else {
                    return Ok(None);
                };
                // Each step once, across processes: only the UPDATE that
                // moves `last_step` forward accepts it.
                if !self.store.accept_totp_step(&self.user.id, step).await? {
                    return Ok(None);
                }
                if opened.stale {
                    let resealed = self.seal.seal(&self.user.id, &opened.secret)?;
                    if let Err(e) = self
                        .store
                        .reseal_totp(&self.user.id, &stored.sealed, &resealed)
                        .await
                    {
                        tracing::warn!(error = %e, "sealing a TOTP secret with the current key failed; it is tried again at the next use");
                    }
                }
                Ok(Some(Method::Otp))
            }
            Proof::RecoveryCode(code) => {
                let Some(hash) = recovery::hash(&self.server_key, code.expose()) else {
                    return Ok(None);
                };
                let used = self
                    .store
                    .use_recovery_code(&self.user.id, &hash, now)
                    .await?;
                Ok(used.then_some(Method::Otp))
            }
        }
    }
}
