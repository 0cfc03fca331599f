//! Refresh tokens: issuing, rotating, detecting reuse (RFC 6749 §6, RFC 9700
//! §4.14, SPEC §4).
//!
//! A refresh token is 256 bits from the OS CSPRNG; only its SHA-256 is stored.
//! The tokens descending from one grant form a *family*. Every use *rotates*:
//! the presented token is marked used and its successor inserted, in one
//! transaction, by a conditional `UPDATE … WHERE used_at IS NULL` that at most
//! one caller can win (on SQLite the write lock serializes, on PostgreSQL the
//! row lock makes a second `UPDATE` re-check the row and match nothing). So of
//! N concurrent uses of one token exactly one succeeds, whichever process
//! serves them.
//!
//! "If a refresh token is compromised and subsequently used by both the
//! attacker and the legitimate client, one of them will present an invalidated
//! refresh token, which will inform the authorization server of the breach.
//! The authorization server cannot determine which party submitted the invalid
//! refresh token, but it will revoke the active refresh token." (RFC 9700
//! §4.14.2) Here presenting a used token revokes the whole family: the newest
//! token dies too.
//!
//! The grace period (`refresh_reuse_grace_seconds`) is for clients that race
//! themselves. A successor is not random but derived from the presented token
//! with the shared HMAC key, `HMAC(k, "refresh-successor" ‖ token)`: any
//! process can recompute it, nothing is stored in the clear, and a repeat
//! within the window gets the *same* successor, not a new branch of the family.
//! The first token of a family is random, so every later one is unpredictable
//! to anyone without the key.

use std::future::Future;

use super::audit::{self, AuditEvent, Outcome};

use super::clients::{Client, GrantType, TokenDelivery};
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::scope::Scope;
use super::secret::{self, Secret, SecretHash, ServerKey};
use super::tokens::{self, IssuedRefreshToken, IssuedTokens, Subject};
use super::users::User;
use super::{Authority, Storage};
use crate::config::Settings;

/// HMAC purpose of a successor token.
pub const SUCCESSOR_PURPOSE: &str = "refresh-successor";
/// HMAC purpose of the CSRF token bound to a cookie-delivered refresh token.
pub const CSRF_PURPOSE: &str = "refresh-csrf";

/// Presented refresh tokens longer than this are refused unhashed (ours are 43
/// characters).
const MAX_TOKEN_LEN: usize = 512;

/// What the family of refresh tokens was issued from. Stored as text; the
/// prefixes are a convention shared by the grants:
/// `password`, `code:<SHA-256 of the code>`, `device:<SHA-256 of the device
/// code>`. A replayed authorization code revokes what it issued through
/// [`RefreshTokenStore::revoke_families_by_origin`].
pub mod origin {
    pub const PASSWORD: &str = "password";

    /// The origin of a family issued by redeeming an authorization code.
    pub fn code(code_hash: &str) -> String {
        format!("code:{code_hash}")
    }

    /// The origin of a family issued by a device authorization.
    pub fn device(device_code_hash: &str) -> String {
        format!("device:{device_code_hash}")
    }
}

/// The tokens descending from one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    /// The scope the resource owner granted; a refresh may narrow it for one
    /// access token, never widen it.
    pub scope: Scope,
    pub auth_time: Option<UnixTime>,
    pub origin: Option<String>,
    pub created_at: UnixTime,
    /// The absolute lifetime (`refresh_token_absolute_ttl_seconds` from
    /// creation): no token of the family outlives it.
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

impl RefreshFamily {
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One refresh token as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: SecretHash,
    pub family_id: String,
    pub issued_at: UnixTime,
    /// The idle lifetime, capped by the family's absolute one.
    pub expires_at: UnixTime,
}

/// A family about to be stored together with its first token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    pub family: RefreshFamily,
    pub first_token: RefreshTokenRecord,
}

/// What an access token minted from a refresh needs to know about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub email: String,
    pub roles: Vec<String>,
    pub disabled: bool,
}

/// A stored refresh token with its family and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub record: RefreshTokenRecord,
    /// When a rotation consumed it.
    pub used_at: Option<UnixTime>,
    /// The hash of the token that rotation issued.
    pub successor_hash: Option<SecretHash>,
    pub family: RefreshFamily,
    pub owner: TokenOwner,
}

impl StoredRefreshToken {
    /// Unused, unexpired, in a live family.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.used_at.is_none() && now < self.record.expires_at && self.family.is_live(now)
    }
}

/// Storage of refresh tokens.
///
/// Contracts (checked by `tests/it/store.rs` on both backends):
/// - `rotate_refresh_token` yields a successor at most once per token, however
///   many callers race, in however many processes;
/// - a token is live only while its family is: revoking a family kills every
///   token of it, including one inserted concurrently with the revocation.
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a new family and its first token, atomically.
    fn insert_family(&self, new: &NewFamily) -> impl Future<Output = Result<()>> + Send;

    /// The token with this hash, with its family and user; `None` if unknown
    /// (or purged).
    fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<StoredRefreshToken>>> + Send;

    /// In one transaction: marks `used` as used at `now` (recording
    /// `successor`'s hash) and inserts `successor`, if and only if `used` is
    /// unused, unexpired and in a live family. Returns whether it did; `false`
    /// means another call consumed the token first, or it died meanwhile.
    fn rotate_refresh_token(
        &self,
        used: &SecretHash,
        successor: &RefreshTokenRecord,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Revokes a family. Returns whether it was live.
    fn revoke_family(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Revokes every live family of a user. Returns how many.
    fn revoke_user_families(
        &self,
        user_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Revokes every live family issued from `origin` (see [`origin`]).
    /// Returns how many.
    fn revoke_families_by_origin(
        &self,
        origin: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes tokens past their idle expiry and families past their absolute
    /// expiry or revoked. Returns how many rows went.
    fn purge_refresh_tokens(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// What a new family is for.
#[derive(Debug, Clone)]
pub struct FamilySpec<'a> {
    pub client: &'a Client,
    pub user_id: &'a str,
    /// The scope granted.
    pub scope: Scope,
    pub auth_time: Option<UnixTime>,
    /// What the family is issued from (see [`origin`]).
    pub origin: Option<String>,
}

/// Starts a family: a fresh random token, its record, and the family record.
/// Pure: nothing is stored. The caller stores [`NewFamily`] — alone with
/// [`RefreshTokenStore::insert_family`], or inside its own transaction with
/// `store::RefreshTx::insert_family` (so that, say, redeeming a code and
/// issuing its tokens is one transaction).
pub fn start_family(
    settings: &Settings,
    server_key: &ServerKey,
    spec: FamilySpec<'_>,
    now: UnixTime,
) -> Result<(NewFamily, IssuedRefreshToken)> {
    let FamilySpec {
        client,
        user_id,
        scope,
        auth_time,
        origin,
    } = spec;
    let token = Secret::new(secret::random_token()?);
    let family = RefreshFamily {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.0.clone(),
        user_id: user_id.to_owned(),
        scope,
        auth_time,
        origin,
        created_at: now,
        expires_at: now + settings.refresh_token_absolute_ttl_seconds,
        revoked_at: None,
    };
    let first_token = RefreshTokenRecord {
        hash: SecretHash::of(token.expose()),
        family_id: family.id.clone(),
        issued_at: now,
        expires_at: (now + settings.refresh_token_idle_ttl_seconds).min(family.expires_at),
    };
    let issued = issued_refresh_token(server_key, client, token, first_token.expires_at - now);
    Ok((
        NewFamily {
            family,
            first_token,
        },
        issued,
    ))
}

/// A user's sign-in, ready to become tokens (password grant, authorization
/// code, device code).
#[derive(Debug, Clone)]
pub struct UserGrant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: Scope,
    /// The access token's `aud` (see [`tokens::audience`]).
    pub audience: Vec<String>,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// What the family is issued from (see [`origin`]).
    pub origin: Option<String>,
}

/// Tokens minted for a user, with the family to store if a refresh token is
/// among them.
#[derive(Debug)]
pub struct PreparedTokens {
    pub tokens: IssuedTokens,
    /// `Some` when the client is registered for the `refresh_token` grant
    /// (SPEC §3). Store it before answering: until then the refresh token in
    /// `tokens` does not work.
    pub family: Option<NewFamily>,
    /// The access token's `jti` and `exp`, for flows that must be able to
    /// deny-list it later (a replayed authorization code).
    pub access_jti: String,
    pub access_expires_at: UnixTime,
}

/// Mints the access token for a user and, when the client is registered for
/// the `refresh_token` grant, starts a family. Pure: the caller stores the
/// family (see [`start_family`]) and adds an ID token if it issues one.
pub fn prepare_user_tokens<S: Storage>(
    auth: &Authority<S>,
    grant: UserGrant<'_>,
) -> Result<PreparedTokens> {
    let now = auth.clock.now();
    let subject = Subject::User {
        id: grant.user.id.0.clone(),
        roles: grant.user.roles.clone(),
        email: Some(grant.user.email.clone()),
        auth_time: Some(grant.auth_time),
    };
    let keys = auth.keys.snapshot();
    let (access_token, claims) = tokens::mint_access_token(
        &keys,
        &auth.settings,
        now,
        grant.client,
        &subject,
        &grant.scope,
        grant.audience,
    )?;
    let (family, refresh_token) = if grant.client.allows_grant(GrantType::RefreshToken) {
        let (family, issued) = start_family(
            &auth.settings,
            &auth.server_key,
            FamilySpec {
                client: grant.client,
                user_id: &grant.user.id.0,
                scope: grant.scope.clone(),
                auth_time: Some(grant.auth_time),
                origin: grant.origin,
            },
            now,
        )?;
        (Some(family), Some(issued))
    } else {
        (None, None)
    };
    Ok(PreparedTokens {
        tokens: IssuedTokens {
            access_token,
            expires_in: auth.settings.access_token_ttl_seconds,
            scope: grant.scope,
            refresh_token,
            id_token: None,
        },
        family,
        access_jti: claims.jti,
        access_expires_at: claims.exp,
    })
}

/// Who presents a refresh token.
#[derive(Debug, Clone, Copy)]
pub enum Presenter<'a> {
    /// An authenticated client, at the token endpoint: the token must have
    /// been issued to it ("the refresh token is bound to the client to which
    /// it was issued", RFC 6749 §6).
    Client(&'a Client),
    /// The `latchkey_refresh` cookie at `/v1/refresh`, without client
    /// authentication: the token names its client, which must be registered
    /// for cookie delivery.
    Cookie,
}

/// A refresh request.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRequest<'a> {
    pub presenter: Presenter<'a>,
    pub token: &'a Secret,
    /// "The requested scope MUST NOT include any scope not originally granted
    /// by the resource owner, and if omitted is treated as equal to the scope
    /// originally granted by the resource owner." (RFC 6749 §6)
    pub scope: Option<&'a Scope>,
    /// RFC 8707 resources for the new access token's `aud`.
    pub resources: &'a [String],
}

fn invalid_refresh() -> Error {
    Error::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// Rotates a refresh token: RFC 6749 §6 with SPEC §4's rotation, reuse
/// detection and grace period.
pub async fn refresh<S: Storage>(
    auth: &Authority<S>,
    req: RefreshRequest<'_>,
) -> Result<IssuedTokens> {
    let now = auth.clock.now();
    let settings = &auth.settings;
    let presented = req.token.expose();
    if presented.is_empty() || presented.len() > MAX_TOKEN_LEN {
        return Err(invalid_refresh());
    }
    let hash = SecretHash::of(presented);
    let Some(mut found) = auth.store.find_refresh_token(&hash).await? else {
        return Err(invalid_refresh());
    };

    // Step 1: the token must belong to the presenter. Another client's token
    // changes nothing (it may be an attacker probing, not the victim).
    let fetched;
    let client: &Client = match req.presenter {
        Presenter::Client(c) => {
            if !secret::constant_time_eq(&found.family.client_id, &c.id.0) {
                return Err(invalid_refresh());
            }
            c
        }
        Presenter::Cookie => {
            // The request acts for the cookie's client (core::origins).
            super::origins::note_acting_client(&found.family.client_id);
            fetched = auth
                .clients
                .get(&auth.store, &found.family.client_id)
                .await?
                .ok_or_else(invalid_refresh)?;
            if fetched.token_delivery != TokenDelivery::Cookie
                || !fetched.allows_grant(GrantType::RefreshToken)
            {
                return Err(invalid_refresh());
            }
            &fetched
        }
    };

    // Step 2: expired, revoked, or its user disabled.
    if !found.family.is_live(now) || found.record.expires_at <= now || found.owner.disabled {
        return Err(invalid_refresh());
    }

    // Step 3: what the new access token may carry. Checked before anything
    // is consumed, so that a bad scope costs the client nothing.
    let scope = refreshed_scope(req.scope, &found.family.scope, &client.scopes)?;
    let audience = tokens::audience(client, req.resources.iter().map(String::as_str), settings)?;

    let successor = Secret::new(
        auth.server_key
            .mac_token(SUCCESSOR_PURPOSE, presented.as_bytes()),
    );
    let successor_hash = SecretHash::of(successor.expose());

    // Step 4: rotate, if the token is unused. The store's conditional update
    // decides between concurrent callers; the loser looks again.
    if found.used_at.is_none() {
        let record = RefreshTokenRecord {
            hash: successor_hash.clone(),
            family_id: found.family.id.clone(),
            issued_at: now,
            expires_at: (now + settings.refresh_token_idle_ttl_seconds)
                .min(found.family.expires_at),
        };
        if auth.store.rotate_refresh_token(&hash, &record, now).await? {
            super::tokens::count_issued("refresh_token", &auth.keys.snapshot());
            return mint_refreshed(
                auth,
                client,
                &found,
                scope,
                audience,
                successor,
                record.expires_at,
            );
        }
        found = auth
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or_else(invalid_refresh)?;
        if !found.family.is_live(now) || found.used_at.is_none() {
            return Err(invalid_refresh());
        }
    }

    // Step 5: the token was already rotated. Within the grace period, and
    // while its successor is still the family's unused newest token, the
    // repeat is idempotent: the same successor, a fresh access token.
    let grace = settings.refresh_reuse_grace_seconds;
    let used_at = found.used_at.unwrap_or(now);
    let same_successor = found
        .successor_hash
        .as_ref()
        .is_some_and(|h| secret::constant_time_eq(h.as_str(), successor_hash.as_str()));
    if grace > 0
        && now < used_at + grace
        && same_successor
        && let Some(next) = auth.store.find_refresh_token(&successor_hash).await?
        && next.is_live(now)
    {
        metrics::counter!("latchkey_refresh_grace_repeats_total").increment(1);
        super::tokens::count_issued("refresh_token", &auth.keys.snapshot());
        return mint_refreshed(
            auth,
            client,
            &found,
            scope,
            audience,
            successor,
            next.record.expires_at,
        );
    }

    // Step 6: reuse. RFC 9700 §4.14.2: revoke the family, newest token too.
    auth.store.revoke_family(&found.family.id, now).await?;
    metrics::counter!("latchkey_refresh_reuse_detected_total").increment(1);
    auth.audit.record(
        AuditEvent::new(
            now,
            audit::Kind::RefreshReuse,
            format!("client:{}", found.family.client_id),
            Outcome::Refused,
        )
        .user(found.family.user_id.as_str())
        .client(found.family.client_id.as_str())
        .detail(format!("family {} revoked", found.family.id)),
    );
    tracing::warn!(
        family_id = %found.family.id,
        client_id = %found.family.client_id,
        "refresh token reuse detected; the family is revoked"
    );
    Err(invalid_refresh())
}

/// The scope of a refreshed access token: the requested one if within what
/// was granted (`invalid_scope` otherwise), else the whole grant; either way
/// limited to what the client is still registered for.
fn refreshed_scope(requested: Option<&Scope>, granted: &Scope, client: &Scope) -> Result<Scope> {
    match requested {
        Some(req) if !req.is_subset_of(granted) => {
            let extra: Vec<&str> = req.missing_from(granted).collect();
            Err(Error::invalid_scope(format!(
                "a refresh cannot widen the granted scope: {}",
                extra.join(" ")
            )))
        }
        Some(req) => Scope::grant(Some(req.clone()), client),
        None => Ok(Scope::from_tokens(
            granted.iter().filter(|t| client.contains(t)),
        )),
    }
}

fn mint_refreshed<S: Storage>(
    auth: &Authority<S>,
    client: &Client,
    found: &StoredRefreshToken,
    scope: Scope,
    audience: Vec<String>,
    successor: Secret,
    successor_expires_at: UnixTime,
) -> Result<IssuedTokens> {
    let now = auth.clock.now();
    let subject = Subject::User {
        id: found.family.user_id.clone(),
        roles: found.owner.roles.clone(),
        email: Some(found.owner.email.clone()),
        auth_time: found.family.auth_time,
    };
    let keys = auth.keys.snapshot();
    let (access_token, _) = tokens::mint_access_token(
        &keys,
        &auth.settings,
        now,
        client,
        &subject,
        &scope,
        audience,
    )?;
    Ok(IssuedTokens {
        access_token,
        expires_in: auth.settings.access_token_ttl_seconds,
        scope,
        refresh_token: Some(issued_refresh_token(
            &auth.server_key,
            client,
            successor,
            (successor_expires_at - now).max(0),
        )),
        id_token: None,
    })
}

fn issued_refresh_token(
    server_key: &ServerKey,
    client: &Client,
    token: Secret,
    expires_in: i64,
) -> IssuedRefreshToken {
    let csrf_token = match client.token_delivery {
        TokenDelivery::Cookie => Some(csrf_token_for(server_key, &token)),
        TokenDelivery::Body => None,
    };
    IssuedRefreshToken {
        token,
        expires_in,
        delivery: client.token_delivery,
        csrf_token,
    }
}

/// The double-submit CSRF token that goes with a cookie-delivered refresh
/// token: an HMAC of it, so that it is random per issuance and yet cannot be
/// chosen by whoever can plant a cookie (a sibling subdomain).
pub fn csrf_token_for(server_key: &ServerKey, refresh_token: &Secret) -> Secret {
    Secret::new(server_key.mac_token(CSRF_PURPOSE, refresh_token.expose().as_bytes()))
}

/// Checks the double submit of `/v1/refresh` and `/v1/signout` (SPEC §5): the
/// `X-CSRF-Token` header must equal the `latchkey_csrf` cookie and be the
/// token bound to the refresh cookie. Constant-time comparisons.
pub fn check_csrf(
    server_key: &ServerKey,
    refresh_cookie: &Secret,
    csrf_cookie: Option<&str>,
    csrf_header: Option<&str>,
) -> Result<()> {
    let refused = || Error::InvalidCsrfToken("the X-CSRF-Token header is missing or wrong".into());
    let (Some(cookie), Some(header)) = (csrf_cookie, csrf_header) else {
        return Err(refused());
    };
    let expected = csrf_token_for(server_key, refresh_cookie);
    let cookie_ok = secret::constant_time_eq(cookie, header);
    let bound_ok = secret::constant_time_eq(expected.expose(), header);
    if cookie_ok & bound_ok {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Revokes the family of a refresh token, if the token is known and, when
/// `client` is given, was issued to that client. Returns whether a family was
/// revoked. Unknown tokens and other clients' tokens change nothing (RFC 7009
/// §2.2: "invalid tokens do not cause an error response").
pub async fn revoke_refresh_token<S: Storage>(
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
    if client.is_some_and(|c| !secret::constant_time_eq(&c.id.0, &found.family.client_id)) {
        return Ok(false);
    }
    if client.is_none() {
        // A cookie sign-out acts for the cookie's client (core::origins).
        super::origins::note_acting_client(&found.family.client_id);
    }
    let revoked = auth
        .store
        .revoke_family(&found.family.id, auth.clock.now())
        .await?;
    if revoked {
        let actor = match client {
            Some(c) => format!("client:{}", c.id.0),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_narrows_never_widens() {
        let granted = Scope::parse("openid email read").unwrap();
        let client = Scope::parse("openid email read write").unwrap();
        assert_eq!(refreshed_scope(None, &granted, &client).unwrap(), granted);
        let narrow = Scope::parse("read").unwrap();
        assert_eq!(
            refreshed_scope(Some(&narrow), &granted, &client).unwrap(),
            narrow
        );
        let wide = Scope::parse("read write").unwrap();
        assert_eq!(
            refreshed_scope(Some(&wide), &granted, &client)
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
        // A scope the client lost since the grant is dropped.
        let shrunk = Scope::parse("openid read").unwrap();
        assert_eq!(
            refreshed_scope(None, &granted, &shrunk).unwrap(),
            Scope::parse("openid read").unwrap()
        );
    }

    #[test]
    fn csrf_is_bound_to_the_refresh_token() {
        let key = ServerKey::from_secret("k");
        let refresh = Secret::new("r1");
        let good = csrf_token_for(&key, &refresh);
        let g = good.expose();
        assert!(check_csrf(&key, &refresh, Some(g), Some(g)).is_ok());
        assert!(check_csrf(&key, &refresh, Some(g), None).is_err());
        assert!(check_csrf(&key, &refresh, None, Some(g)).is_err());
        assert!(check_csrf(&key, &refresh, Some("x"), Some("x")).is_err());
        assert!(check_csrf(&key, &refresh, Some(g), Some("x")).is_err());
        let other = csrf_token_for(&key, &Secret::new("r2"));
        let o = other.expose();
        assert!(check_csrf(&key, &refresh, Some(o), Some(o)).is_err());
    }
}
