//! What goes into a token and how long it lives (SPEC §4). Minting only: the
//! private keys stay in `keys`, and storing refresh tokens is the grants' job.

use latchkey_proto::{AccessTokenClaims, Audience};

use super::clients::{Client, TokenDelivery};
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::keys::{JwtType, KeySet};
use super::scope::Scope;
use super::secret::Secret;
use super::settings::Settings;

/// Who an access token speaks for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The client itself (`client_credentials`): `sub` is the client id.
    Client,
    /// A user, with the claims SPEC §4 puts in the token.
    User {
        id: String,
        roles: Vec<String>,
        email: Option<String>,
        auth_time: Option<UnixTime>,
    },
}

/// Everything a grant hands back to the token endpoint.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: Scope,
    pub refresh_token: Option<IssuedRefreshToken>,
    pub id_token: Option<String>,
}

/// A refresh token on its way to the client, and how it travels (SPEC §5).
#[derive(Debug, Clone)]
pub struct IssuedRefreshToken {
    pub token: Secret,
    /// Seconds until it expires: the idle lifetime, capped by what is left of
    /// the family's absolute one. The refresh cookie's `Max-Age`.
    pub expires_in: i64,
    /// In the JSON body, or in the `latchkey_refresh` cookie.
    pub delivery: TokenDelivery,
    /// For cookie delivery: the double-submit CSRF token for the
    /// `latchkey_csrf` cookie, an HMAC of the refresh token (so a cookie
    /// planted by a sibling subdomain cannot stand in for it).
    pub csrf_token: Option<Secret>,
}

/// Picks the `aud` of an access token (RFC 8707 §2): the requested resources if
/// the client is registered for every one of them, `invalid_target` otherwise;
/// without a request, the configured default audience.
pub fn audience<'a>(
    client: &Client,
    resources: impl Iterator<Item = &'a str>,
    settings: &Settings,
) -> Result<Vec<String>> {
    let mut aud: Vec<String> = Vec::new();
    for r in resources {
        if !client.audiences.iter().any(|a| a == r) {
            return Err(Error::InvalidTarget(
                format!("the client is not registered for the resource {r:?}").into(),
            ));
        }
        if !aud.iter().any(|a| a == r) {
            aud.push(r.to_owned());
        }
    }
    if aud.is_empty() {
        aud.push(settings.default_audience().to_owned());
    }
    Ok(aud)
}

/// Mints an RFC 9068 access token signed with the current key.
pub fn mint_access_token(
    keys: &KeySet,
    settings: &Settings,
    now: UnixTime,
    client: &Client,
    subject: &Subject,
    scope: &Scope,
    audience: Vec<String>,
) -> Result<(String, AccessTokenClaims)> {
    let (sub, roles, email, auth_time) = match subject {
        Subject::Client => (client.id.0.clone(), None, None, None),
        Subject::User {
            id,
            roles,
            email,
            auth_time,
        } => (
            id.clone(),
            Some(roles.clone()),
            // SPEC §4: `email` only when the email scope was granted.
            email
                .clone()
                .filter(|_| scope.contains(super::scope::EMAIL)),
            *auth_time,
        ),
    };
    let claims = AccessTokenClaims {
        iss: settings.issuer.clone(),
        sub,
        aud: Audience::from_vec(audience),
        exp: now + settings.access_token_ttl_seconds,
        iat: now,
        nbf: None,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.0.clone(),
        scope: scope.to_string(),
        auth_time,
        roles,
        email,
    };
    let jwt = keys.sign(JwtType::AccessToken, &claims)?;
    Ok((jwt, claims))
}

/// Counts a token response in `latchkey_tokens_issued_total`, by grant and
/// by the algorithm of the key that signed it. Both labels are `'static`.
pub fn count_issued(grant: &'static str, keys: &KeySet) {
    let alg = keys.current().map_or("none", |(_, alg)| alg.as_str());
    metrics::counter!("latchkey_tokens_issued_total", "grant" => grant, "alg" => alg).increment(1);
}
