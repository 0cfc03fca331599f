//! Starting a family and revoking one.

use crate::core::Authority;
use crate::core::audit::{self, AuditEvent, Outcome};
use crate::core::clients::Client;
use crate::core::clock::UnixTime;
use crate::core::dpop::Jkt;
use crate::core::error::Result;
use crate::core::scope::Scope;
use crate::core::secret::{self, Secret, SecretHash};
use crate::core::settings::Settings;
use crate::core::users::UserId;

use super::{
    FamilyOrigin, MAX_TOKEN_LEN, NewFamily, RefreshFamily, RefreshTokenRecord, RefreshTokenStore,
};

/// What a new family is for.
#[derive(Debug, Clone)]
pub struct FamilySpec<'a> {
    pub client: &'a Client,
    pub user_id: &'a UserId,
    /// The scope granted.
    pub scope: Scope,
    pub auth_time: Option<UnixTime>,
    pub origin: FamilyOrigin,
    /// The DPoP key the family's tokens are bound to, if any.
    pub dpop_jkt: Option<Jkt>,
}

/// Starts a family: a fresh random token and the records to store, the
/// family and the token's hash. Pure: nothing is stored. The caller stores
/// [`NewFamily`] — alone with `RefreshTokenStore::insert_family`, or inside
/// its own transaction with `store::RefreshTx::insert_family` (so that, say,
/// redeeming a code and issuing its tokens is one transaction) — and hands
/// the token out (`tokens::IssuedRefreshToken`).
pub fn start(
    settings: &Settings,
    spec: FamilySpec<'_>,
    now: UnixTime,
) -> Result<(NewFamily, Secret)> {
    let FamilySpec {
        client,
        user_id,
        scope,
        auth_time,
        origin,
        dpop_jkt,
    } = spec;
    let token = Secret::new(secret::random_token()?);
    let family = RefreshFamily {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.clone(),
        user_id: user_id.clone(),
        scope,
        auth_time,
        origin: Some(origin),
        created_at: now,
        expires_at: now + settings.refresh_token_absolute_ttl_seconds,
        revoked_at: None,
        dpop_jkt,
    };
    let first_token = RefreshTokenRecord {
        hash: SecretHash::of(token.expose()),
        family_id: family.id.clone(),
        issued_at: now,
        expires_at: (now + settings.refresh_token_idle_ttl_seconds).min(family.expires_at),
    };
    Ok((
        NewFamily {
            family,
            first_token,
        },
        token,
    ))
}

/// Revokes the family of a refresh token, if the token is known and, when
/// `client` is given, was issued to that client. Returns whether a family was
/// revoked. Unknown tokens and other clients' tokens change nothing (RFC 7009
/// §2.2: "invalid tokens do not cause an error response").
pub async fn revoke_by_token<S: RefreshTokenStore>(
    auth: &Authority<S>,
    client: Option<&Client>,
    token: &str,
) -> Result<bool> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(false);
    }
    let Some(found) = auth
        .store
        .find_refresh_token(&SecretHash::of(token))
        .await?
    else {
        return Ok(false);
    };
    if client.is_some_and(|c| !c.id.matches(&found.family.client_id)) {
        return Ok(false);
    }
    if client.is_none() {
        // A cookie sign-out acts for the cookie's client (core::origins).
        crate::core::origins::note_acting_client(found.family.client_id.as_str());
    }
    let revoked = auth
        .store
        .revoke_family(&found.family.id, auth.clock.now())
        .await?;
    if revoked {
        let actor = match client {
            Some(c) => format!("client:{}", c.id),
            None => format!("user:{}", found.family.user_id),
        };
        auth.audit.record(
            AuditEvent::new(
                auth.clock.now(),
                audit::Kind::Revoke,
                actor,
                Outcome::Success,
            )
            .user(found.family.user_id.as_str())
            .client(found.family.client_id.as_str())
            .detail(format!("refresh token family {}", found.family.id)),
        );
    }
    Ok(revoked)
}
