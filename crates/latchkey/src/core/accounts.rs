//! What an administrator does to a user's standing: disable the account,
//! or end everything it holds (`latchkey user disable`, `latchkey user
//! revoke-sessions`). Above `users`, `refresh`, `sessions` and `device`,
//! whose stores it drives, so that none of those needs to know the others.

use super::clock::UnixTime;
use super::device::DeviceStore;
use super::error::Result;
use super::refresh::RefreshTokenStore;
use super::sessions::SessionStore;
use super::users::{UserId, UserStore};

/// What `user disable` and `user revoke-sessions` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revoked {
    /// Refresh-token families revoked.
    pub refresh_families: u64,
    /// Browser sessions ended.
    pub browser_sessions: u64,
}

/// Disables a user and revokes everything the user holds: every
/// refresh-token family and browser session. Sign-ins are refused from now
/// on. Returns `None` if there is no such user.
pub async fn disable<S: UserStore + RefreshTokenStore + SessionStore + DeviceStore>(
    store: &S,
    id: &UserId,
    now: UnixTime,
) -> Result<Option<Revoked>> {
    // Disable first: a sign-in racing with this cannot then start a family
    // that outlives the revocation below.
    if !store.set_user_disabled(id, true, now).await? {
        return Ok(None);
    }
    revoke_sessions(store, id, now).await.map(Some)
}

/// Revokes every refresh-token family of a user, ends every browser session,
/// and denies the device authorizations the user approved that no device has
/// redeemed yet (else a device could still get a fresh family after this);
/// everywhere. The user stays enabled and may sign in again.
pub async fn revoke_sessions<S: RefreshTokenStore + SessionStore + DeviceStore>(
    store: &S,
    id: &UserId,
    now: UnixTime,
) -> Result<Revoked> {
    let refresh_families = store.revoke_user_families(id, now).await?;
    let browser_sessions = super::sessions::end_all_for_user(store, id, now).await?;
    store.deny_user_devices(id).await?;
    Ok(Revoked {
        refresh_families,
        browser_sessions,
    })
}
