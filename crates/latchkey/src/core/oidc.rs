//! OpenID Connect beyond the ID token (which `tokens` mints): the UserInfo
//! claims (OIDC Core §5.3) and where RP-Initiated Logout 1.0 may redirect.

use latchkey_proto::{Audience, IdTokenClaims};

use super::Authority;
use super::clients::ClientId;
use super::clients::ClientStore;
use super::deny_list::DenyListStore;
use super::dpop::DpopReplayStore;
use super::error::{Error, Result};
use super::keys::JwtType;
use super::params::Params;
use super::revocation::{self, PresentedToken};
use super::scope::{self, Scope};
use super::sessions;
use super::sessions::SessionStore;
use super::users::UserId;
use super::users::UserStore;

/// `/v1/userinfo` (OIDC Core §5.3): verifies the access token (signature,
/// expiry, deny list) and answers `sub` and the claims of the granted
/// scopes: `profile` → `name`, `email` → `email` and `email_verified`.
///
/// `email_verified` is `false`: emails are entered by administrators and
/// latchkey never proves that the user controls the mailbox.
pub async fn userinfo<S: DenyListStore + UserStore + DpopReplayStore>(
    auth: &Authority<S>,
    token: Option<PresentedToken<'_>>,
    method: &str,
) -> Result<serde_json::Value> {
    let token = token.ok_or_else(|| Error::InvalidToken("no access token".into()))?;
    let url = auth.settings.url(super::discovery::paths::USERINFO);
    let claims = revocation::verify_presented_token(auth, token, method, &url).await?;
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
        .get_user(&UserId::new(claims.sub.as_str()))
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| Error::InvalidToken("the token's user no longer exists".into()))?;
    let scope = Scope::parse(&claims.scope)?;
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), user.id.to_string().into());
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

/// RP-Initiated Logout 1.0 (`/v1/oauth/logout`): ends the browser session
/// the `latchkey_session` cookie names, then picks where the browser goes
/// ([`logout_target`]) from the request's `id_token_hint`, `client_id`,
/// `post_logout_redirect_uri` and `state`.
pub async fn logout<S: SessionStore + ClientStore>(
    auth: &Authority<S>,
    session_cookie: Option<&str>,
    params: &Params,
) -> Result<LogoutTarget> {
    sessions::end(auth, session_cookie).await?;
    logout_target(
        auth,
        params.get("id_token_hint"),
        params.get("client_id"),
        params.get("post_logout_redirect_uri"),
        params.get("state"),
    )
    .await
}

/// Picks where RP-Initiated Logout 1.0 §2/§3 lets us send the browser: a
/// `post_logout_redirect_uri` registered for the client named by a valid
/// `id_token_hint` (verified with our keys, expiry tolerated: a logout often
/// comes long after the ID token expired) or by `client_id`. Anything else
/// gets the page, never an unregistered redirect.
pub async fn logout_target<S: ClientStore>(
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
    let Some(client) = auth
        .clients
        .get(&auth.store, &ClientId::new(client_id))
        .await?
    else {
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
