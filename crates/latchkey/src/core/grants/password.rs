//! The resource owner password credentials grant (RFC 6749 §4.3), for
//! first-party clients. `POST /v1/signin` is this grant by another door
//! (`core::first_party::signin`), so both answer alike, limits included.
//!
//! "The authorization server MUST [...] protect the endpoint against brute
//! force attacks" (RFC 6749 §4.3.2): the password is checked by
//! `signin::check_password`, under the sign-in limits.
//!
//! A user with a second factor (docs/mfa.md) gets no tokens for the
//! password alone: the answer is `mfa_required` with an `mfa_token` (a
//! challenge bound to the client), and [`finish_mfa`] (`POST
//! /v1/signin/mfa`) issues the tokens once the second factor is proved.

use std::net::IpAddr;

use crate::core::Authority;
use crate::core::clients::{Client, GrantType};
use crate::core::dpop::{self, Jkt};
use crate::core::error::{CarriedToken, Error, Result};
use crate::core::mfa::challenge::{self, NewChallenge, Proof};
use crate::core::mfa::{self, Amr, ChallengeContext, ChallengeKind, Requirement};
use crate::core::params::Params;
use crate::core::refresh::FamilyOrigin;
use crate::core::refresh::RefreshTokenStore;
use crate::core::scope::Scope;
use crate::core::secret::Secret;
use crate::core::settings::MfaPolicy;
use crate::core::signin;
use crate::core::signin::PasswordStores;
use crate::core::tokens::{self, IssuedTokens, OidcRequest, UserGrant};
use crate::core::users::User;

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

    let factors = auth.store.second_factors(&user.id).await?;
    let required = auth.settings.mfa == MfaPolicy::Required || client.policy.require_mfa;
    match mfa::after_password(&factors, required) {
        Requirement::None => {}
        Requirement::Enrol => return Err(Error::MfaEnrollmentRequired),
        Requirement::SecondFactor => {
            let mfa_token = challenge::start(
                auth,
                NewChallenge {
                    user,
                    kind: ChallengeKind::Api,
                    bound_to: client.id.to_string(),
                    amr: Amr::password(),
                    auth_time: auth.clock.now(),
                    context: ChallengeContext::Signin {
                        scope: Some(scope.to_string()),
                        resources: audience,
                    },
                },
            )
            .await?;
            return Err(Error::MfaRequired {
                mfa_token: CarriedToken::new(mfa_token.expose()),
                methods: factors.kinds().into_iter().map(|k| k.as_str()).collect(),
            });
        }
    }
    issue_for(
        auth,
        client,
        &user,
        scope,
        audience,
        &Amr::password(),
        request.dpop_jkt.as_ref(),
    )
    .await
}

/// Issues the tokens of a sign-in that is done.
async fn issue_for<S: PasswordStores + RefreshTokenStore>(
    auth: &Authority<S>,
    client: &Client,
    user: &User,
    scope: Scope,
    audience: Vec<String>,
    amr: &Amr,
    dpop_jkt: Option<&Jkt>,
) -> Result<IssuedTokens> {
    let now = auth.clock.now();
    let prepared = tokens::prepare_user_tokens(
        auth,
        UserGrant {
            client,
            user,
            scope,
            audience,
            auth_time: now,
            origin: FamilyOrigin::Password,
            // With `openid`, an ID token as the code flow's, without a nonce
            // (none was sent), with `amr` (RFC 8176 §2: `pwd`, and `otp`
            // and `mfa` after a second step) and `acr`.
            oidc: Some(OidcRequest {
                nonce: None,
                amr: Some(amr),
                sid: None,
            }),
            dpop_jkt,
        },
    )?;
    if let Some(family) = &prepared.family {
        auth.store.insert_family(family).await?;
    }
    tokens::count_issued(GrantType::Password, &auth.keys.snapshot());
    Ok(prepared.tokens)
}

/// The second step of a password sign-in (`POST /v1/signin/mfa`).
#[derive(Debug)]
pub struct MfaSignin<'a> {
    pub mfa_token: &'a str,
    pub proof: Proof,
    pub client_addr: Option<IpAddr>,
}

impl<'a> MfaSignin<'a> {
    /// Reads `mfa_token` and `code` or `recovery_code`.
    pub fn from_params(params: &'a Params, client_addr: Option<IpAddr>) -> Result<Self> {
        Ok(MfaSignin {
            mfa_token: params.require("mfa_token")?,
            proof: Proof::from_fields(params.get("code"), params.get("recovery_code"))?,
            client_addr,
        })
    }
}

/// Finishes a sign-in that answered `mfa_required`, for the client it was
/// answered to: the `mfa_token` must be live and this client's, the code
/// right (checked under the sign-in limits); then the token is spent (once)
/// and the tokens issued, with `amr` `pwd otp mfa` and `acr` "2". A wrong
/// code leaves the token usable until it expires.
pub async fn finish_mfa<S: PasswordStores + RefreshTokenStore>(
    auth: &Authority<S>,
    client: &Client,
    request: MfaSignin<'_>,
) -> Result<IssuedTokens> {
    client.require_grant(GrantType::Password)?;
    let gone = || Error::invalid_grant("the mfa_token is unknown, expired or already used");
    let ch = challenge::load(
        auth,
        request.mfa_token,
        ChallengeKind::Api,
        Some(client.id.as_str()),
    )
    .await?
    .ok_or_else(gone)?;
    let user = auth
        .store
        .get_user(&ch.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(gone)?;
    let method = challenge::check_code(
        auth,
        &user,
        request.proof,
        request.client_addr,
        Some(client.id.as_str()),
    )
    .await?
    .ok_or_else(|| Error::invalid_grant("the code is wrong or was already used"))?;
    if !challenge::take(auth, request.mfa_token).await? {
        return Err(gone());
    }
    let (scope, audience) = match &ch.context {
        ChallengeContext::Signin { scope, resources } => (
            Scope::grant(
                scope.as_deref().map(Scope::parse).transpose()?,
                &client.scopes,
            )?,
            resources.clone(),
        ),
        ChallengeContext::Login { .. } => return Err(gone()),
    };
    let amr = ch.amr.with_second([method]);
    issue_for(auth, client, &user, scope, audience, &amr, None).await
}
