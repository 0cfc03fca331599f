//! Deleting what has expired: refresh tokens and families, deny-list entries,
//! sign-in attempt counters, retired signing keys past their publication,
//! audit events older than `audit_retention_days`, browser-flow rows and
//! device codes. The one place background purging lives.
//!
//! Every process runs this periodically (see `app::spawn_background`). Each
//! step is a batched, idempotent `DELETE` of rows that no request can use any
//! more, so processes running it at the same time merely share the work.

use super::error::Result;
use super::ratelimit::{self, SigninLimiter};
use super::{Authority, Storage};

/// How often each process purges, in seconds.
pub const PURGE_PERIOD_SECONDS: u64 = 60;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub refresh_rows: u64,
    pub denied_access_tokens: u64,
    pub attempt_counters: u64,
    pub signing_keys: u64,
    pub audit_events: u64,
    /// Browser sessions, pending authorization requests, codes and
    /// WebAuthn ceremonies.
    pub browser_rows: u64,
    /// Expired device authorizations (RFC 8628).
    pub device_codes: u64,
    /// Outbox messages delivered or given up more than a day ago.
    pub outbox_rows: u64,
    /// DPoP proof `jti`s past their replay window.
    pub dpop_jtis: u64,
    /// `private_key_jwt` assertion `jti`s past their assertion's expiry.
    pub assertion_jtis: u64,
    /// Pushed authorization requests past their lifetime (RFC 9126).
    pub pushed_requests: u64,
    /// E-mailed account tokens (verification, reset) past their expiry.
    pub account_tokens: u64,
}

/// Deletes every expired row.
pub async fn purge_expired<S: Storage>(auth: &Authority<S>) -> Result<Purged> {
    let now = auth.clock.now();
    let window = SigninLimiter::new(&auth.settings).window();
    let retention = i64::from(auth.settings.audit_retention_days) * 86_400;
    Ok(Purged {
        refresh_rows: auth.store.purge_refresh_tokens(now).await?,
        denied_access_tokens: auth.store.purge_denied_access_tokens(now).await?,
        // A counter goes once its window has passed and no slot of it can
        // still count.
        attempt_counters: auth
            .store
            .purge_attempt_counters(now - window, ratelimit::epoch(now))
            .await?,
        signing_keys: auth.store.purge_keys(now).await?,
        audit_events: auth.store.purge_audit_events(now - retention).await?,
        browser_rows: auth.store.purge_sessions(now).await?
            + auth.store.purge_pending(now).await?
            + auth.store.purge_ceremonies(now).await?
            // A redeemed code is kept as long as the refresh family it
            // issued can live, so that a replay can still revoke it.
            + auth
                .store
                .purge_codes(now, now - auth.settings.refresh_token_absolute_ttl_seconds)
                .await?,
        // Kept one lifetime past expiry, so that a late poll is still told
        // `expired_token` (RFC 8628 §3.5) rather than that the code is unknown.
        device_codes: auth
            .store
            .purge_devices(now - auth.settings.device_code_lifetime_seconds)
            .await?,
        // Done rows are kept a day, for operators looking at what went out.
        outbox_rows: auth.store.purge_outbox(now - 86_400).await?,
        dpop_jtis: auth.store.purge_dpop_jtis(now).await?,
        assertion_jtis: auth.store.purge_assertion_jtis(now).await?,
        pushed_requests: auth.store.purge_pushed(now).await?,
        account_tokens: auth.store.purge_account_tokens(now).await?,
    })
}
