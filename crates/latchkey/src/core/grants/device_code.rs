//! The device code grant (RFC 8628 §3.4, §3.5): the device polls the token
//! endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code`
//! and its `device_code` until the user has decided.
//!
//! Answers, in order: an unknown code, or one issued to another client, or
//! one already redeemed is `invalid_grant`; an expired one `expired_token`;
//! a denied one `access_denied`; a pending one polled sooner than its
//! interval after the previous poll `slow_down` ("the interval MUST be
//! increased by 5 seconds for this and all subsequent requests", §3.5: the
//! stored interval grows), otherwise `authorization_pending`; an approved
//! one its tokens, once: the redemption is a conditional `UPDATE` in the
//! transaction that stores the refresh family (`DeviceStore::redeem_device`),
//! so of concurrent polls at most one gets tokens and the rest
//! `invalid_grant`.

use crate::core::Authority;
use crate::core::clients::{Client, GrantType};
use crate::core::codes::Issued;
use crate::core::device::DeviceStore;
use crate::core::device::{self, DeviceStatus, SLOW_DOWN_STEP_SECONDS};
use crate::core::dpop::Jkt;
use crate::core::error::{Error, Result};
use crate::core::refresh::FamilyOrigin;
use crate::core::secret::Secret;
use crate::core::tokens::{self, IssuedTokens, OidcRequest, UserGrant};
use crate::core::users::UserStore;

pub async fn issue<S: DeviceStore + UserStore>(
    auth: &Authority<S>,
    client: &Client,
    device_code: &Secret,
    dpop_jkt: Option<&Jkt>,
) -> Result<IssuedTokens> {
    let now = auth.clock.now();
    let unknown = || Error::invalid_grant("unknown device_code");
    let hash = device::device_code_hash(device_code).ok_or_else(unknown)?;
    let stored = auth.store.find_device(&hash).await?.ok_or_else(unknown)?;
    // Another client's code is as good as unknown: it says nothing about the
    // code's state.
    if stored.client_id != client.id {
        return Err(unknown());
    }
    if stored.status == DeviceStatus::Redeemed {
        return Err(Error::invalid_grant("the device_code was already used"));
    }
    if stored.expires_at <= now {
        return Err(Error::ExpiredToken);
    }
    match stored.status {
        DeviceStatus::Denied => Err(Error::AccessDenied(
            "the user denied the authorization request".into(),
        )),
        DeviceStatus::Pending => {
            let too_soon = stored
                .last_polled_at
                .is_some_and(|last| now - last < stored.interval_seconds);
            let interval = if too_soon {
                stored.interval_seconds + SLOW_DOWN_STEP_SECONDS
            } else {
                stored.interval_seconds
            };
            auth.store.record_device_poll(&hash, interval, now).await?;
            if too_soon {
                metrics::counter!("latchkey_device_slow_down_total").increment(1);
                Err(Error::SlowDown)
            } else {
                Err(Error::AuthorizationPending)
            }
        }
        DeviceStatus::Approved => redeem(auth, client, &stored, now, dpop_jkt).await,
        DeviceStatus::Redeemed => Err(Error::invalid_grant("the device_code was already used")),
    }
}

async fn redeem<S: DeviceStore + UserStore>(
    auth: &Authority<S>,
    client: &Client,
    stored: &device::StoredDevice,
    now: i64,
    dpop_jkt: Option<&Jkt>,
) -> Result<IssuedTokens> {
    let gone = || Error::invalid_grant("the user can no longer sign in");
    let (Some(user_id), Some(auth_time)) = (&stored.user_id, stored.auth_time) else {
        return Err(Error::internal("approved device code without a user"));
    };
    let user = auth
        .store
        .get_user(user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(gone)?;
    let prepared = tokens::prepare_user_tokens(
        auth,
        UserGrant {
            client,
            user: &user,
            scope: stored.scope.clone(),
            audience: stored.audience.clone(),
            auth_time,
            origin: FamilyOrigin::Device(stored.hash.clone()),
            // RFC 8628 has no nonce; OIDC clients still get their ID token.
            oidc: Some(OidcRequest::default()),
            dpop_jkt,
        },
    )?;
    let redeemed = auth
        .store
        .redeem_device(
            &stored.hash,
            Issued {
                access_jti: &prepared.access_jti,
                access_expires_at: prepared.access_expires_at,
                family: prepared.family.as_ref(),
            },
            now,
        )
        .await?;
    if !redeemed {
        // A concurrent poll won, or the code expired in between.
        return Err(Error::invalid_grant("the device_code was already used"));
    }
    tokens::count_issued(GrantType::DeviceCode, &auth.keys.snapshot());
    Ok(prepared.tokens)
}
