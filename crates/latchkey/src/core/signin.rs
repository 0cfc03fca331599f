//! Password sign-in: the first-party `POST /v1/signin` and the token
//! endpoint's `grant_type=password` (RFC 6749 §4.3, `grants::password`) are
//! one code path; the cookie refresh and sign-out of `/v1/refresh` and
//! `/v1/signout`.
//!
//! "The authorization server MUST [...] protect the endpoint against brute
//! force attacks (e.g., using rate-limitation or generating alerts)" (RFC 6749
//! §4.3.2): every attempt goes through [`SigninLimiter`] before its password is
//! checked. An unknown user is checked against a dummy hash, so it costs the
//! same time as a wrong password, and both get the same `invalid_grant`.

use std::net::IpAddr;

use super::audit::{self, AuditEvent, Outcome};
use super::clients::{self, ClientCredentials};
use super::error::{Error, Result};
use super::grants::password::{self, PasswordSignin};
use super::grants::refresh_token::{self, Presenter, RefreshRequest};
use super::params::Params;
use super::password::Verified;
use super::ratelimit::SigninLimiter;
use super::refresh::family;
use super::scope::Scope;
use super::secret::Secret;
use super::tokens::IssuedTokens;
use super::users::UserId;
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

/// Checks a username and password under the sign-in limits (SPEC §5): the
/// attempt is charged before the password is checked, an unknown user costs
/// the same as a wrong password, and every failure is the same
/// `invalid_grant`. Shared by the password grant, `/v1/signin` and the login
/// page.
pub async fn check_password<S: Storage>(
    auth: &Authority<S>,
    username: &str,
    password: &Secret,
    client_addr: Option<IpAddr>,
    client_id: Option<&str>,
) -> Result<super::users::User> {
    let event = |kind, actor: String, outcome| {
        let mut e = AuditEvent::new(auth.clock.now(), kind, actor, outcome).address(client_addr);
        if let Some(c) = client_id {
            e = e.client(c);
        }
        e
    };
    let limiter = SigninLimiter::new(&auth.settings);
    let keys = limiter.keys(&auth.server_key, username, client_addr);
    let admission = match limiter.admit(&auth.store, keys, auth.clock.now()).await {
        Ok(a) => a,
        Err(e) => {
            if matches!(e, Error::TooManyRequests { .. }) {
                auth.audit.record(
                    event(
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

    let user = auth.store.find_user_by_email(username).await?;
    let verdict = auth
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let user = match (user, verdict) {
        (Some(user), Verified::Yes | Verified::YesRehash) if !user.disabled => user,
        (user, _) => {
            metrics::counter!("latchkey_signin_failures_total").increment(1);
            // The user id when the account exists; never what was typed as
            // the username (people type passwords there).
            let mut failed = event(audit::Kind::Signin, "anonymous".into(), Outcome::Failure);
            if let Some(u) = user {
                failed = failed.user(u.id.as_str());
            }
            auth.audit.record(failed);
            return Err(bad_credentials());
        }
    };
    auth.audit.record(
        event(
            audit::Kind::Signin,
            format!("user:{}", user.id),
            Outcome::Success,
        )
        .user(user.id.as_str()),
    );
    limiter.succeeded(&auth.store, &admission).await?;
    if verdict == Verified::YesRehash {
        rehash(auth, &user.id, password).await;
    }
    Ok(user)
}

/// Stores a hash with the configured parameters after a sign-in verified an
/// older, weaker one. A failure here costs the user nothing: the old hash
/// still works, and the next sign-in tries again.
async fn rehash<S: Storage>(auth: &Authority<S>, user_id: &UserId, password: &Secret) {
    let result = async {
        let hash = auth.passwords.hash(password).await?;
        auth.store
            .set_password_hash(user_id, &hash, auth.clock.now())
            .await
    }
    .await;
    match result {
        Ok(_) => tracing::info!(%user_id, "password rehashed with the configured parameters"),
        Err(e) => tracing::warn!(%user_id, error = %e, "rehashing a password failed"),
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
