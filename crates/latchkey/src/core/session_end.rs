//! Ending a user's sessions: **the one place** through which browser
//! sessions and refresh-token families of a user end because of something
//! the user or an operator did (`user disable`, `user revoke-sessions`,
//! `user set-password`, a password reset, a password change, the account
//! page's sign-out buttons). Whatever must happen when sessions end
//! (notifying the clients that got ID tokens in them) belongs here.
//!
//! Beside `sessions` rather than in it: it drives the refresh and device
//! stores too, which `sessions` must not import (they import it).

use super::clock::UnixTime;
use super::device::DeviceStore;
use super::error::Result;
use super::refresh::RefreshTokenStore;
use super::secret::SecretHash;
use super::sessions::SessionStore;
use super::users::UserId;

/// What ending a user's sessions did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revoked {
    /// Refresh-token families revoked.
    pub refresh_families: u64,
    /// Browser sessions ended.
    pub browser_sessions: u64,
}

/// Ends everything a user is signed in with: every refresh-token family,
/// every browser session but `keep` (the one a password change was made
/// from), and the device authorizations the user approved that no device
/// has redeemed yet (else a device could still get a fresh family after
/// this). **The one function** through which a user's sessions end in bulk:
/// `user disable`, `user revoke-sessions`, `user set-password`, a password
/// reset, a password change. Whatever must happen when sessions end
/// (notifying clients) belongs here.
pub async fn end_all_for_user<S: SessionStore + RefreshTokenStore + DeviceStore>(
    store: &S,
    user_id: &UserId,
    keep: Option<&SecretHash>,
    now: UnixTime,
) -> Result<Revoked> {
    let refresh_families = store.revoke_user_families(user_id, now).await?;
    let browser_sessions = match keep {
        None => store.delete_user_sessions(user_id).await?,
        Some(keep) => store.delete_other_sessions(user_id, keep).await?,
    };
    store.deny_user_devices(user_id).await?;
    Ok(Revoked {
        refresh_families,
        browser_sessions,
    })
}

/// Ends one browser session of a user (the account page's sign-out);
/// a session of another user is left alone. Returns whether it ended one.
pub async fn end_one_for_user<S: SessionStore>(
    store: &S,
    user_id: &UserId,
    id_hash: &SecretHash,
) -> Result<bool> {
    store.delete_user_session(user_id, id_hash).await
}

/// Revokes one refresh-token family of a user (the account page's
/// sign-out of an app); another user's family is left alone.
pub async fn end_app_for_user<S: RefreshTokenStore>(
    store: &S,
    user_id: &UserId,
    family_id: &str,
    now: UnixTime,
) -> Result<bool> {
    store.revoke_user_family(user_id, family_id, now).await
}
