//! The first-party endpoints (for an organisation's own apps): `POST
//! /v1/signin`, the password grant by another door; `POST /v1/refresh`, the
//! refresh token grant presented by the `latchkey_refresh` cookie; `POST
//! /v1/signout`, which revokes a refresh token's family. Each authenticates
//! what it must (the client, or the cookie with its double-submit token)
//! and hands over to the grant or the family.

use std::net::IpAddr;

use super::Authority;
use super::clients::ClientStore;
use super::clients::{self, ClientCredentials};
use super::csrf;
use super::error::{Error, Result};
use super::grants::password::{self, MfaSignin, PasswordSignin};
use super::grants::refresh_token::{self, Presenter, RefreshRequest};
use super::params::Params;
use super::refresh::RefreshTokenStore;
use super::refresh::family;
use super::scope::Scope;
use super::secret::Secret;
use super::signin::PasswordStores;
use super::tokens::IssuedTokens;

/// `POST /v1/signin`: authenticates the client (HTTP Basic, or a public
/// client's `client_id` in the body), then signs the user in.
pub async fn signin<S: ClientStore + PasswordStores + RefreshTokenStore>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    client_addr: Option<IpAddr>,
) -> Result<IssuedTokens> {
    let request = PasswordSignin::from_params(params, client_addr)?;
    let client = clients::authenticate(auth, creds).await?;
    // FAPI 2.0 §5.3.2.2: no resource owner password credentials, by any
    // door.
    if client.is_fapi2() {
        return Err(Error::UnauthorizedClient(
            "a fapi2 client cannot sign in with a password".into(),
        ));
    }
    password::issue(auth, &client, request).await
}

/// `POST /v1/signin/mfa`: the second step of a `/v1/signin` that answered
/// `mfa_required` (docs/mfa.md), with the same client authentication.
pub async fn signin_mfa<S: ClientStore + PasswordStores + RefreshTokenStore>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    client_addr: Option<IpAddr>,
) -> Result<IssuedTokens> {
    let request = MfaSignin::from_params(params, client_addr)?;
    let client = clients::authenticate(auth, creds).await?;
    password::finish_mfa(auth, &client, request).await
}

/// What `POST /v1/refresh` and `POST /v1/signout` read from the browser: the
/// refresh cookie, the CSRF cookie, the `X-CSRF-Token` header.
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
pub async fn refresh_with_cookie<S: ClientStore + RefreshTokenStore>(
    auth: &Authority<S>,
    browser: &BrowserCredentials<'_>,
    params: &Params,
) -> Result<IssuedTokens> {
    let token = browser
        .refresh_cookie
        .as_ref()
        .ok_or_else(|| Error::invalid_grant("no refresh token cookie"))?;
    csrf::check_refresh_cookie(
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
            dpop_jkt: None,
        },
    )
    .await
}

/// `POST /v1/signout`: revokes the family of the refresh token given either
/// as `refresh_token` in the body, by an authenticated client (`creds`), or
/// as the cookie, with the double-submit check. Signing out without either
/// succeeds (there is nothing to end); the caller clears the cookies.
pub async fn signout<S: ClientStore + RefreshTokenStore>(
    auth: &Authority<S>,
    browser: &BrowserCredentials<'_>,
    creds: Result<ClientCredentials>,
    params: &Params,
) -> Result<()> {
    if let Some(token) = params.get("refresh_token") {
        let client = clients::authenticate(auth, &creds?).await?;
        family::revoke_by_token(auth, Some(&client), token).await?;
    } else if let Some(token) = &browser.refresh_cookie {
        csrf::check_refresh_cookie(
            &auth.server_key,
            token,
            browser.csrf_cookie,
            browser.csrf_header,
        )?;
        family::revoke_by_token(auth, None, token.expose()).await?;
    }
    Ok(())
}
