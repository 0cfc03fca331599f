//! Remembered consents (docs/browser-flows.md): once a user allowed a client some scopes,
//! later requests for those scopes (or fewer) skip the consent page.
//! First-party clients never show it.

use std::future::Future;

use super::clients::{Client, ClientId};
use super::clock::UnixTime;
use super::error::Result;
use super::scope::Scope;
use super::users::UserId;

/// Storage of consents, one row per user and client holding the union of
/// the scopes granted so far.
pub trait ConsentStore: Send + Sync {
    /// The scopes the user has granted the client, if any.
    fn get_consent(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
    ) -> impl Future<Output = Result<Option<Scope>>> + Send;
    /// Records `scope` as granted (replacing what was stored: the caller
    /// passes the union).
    fn save_consent(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
        scope: &Scope,
        now: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Whether `scope` needs the user's consent for `client`.
pub async fn needed<S: ConsentStore>(
    store: &S,
    client: &Client,
    user_id: &UserId,
    scope: &Scope,
) -> Result<bool> {
    if client.first_party {
        return Ok(false);
    }
    let granted = store.get_consent(user_id, &client.id).await?;
    Ok(!granted.is_some_and(|g| scope.is_subset_of(&g)))
}

/// Remembers that the user allowed `scope` for `client`, on top of what they
/// allowed before.
pub async fn remember<S: ConsentStore>(
    store: &S,
    client: &Client,
    user_id: &UserId,
    scope: &Scope,
    now: UnixTime,
) -> Result<()> {
    let before = store.get_consent(user_id, &client.id).await?;
    let union = match before {
        Some(b) => Scope::from_tokens(b.iter().chain(scope.iter()).map(str::to_owned)),
        None => scope.clone(),
    };
    store.save_consent(user_id, &client.id, &union, now).await
}
