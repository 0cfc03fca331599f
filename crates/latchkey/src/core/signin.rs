//! Password sign-in: the first-party `POST /v1/signin` and the token
//! endpoint's `grant_type=password` (RFC 6749 §4.3, `grants::password`) are
//! one code path; the cookie refresh and sign-out of `/v1/refresh` and
//! `/v1/signout`.
//!
//! "The authorization server MUST [...] protect the endpoint against brute
//! force attacks (e.g., using rate-limitation or generating alerts)" (RFC 6749
//! §4.3.2): a password is checked only while its attempt holds a slot of the
//! [`SigninLimiter`]. An unknown user is checked against a dummy hash, so it
//! costs the same time as a wrong password, and both get the same
//! `invalid_grant`. With the `openid` scope the answer carries an ID token.

use std::net::IpAddr;

use super::audit::{self, AuditEvent, AuditLog, Outcome};
use super::clients::{self, ClientCredentials};
use super::clock::SharedClock;
use super::error::{Error, Result};
use super::grants::password::{self, PasswordSignin};
use super::grants::refresh_token::{self, Presenter, RefreshRequest};
use super::params::Params;
use super::password::{PasswordHasher, Verified};
use super::ratelimit::{HASH_START_DEADLINE, LimitKeys, Outcome as RateOutcome, SigninLimiter};
use super::refresh::family;
use super::scope::Scope;
use super::secret::Secret;
use super::tokens::IssuedTokens;
use super::users::User;
use super::{Authority, Storage};

/// The same answer for every failure, so that nobody learns which usernames
/// exist, or which accounts are disabled.
fn bad_credentials() -> Error {
    Error::invalid_grant("invalid username or password")
}

/// `POST /v1/signin`: authenticates the client (HTTP Basic, or a public
/// client's `client_id` in the body), then signs the user in.
pub async fn signin<S: Storage>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    client_addr: Option<IpAddr>,
) -> Result<IssuedTokens> {
    let request = PasswordSignin::from_params(params, client_addr)?;
    let client = clients::authenticate(&auth.store, &auth.clients, creds).await?;
    password::issue(auth, &client, request).await
}

/// Checks a username and password under the sign-in limits (see
/// [`super::ratelimit`]): an unknown user costs the same as a wrong password,
/// and every failure is the same `invalid_grant`. Shared by the password
/// grant, `/v1/signin` and the login page.
///
/// The check runs in a task of its own, so that a request whose client hangs
/// up (dropping this future) is still checked to the end and counted as what
/// it was: a slot taken is always given back, a wrong password always counts.
pub async fn check_password<S: Storage>(
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
}

impl<S: Storage> PasswordCheck<S> {
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
                    failed = failed.user(u.id.0.as_str());
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
                format!("user:{}", user.id.0),
                Outcome::Success,
            )
            .user(user.id.0.as_str()),
        );
        if verdict == Verified::YesRehash {
            self.rehash(&user.id.0).await;
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
    async fn rehash(&self, user_id: &str) {
        let result = async {
            let hash = self.passwords.hash(&self.password).await?;
            self.store
                .set_password_hash(user_id, &hash, self.clock.now())
                .await
        }
        .await;
        match result {
            Ok(_) => tracing::info!(user_id, "password rehashed with the configured parameters"),
            Err(e) => tracing::warn!(user_id, error = %e, "rehashing a password failed"),
        }
    }
}

/// What `POST /v1/refresh` and `POST /v1/signout` read from the browser
/// (SPEC §5): the refresh cookie, the CSRF cookie, the `X-CSRF-Token` header.
#[derive(Debug, Clone, Default)]
pub struct BrowserCredentials<'a> {
    pub refresh_cookie: Option<Secret>,
    pub csrf_cookie: Option<&'a str>,
    pub csrf_header: Option<&'a str>,
}

/// `POST /v1/refresh`: rotates the refresh token of the cookie, after the
/// double-submit check. No client authentication: the token is bound to its
/// client, which must be registered for cookie delivery. An optional `scope`
/// narrows the new access token, as at the token endpoint.
pub async fn refresh_with_cookie<S: Storage>(
    auth: &Authority<S>,
    browser: &BrowserCredentials<'_>,
    params: &Params,
) -> Result<IssuedTokens> {
    let token = browser
        .refresh_cookie
        .as_ref()
        .ok_or_else(|| Error::invalid_grant("no refresh token cookie"))?;
    super::csrf::check_refresh_cookie(
        &auth.server_key,
        token,
        browser.csrf_cookie,
        browser.csrf_header,
    )?;
    let scope = params.get("scope").map(Scope::parse).transpose()?;
    let resources: Vec<String> = params.get_all("resource").map(str::to_owned).collect();
    refresh_token::rotate(
        auth,
        RefreshRequest {
            presenter: Presenter::Cookie,
            token,
            scope: scope.as_ref(),
            resources: &resources,
        },
    )
    .await
}

/// `POST /v1/signout`: revokes the family of the refresh token given either
/// as `refresh_token` in the body, by an authenticated client (`creds`), or
/// as the cookie, with the double-submit check. Signing out without either
/// succeeds (there is nothing to end); the caller clears the cookies.
pub async fn signout<S: Storage>(
    auth: &Authority<S>,
    browser: &BrowserCredentials<'_>,
    creds: Result<ClientCredentials>,
    params: &Params,
) -> Result<()> {
    if let Some(token) = params.get("refresh_token") {
        let client = clients::authenticate(&auth.store, &auth.clients, &creds?).await?;
        family::revoke_by_token(auth, Some(&client), token).await?;
    } else if let Some(token) = &browser.refresh_cookie {
        super::csrf::check_refresh_cookie(
            &auth.server_key,
            token,
            browser.csrf_cookie,
            browser.csrf_header,
        )?;
        family::revoke_by_token(auth, None, token.expose()).await?;
    }
    Ok(())
}
