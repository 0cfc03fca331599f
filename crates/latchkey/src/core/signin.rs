//! Checking a password under the sign-in limits: the one check behind the
//! password grant (`grants::password`, which `POST /v1/signin` calls too)
//! and the login page (`core::login`).
//!
//! "The authorization server MUST [...] protect the endpoint against brute
//! force attacks (e.g., using rate-limitation or generating alerts)" (RFC 6749
//! §4.3.2): a password is checked only while its attempt holds a slot of the
//! [`SigninLimiter`]. An unknown user is checked against a dummy hash, so it
//! costs the same time as a wrong password, and both get the same
//! `invalid_grant`. With the `openid` scope the answer carries an ID token.

use std::net::IpAddr;

use super::Authority;
use super::audit::{self, AuditEvent, AuditLog, Outcome};
use super::clock::SharedClock;
use super::error::{Error, Result};
use super::mfa::MfaStore;
use super::password::{PasswordHasher, Verified};
use super::ratelimit::AttemptCounterStore;
use super::ratelimit::{HASH_START_DEADLINE, LimitKeys, Outcome as RateOutcome, SigninLimiter};
use super::secret::Secret;
use super::users::UserStore;
use super::users::{User, UserId};

/// The stores a sign-in uses: the password check (which runs in a task of
/// its own, see [`check_password`], owning a clone of the store) and the
/// second factors that may follow it (`core::mfa`).
pub trait PasswordStores: UserStore + AttemptCounterStore + MfaStore + Clone + 'static {}

impl<T: UserStore + AttemptCounterStore + MfaStore + Clone + 'static> PasswordStores for T {}

/// The same answer for every failure, so that nobody learns which usernames
/// exist, or which accounts are disabled.
fn bad_credentials() -> Error {
    Error::invalid_grant("invalid username or password")
}

/// The `invalid_grant` description for the right password of a user whose
/// address is not verified yet, under `email_verification = "required"`.
/// Only someone who knows the password learns it.
pub const UNVERIFIED: &str =
    "the e-mail address is not verified yet; follow the link in the verification e-mail";

/// Checks a username and password under the sign-in limits (see
/// [`super::ratelimit`]): an unknown user costs the same as a wrong password,
/// and every failure is the same `invalid_grant`. Shared by the password
/// grant, `/v1/signin` and the login page.
///
/// The check runs in a task of its own, so that a request whose client hangs
/// up (dropping this future) is still checked to the end and counted as what
/// it was: a slot taken is always given back, a wrong password always counts.
pub async fn check_password<S: PasswordStores>(
    auth: &Authority<S>,
    username: &str,
    password: &Secret,
    client_addr: Option<IpAddr>,
    client_id: Option<&str>,
) -> Result<User> {
    let limiter = SigninLimiter::new(&auth.settings);
    let check = PasswordCheck {
        keys: limiter.keys(&auth.server_key, username, client_addr),
        limiter,
        store: auth.store.clone(),
        passwords: auth.passwords.clone(),
        clock: auth.clock.clone(),
        audit: auth.audit.clone(),
        username: username.to_owned(),
        password: password.clone(),
        client_addr,
        client_id: client_id.map(str::to_owned),
        require_verified: auth.settings.email_verification
            == super::settings::EmailVerification::Required,
    };
    tokio::spawn(check.run())
        .await
        .map_err(|e| Error::internal(format!("the password check stopped: {e}")))?
}

/// What a detached password check owns.
struct PasswordCheck<S> {
    limiter: SigninLimiter,
    keys: LimitKeys,
    store: S,
    passwords: PasswordHasher,
    clock: SharedClock,
    audit: AuditLog,
    username: String,
    password: Secret,
    client_addr: Option<IpAddr>,
    client_id: Option<String>,
    /// `email_verification = "required"`: unverified users cannot sign in.
    require_verified: bool,
}

impl<S: PasswordStores> PasswordCheck<S> {
    async fn run(self) -> Result<User> {
        let admission = match self
            .limiter
            .admit(&self.store, self.keys.clone(), &*self.clock)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                if matches!(e, Error::TooManyRequests { .. }) {
                    self.audit.record(
                        self.event(
                            audit::Kind::SigninRefused,
                            "anonymous".into(),
                            Outcome::Refused,
                        )
                        .detail("too many failed sign-ins"),
                    );
                }
                return Err(e);
            }
        };

        let checked = async {
            let user = self.store.find_user_by_email(&self.username).await?;
            let verdict = self
                .passwords
                .verify_starting_within(
                    &self.password,
                    user.as_ref().map(|u| u.password_hash.as_str()),
                    Some(HASH_START_DEADLINE),
                )
                .await?;
            Ok::<_, Error>((user, verdict))
        }
        .await;
        let (user, verdict) = match checked {
            Ok(v) => v,
            Err(e) => {
                // Never checked: the slots go back, nothing is counted.
                let now = self.clock.now();
                if let Err(settle) = self
                    .limiter
                    .settle(&self.store, admission, RateOutcome::Unchecked, now)
                    .await
                {
                    tracing::warn!(error = %settle, "giving back a sign-in slot failed; it lapses with its lease");
                }
                return Err(e);
            }
        };
        let now = self.clock.now();
        let user = match (user, verdict) {
            (Some(user), Verified::Yes | Verified::YesRehash) if !user.disabled => user,
            (user, _) => {
                metrics::counter!("latchkey_signin_failures_total").increment(1);
                // The user id when the account exists; never what was typed
                // as the username (people type passwords there).
                let mut failed =
                    self.event(audit::Kind::Signin, "anonymous".into(), Outcome::Failure);
                if let Some(u) = user {
                    failed = failed.user(u.id.as_str());
                }
                self.audit.record(failed);
                // Counted before the answer goes out, so that the client's
                // next attempt sees it.
                self.limiter
                    .settle(&self.store, admission, RateOutcome::Failure, now)
                    .await?;
                return Err(bad_credentials());
            }
        };
        self.limiter
            .settle(&self.store, admission, RateOutcome::Success, now)
            .await?;
        self.audit.record(
            self.event(
                audit::Kind::Signin,
                format!("user:{}", user.id),
                Outcome::Success,
            )
            .user(user.id.as_str()),
        );
        if verdict == Verified::YesRehash {
            self.rehash(&user.id).await;
        }
        if self.require_verified && !user.email_verified {
            return Err(Error::invalid_grant(UNVERIFIED));
        }
        Ok(user)
    }

    fn event(&self, kind: audit::Kind, actor: String, outcome: Outcome) -> AuditEvent {
        let mut e =
            AuditEvent::new(self.clock.now(), kind, actor, outcome).address(self.client_addr);
        if let Some(c) = &self.client_id {
            e = e.client(c);
        }
        e
    }

    /// Stores a hash with the configured parameters after a sign-in verified
    /// an older, weaker one. A failure here costs the user nothing: the old
    /// hash still works, and the next sign-in tries again.
    async fn rehash(&self, user_id: &UserId) {
        let result = async {
            let hash = self.passwords.hash(&self.password).await?;
            self.store
                .set_password_hash(user_id, &hash, self.clock.now())
                .await
        }
        .await;
        match result {
            Ok(_) => tracing::info!(%user_id, "password rehashed with the configured parameters"),
            Err(e) => tracing::warn!(%user_id, error = %e, "rehashing a password failed"),
        }
    }
}
