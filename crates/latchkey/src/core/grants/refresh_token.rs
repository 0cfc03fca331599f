//! The refresh token grant (RFC 6749 §6) with rotation, reuse detection and
//! a grace period; also the cookie refresh of `POST /v1/refresh`, which is
//! this grant presented by the `latchkey_refresh` cookie instead of an
//! authenticated client ([`Presenter`]).
//!
//! Every use *rotates*: the presented token is marked used and its successor
//! inserted, in one transaction, by a conditional `UPDATE … WHERE used_at IS
//! NULL` that at most one caller can win (on SQLite the write lock
//! serializes, on PostgreSQL the row lock makes a second `UPDATE` re-check
//! the row and match nothing). So of N concurrent uses of one token exactly
//! one succeeds, whichever process serves them.
//!
//! "If a refresh token is compromised and subsequently used by both the
//! attacker and the legitimate client, one of them will present an
//! invalidated refresh token, which will inform the authorization server of
//! the breach. The authorization server cannot determine which party
//! submitted the invalid refresh token, but it will revoke the active
//! refresh token." (RFC 9700 §4.14.2) Here presenting a used token revokes
//! the whole family: the newest token dies too.
//!
//! The grace period (`refresh_reuse_grace_seconds`) is for clients that race
//! themselves. A successor is not random but derived from the presented
//! token with the shared HMAC key, `HMAC(k, "refresh-successor" ‖ token)`:
//! any process can recompute it, nothing is stored in the clear, and a
//! repeat within the window gets the *same* successor, not a new branch of
//! the family. The first token of a family is random, so every later one is
//! unpredictable to anyone without the key.

use crate::core::Authority;
use crate::core::audit::{self, AuditEvent, Outcome};
use crate::core::clients::ClientStore;
use crate::core::clients::{Client, GrantType, TokenDelivery};
use crate::core::clock::UnixTime;
use crate::core::dpop::Jkt;
use crate::core::error::{Error, Result};
use crate::core::refresh::RefreshTokenStore;
use crate::core::refresh::{
    Claim, MAX_TOKEN_LEN, RefreshTokenRecord, StoredRefreshToken, invalid_refresh,
};
use crate::core::scope::Scope;
use crate::core::secret::{self, Secret, SecretHash};
use crate::core::tokens::{self, IssuedRefreshToken, IssuedTokens, Subject};

/// HMAC purpose of a successor token.
pub const SUCCESSOR_PURPOSE: &str = "refresh-successor";

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
    /// The DPoP key the request proved possession of: the new access token
    /// is bound to it, and a family bound to a key requires it.
    pub dpop_jkt: Option<&'a Jkt>,
}

/// Rotates a refresh token: a new access token and the successor refresh
/// token, or the family revoked on reuse.
pub async fn rotate<S: RefreshTokenStore + ClientStore>(
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
    let successor = Secret::new(
        auth.server_key
            .mac_token(SUCCESSOR_PURPOSE, presented.as_bytes()),
    );
    let successor_hash = SecretHash::of(successor.expose());
    let idle_expiry = now + settings.refresh_token_idle_ttl_seconds;

    // The common case, a client refreshing without `scope` and for
    // resources it is registered for, reads and rotates in one step: the
    // store makes every check of steps 1 and 2 before it consumes anything,
    // and step 3 cannot fail (`claim_refresh_token`). `rotated` is then
    // what the claim did; otherwise the token is only read here, and
    // rotated at step 4.
    // The audience depends only on the client and the request, so an
    // authenticated client's is computed once, here; its error, if any, is
    // returned at step 3, after the token's own checks, as before.
    let mut rotated = None;
    let client_audience = match req.presenter {
        Presenter::Client(c) => Some(tokens::audience(
            c,
            req.resources.iter().map(String::as_str),
            settings,
        )),
        Presenter::Cookie => None,
    };
    let mut found = match req.presenter {
        Presenter::Client(c) if req.scope.is_none() && matches!(client_audience, Some(Ok(_))) => {
            let claim = Claim {
                used: &hash,
                successor: &successor_hash,
                client_id: &c.id,
                dpop_jkt: req.dpop_jkt,
                now,
                expires_at: idle_expiry,
            };
            let Some(claimed) = auth.store.claim_refresh_token(&claim).await? else {
                return Err(invalid_refresh());
            };
            rotated = Some(claimed.claimed);
            claimed.token
        }
        _ => auth
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or_else(invalid_refresh)?,
    };

    // Step 1: the token must belong to the presenter. Another client's token
    // changes nothing (it may be an attacker probing, not the victim).
    let fetched;
    let client: &Client = match req.presenter {
        Presenter::Client(c) => {
            if !found.family.client_id.matches(&c.id) {
                return Err(invalid_refresh());
            }
            c
        }
        Presenter::Cookie => {
            // The request acts for the cookie's client (core::origins).
            crate::core::origins::note_acting_client(found.family.client_id.as_str());
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
    // "the authorization server MUST ensure the refresh token is bound to
    // the same public key" (RFC 9449 §5): a public client's family bound to
    // a key refreshes only with a proof by that key. Nothing is consumed.
    if let Some(bound) = &found.family.dpop_jkt
        && !req.dpop_jkt.is_some_and(|j| j.matches(bound))
    {
        return Err(Error::invalid_grant(
            "the refresh token is bound to a DPoP key: send a proof by that key",
        ));
    }

    // Step 3: what the new access token may carry. Checked before anything
    // is consumed, so that a bad scope costs the client nothing.
    let scope = refreshed_scope(req.scope, &found.family.scope, &client.scopes)?;
    let audience = match client_audience {
        Some(audience) => audience?,
        None => tokens::audience(client, req.resources.iter().map(String::as_str), settings)?,
    };

    // Step 4: rotate, if the token is unused (or the claim just did). The
    // store's conditional update decides between concurrent callers; the
    // loser looks again.
    if found.used_at.is_none() || rotated == Some(true) {
        let record = RefreshTokenRecord {
            hash: successor_hash.clone(),
            family_id: found.family.id.clone(),
            issued_at: now,
            expires_at: idle_expiry.min(found.family.expires_at),
        };
        let done = match rotated {
            Some(done) => done,
            None => auth.store.rotate_refresh_token(&hash, &record, now).await?,
        };
        if done {
            tokens::count_issued(GrantType::RefreshToken, &auth.keys.snapshot());
            return mint(
                auth,
                client,
                &found,
                scope,
                audience,
                successor,
                record.expires_at,
                req.dpop_jkt,
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
        tokens::count_issued(GrantType::RefreshToken, &auth.keys.snapshot());
        return mint(
            auth,
            client,
            &found,
            scope,
            audience,
            successor,
            next.record.expires_at,
            req.dpop_jkt,
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

/// The access token of a refresh, with the successor refresh token.
#[allow(clippy::too_many_arguments)] // reason: the parts of one response
fn mint<S>(
    auth: &Authority<S>,
    client: &Client,
    found: &StoredRefreshToken,
    scope: Scope,
    audience: Vec<String>,
    successor: Secret,
    successor_expires_at: UnixTime,
    dpop_jkt: Option<&Jkt>,
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
        dpop_jkt,
    )?;
    Ok(IssuedTokens {
        access_token,
        dpop_bound: dpop_jkt.is_some(),
        expires_in: auth.settings.access_token_ttl_seconds,
        scope,
        refresh_token: Some(IssuedRefreshToken::new(
            &auth.server_key,
            client,
            successor,
            (successor_expires_at - now).max(0),
        )),
        id_token: None,
        issued_token_type: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
}
