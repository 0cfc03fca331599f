//! The resource owner password credentials grant (RFC 6749 §4.3), for
//! first-party clients. `POST /v1/signin` is this grant by another door
//! (`core::first_party::signin`), so both answer alike, limits included.
//!
//! "The authorization server MUST [...] protect the endpoint against brute
//! force attacks" (RFC 6749 §4.3.2): the password is checked by
//! `signin::check_password`, under the sign-in limits.

use std::net::IpAddr;

use crate::core::Authority;
use crate::core::clients::{Client, GrantType};
use crate::core::dpop::{self, Jkt};
use crate::core::error::Result;
use crate::core::params::Params;
use crate::core::refresh::FamilyOrigin;
use crate::core::refresh::RefreshTokenStore;
use crate::core::scope::Scope;
use crate::core::secret::Secret;
use crate::core::signin;
use crate::core::signin::PasswordStores;
use crate::core::tokens::{self, IssuedTokens, OidcRequest, UserGrant};

/// A password sign-in request.
#[derive(Debug)]
pub struct PasswordSignin<'a> {
    pub username: &'a str,
    pub password: Secret,
    pub scope: Option<Scope>,
    pub resources: Vec<String>,
    /// The client's network address, for the per-address limit; `None` when
    /// unknown (the per-username limit still applies).
    pub client_addr: Option<IpAddr>,
    /// The DPoP key the request proved possession of (RFC 9449), if any.
    pub dpop_jkt: Option<Jkt>,
}

impl<'a> PasswordSignin<'a> {
    /// Reads `username`, `password`, `scope` and `resource` (RFC 6749 §4.3.2,
    /// RFC 8707).
    pub fn from_params(params: &'a Params, client_addr: Option<IpAddr>) -> Result<Self> {
        Ok(PasswordSignin {
            username: params.require("username")?,
            password: Secret::new(params.require("password")?),
            scope: params.get("scope").map(Scope::parse).transpose()?,
            resources: params.get_all("resource").map(str::to_owned).collect(),
            client_addr,
            dpop_jkt: None,
        })
    }
}

/// Signs a user in with a password on behalf of an authenticated `client`.
pub async fn issue<S: PasswordStores + RefreshTokenStore>(
    auth: &Authority<S>,
    client: &Client,
    request: PasswordSignin<'_>,
) -> Result<IssuedTokens> {
    client.require_grant(GrantType::Password)?;
    dpop::require_if_registered(client, request.dpop_jkt.as_ref())?;
    // Request errors first: they are not guesses and cost no attempt.
    let scope = Scope::grant(request.scope, &client.scopes)?;
    let audience = tokens::audience(
        client,
        request.resources.iter().map(String::as_str),
        &auth.settings,
    )?;

    let user = signin::check_password(
        auth,
        request.username,
        &request.password,
        request.client_addr,
        Some(client.id.as_str()),
    )
    .await?;

    let now = auth.clock.now();
    let prepared = tokens::prepare_user_tokens(
        auth,
        UserGrant {
            client,
            user: &user,
            scope,
            audience,
            auth_time: now,
            origin: FamilyOrigin::Password,
            // With `openid`, an ID token as the code flow's, without a nonce
            // (none was sent) and with `amr: ["pwd"]` (RFC 8176 §2).
            oidc: Some(OidcRequest {
                nonce: None,
                amr: &[tokens::AMR_PASSWORD],
                sid: None,
            }),
            dpop_jkt: request.dpop_jkt.as_ref(),
        },
    )?;
    if let Some(family) = &prepared.family {
        auth.store.insert_family(family).await?;
    }
    tokens::count_issued(GrantType::Password, &auth.keys.snapshot());
    Ok(prepared.tokens)
}
