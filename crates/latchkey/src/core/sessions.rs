//! Browser sessions (docs/browser-flows.md): who is signed in to latchkey itself, so that
//! the next authorization request of the same browser needs no password.
//!
//! The `latchkey_session` cookie holds 256 random bits; the database keeps
//! their SHA-256 only, so any process serves the session's next request and
//! deleting the row ends the session everywhere (logout, `user disable`,
//! `user revoke-sessions`). A session has an idle lifetime, pushed forward as
//! it is used, and an absolute one that nothing extends.

use std::future::Future;

use super::Authority;
use super::clients::ClientId;
use super::clock::UnixTime;
use super::error::Result;
use super::mfa::Amr;
use super::secret::{self, Secret, SecretHash, ServerKey};
use super::settings::Settings;
use super::users::UserId;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: SecretHash,
    pub user_id: UserId,
    /// When the user last proved who they are with a password (OIDC
    /// `auth_time`).
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub idle_expires_at: UnixTime,
    pub expires_at: UnixTime,
    /// How the user signed in to this session (RFC 8176): what its codes'
    /// ID tokens say in `amr` and `acr`.
    pub amr: Amr,
}

impl Session {
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.idle_expires_at && now < self.expires_at
    }
}

/// The session's `sid` (OIDC Front-/Back-Channel Logout: "Session ID -
/// String identifier for a Session"), put in the ID tokens issued in it and
/// in the logout tokens sent when it ends. An HMAC of the stored hash under
/// the server key: every process derives the same value, and it reveals
/// nothing of the session id (the cookie) itself.
pub fn sid(key: &ServerKey, id_hash: &SecretHash) -> String {
    key.mac_token("sid", id_hash.as_str().as_bytes())
}

/// A client that got an ID token in a session and registered a
/// back-channel logout URI: when the session ends, it gets a logout token
/// (`core::backchannel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClient {
    /// The session's stored hash: what ends it names it by.
    pub session: SecretHash,
    pub sid: String,
    pub client_id: ClientId,
    pub user_id: UserId,
}

/// Storage of browser sessions.
///
/// Contract: a deleted session is never found again; `delete_user_sessions`
/// removes every session of the user, in every process's view at once.
/// Ending a session takes its [`SessionClient`] rows and enqueues their
/// back-channel logout messages (`core::backchannel::message`) in the same
/// transaction: a session never ends without its notifications, and a
/// notification is never queued twice for one client and session.
pub trait SessionStore: Send + Sync {
    fn insert_session(&self, s: &Session) -> impl Future<Output = Result<()>> + Send;
    fn find_session(
        &self,
        id_hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<Session>>> + Send;
    /// Pushes the idle expiry forward (never past the absolute one).
    fn touch_session(
        &self,
        id_hash: &SecretHash,
        idle_expires_at: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Ends one session; returns how many back-channel logout messages it
    /// queued (one per client recorded for it).
    fn delete_session(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Ends every session of a user; returns how many sessions (the
    /// back-channel logout messages of all of them are queued as well).
    fn delete_user_sessions(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// The user's sessions live at `now`, newest first (the account page).
    fn list_user_sessions(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<Session>>> + Send;
    /// Deletes one session if it is the user's (queueing its back-channel
    /// logouts); returns whether it did.
    fn delete_user_session(
        &self,
        user_id: &UserId,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes every session of the user but `keep` (queueing their
    /// back-channel logouts); returns how many.
    fn delete_other_sessions(
        &self,
        user_id: &UserId,
        keep: &SecretHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Records that `client` got an ID token in the session
    /// `client.session`, until `expires_at` (the session's absolute end at
    /// the latest). Idempotent.
    fn record_session_client(
        &self,
        client: &SessionClient,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes expired sessions (and expired session-client records);
    /// returns how many sessions.
    fn purge_sessions(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// A new session for `user_id`, authenticated `now` by `amr`: the cookie
/// value to hand to the browser and the row to store.
pub fn start(
    settings: &Settings,
    user_id: &UserId,
    now: UnixTime,
    amr: Amr,
) -> Result<(Secret, Session)> {
    let id = Secret::new(secret::random_token()?);
    let session = Session {
        id_hash: SecretHash::of(id.expose()),
        user_id: user_id.clone(),
        auth_time: now,
        created_at: now,
        idle_expires_at: (now + settings.session_idle_ttl_seconds)
            .min(now + settings.session_absolute_ttl_seconds),
        expires_at: now + settings.session_absolute_ttl_seconds,
        amr,
    };
    Ok((id, session))
}

/// Session ids longer than this are not even hashed (ours are 43 characters).
const MAX_ID_LEN: usize = 128;

/// The live session a cookie names, if any. Pushes its idle expiry forward
/// when at least a minute has passed since the last push, so that a busy
/// session costs a write per minute, not per request.
pub async fn current<S: SessionStore>(
    auth: &Authority<S>,
    cookie: Option<&str>,
) -> Result<Option<Session>> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= MAX_ID_LEN) else {
        return Ok(None);
    };
    let hash = SecretHash::of(cookie);
    let Some(mut session) = auth.store.find_session(&hash).await? else {
        return Ok(None);
    };
    let now = auth.clock.now();
    if !session.is_live(now) {
        return Ok(None);
    }
    let pushed = (now + auth.settings.session_idle_ttl_seconds).min(session.expires_at);
    if pushed - session.idle_expires_at >= 60 {
        auth.store.touch_session(&hash, pushed).await?;
        session.idle_expires_at = pushed;
    }
    Ok(Some(session))
}

/// Ends the session a cookie names (logout, and before a login replaces
/// it), live or not. Unknown ids are fine. Every way a session ends goes
/// through here or `core::session_end` (a user's sessions): each client
/// that got an ID token in the session is sent a logout token
/// (`core::backchannel`), queued by the store in the transaction that ends
/// it.
pub async fn end<S: SessionStore>(auth: &Authority<S>, cookie: Option<&str>) -> Result<()> {
    if let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= MAX_ID_LEN) {
        let hash = SecretHash::of(cookie);
        let queued = auth.store.delete_session(&hash, auth.clock.now()).await?;
        if queued > 0 {
            auth.outbox.wake();
        }
    }
    Ok(())
}
