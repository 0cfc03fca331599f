//! OpenID Connect (OIDC Core §2, §3.1.3.6, §5.3; RP-Initiated Logout 1.0):
//! the ID token, the UserInfo claims, and what logout may redirect to.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_proto::{Audience, IdTokenClaims};
use sha2::{Digest as _, Sha256, Sha512};

use super::clients::Client;
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::keys::{JwtType, KeySet, SigningAlg};
use super::refresh::{self, PreparedTokens, UserGrant};
use super::revocation;
use super::scope::{self, Scope};
use super::users::User;
use super::{Authority, Storage};

/// What an ID token says beyond the user and the client.
#[derive(Debug, Clone)]
pub struct IdTokenSpec<'a> {
    pub auth_time: UnixTime,
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// Mints an ID token signed with the current key: `iss`, `sub`, `aud` (the
/// client id alone, so no `azp` is needed: OIDC Core §2 asks for `azp` only
/// when `aud` has several members), `exp`, `iat`, `auth_time`, `nonce` when
/// the request sent one, and `at_hash`.
pub fn mint_id_token(
    keys: &KeySet,
    settings: &crate::config::Settings,
    now: UnixTime,
    client: &Client,
    user: &User,
    spec: IdTokenSpec<'_>,
) -> Result<String> {
    let alg = keys
        .current()
        .map(|(_, alg)| alg)
        .ok_or_else(|| Error::internal("no current signing key"))?;
    let claims = IdTokenClaims {
        iss: settings.issuer.clone(),
        sub: user.id.0.clone(),
        aud: Audience::One(client.id.0.clone()),
        exp: now + settings.id_token_ttl_seconds,
        iat: now,
        auth_time: Some(spec.auth_time),
        nonce: spec.nonce.map(str::to_owned),
        at_hash: Some(at_hash(alg, spec.access_token)),
        azp: None,
        sid: None,
        email: None,
        email_verified: None,
        name: None,
    };
    keys.sign(JwtType::IdToken, &claims)
}

/// "Its value is the base64url encoding of the left-most half of the hash of
/// the octets of the ASCII representation of the access_token value, where
/// the hash algorithm used is the hash algorithm used in the alg Header
/// Parameter of the ID Token's JOSE Header." (OIDC Core §3.1.3.6) Ed25519
/// signs with SHA-512 (OIDC Core errata, RFC 8037).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    match alg {
        SigningAlg::EdDSA => {
            let h = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&h[..32])
        }
        _ => {
            let h = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&h[..16])
        }
    }
}

/// `/v1/userinfo` (OIDC Core §5.3): verifies the access token (signature,
/// expiry, deny list) and answers `sub` and the claims of the granted
/// scopes: `profile` → `name`, `email` → `email` and `email_verified`.
///
/// `email_verified` is `false`: emails are entered by administrators and
/// latchkey never proves that the user controls the mailbox.
pub async fn userinfo<S: Storage>(
    auth: &Authority<S>,
    token: Option<&str>,
) -> Result<serde_json::Value> {
    let token = token.ok_or_else(|| Error::InvalidToken("no access token".into()))?;
    let claims = revocation::verify_access_token(auth, token).await?;
    // The request acts for the client the token was issued to
    // (core::origins): its app may read the answer across origins.
    super::origins::note_acting_client(&claims.client_id);
    if !claims.has_scope(scope::OPENID) {
        return Err(Error::InsufficientScope(
            "the access token was not granted the openid scope".into(),
        ));
    }
    let user = auth
        .store
        .get_user(&claims.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| Error::InvalidToken("the token's user no longer exists".into()))?;
    let scope = Scope::parse(&claims.scope)?;
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), user.id.0.clone().into());
    if scope.contains(scope::PROFILE)
        && let Some(name) = &user.name
    {
        out.insert("name".into(), name.clone().into());
    }
    if scope.contains(scope::EMAIL) {
        out.insert("email".into(), user.email.clone().into());
        out.insert("email_verified".into(), false.into());
    }
    Ok(serde_json::Value::Object(out))
}

/// What the end-session endpoint may do after ending the session.
#[derive(Debug)]
pub enum LogoutTarget {
    /// Redirect to this registered `post_logout_redirect_uri` (with `state`).
    Redirect(String),
    /// Show the "signed out" page.
    Page,
}

/// Picks where RP-Initiated Logout 1.0 §2/§3 lets us send the browser: a
/// `post_logout_redirect_uri` registered for the client named by a valid
/// `id_token_hint` (verified with our keys, expiry tolerated: a logout often
/// comes long after the ID token expired) or by `client_id`. Anything else
/// gets the page, never an unregistered redirect.
pub async fn logout_target<S: Storage>(
    auth: &Authority<S>,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> Result<LogoutTarget> {
    let hinted = id_token_hint.and_then(|t| {
        auth.keys
            .snapshot()
            .verify::<IdTokenClaims>(
                t,
                JwtType::IdToken,
                &auth.settings.issuer,
                None,
                auth.clock.now(),
                i64::MAX,
            )
            .ok()
    });
    let hinted_client = hinted.as_ref().and_then(|c| match &c.aud {
        Audience::One(a) => Some(a.clone()),
        Audience::Many(v) => v.first().cloned(),
    });
    // A client_id that contradicts the hint is ignored (with the redirect).
    let client_id = match (hinted_client, client_id) {
        (Some(h), Some(c)) if h != c => return Ok(LogoutTarget::Page),
        (Some(h), _) => Some(h),
        (None, c) => c.map(str::to_owned),
    };
    let (Some(uri), Some(client_id)) = (post_logout_redirect_uri, client_id) else {
        return Ok(LogoutTarget::Page);
    };
    let Some(client) = auth.clients.get(&auth.store, &client_id).await? else {
        return Ok(LogoutTarget::Page);
    };
    if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
        return Ok(LogoutTarget::Page);
    }
    let Ok(mut url) = url::Url::parse(uri) else {
        return Ok(LogoutTarget::Page);
    };
    if let Some(s) = state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(LogoutTarget::Redirect(url.into()))
}

/// The tokens of a grant that acts for a signed-in user (a redeemed
/// authorization code or device code): the access token, the refresh token
/// when the client may refresh, and, when `openid` was granted, the ID token
/// bound to that access token (`at_hash`).
pub fn prepare_user_tokens_with_id_token<S: Storage>(
    auth: &Authority<S>,
    grant: UserGrant<'_>,
    nonce: Option<&str>,
    now: UnixTime,
) -> Result<PreparedTokens> {
    let (client, user, auth_time) = (grant.client, grant.user, grant.auth_time);
    let openid = grant.scope.contains(scope::OPENID);
    let mut prepared = refresh::prepare_user_tokens(auth, grant)?;
    if openid {
        let id_token = mint_id_token(
            &auth.keys.snapshot(),
            &auth.settings,
            now,
            client,
            user,
            IdTokenSpec {
                auth_time,
                nonce,
                access_token: &prepared.tokens.access_token,
            },
        )?;
        prepared.tokens.id_token = Some(id_token);
    }
    Ok(prepared)
}
