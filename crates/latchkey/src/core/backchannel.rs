//! OpenID Connect Back-Channel Logout 1.0 (docs/logout-and-exchange.md):
//! when a browser session ends, every client that got an ID token in it and
//! registered a `backchannel_logout_uri` is sent a logout token.
//!
//! ```text
//!  authorization code redeemed with openid ─▶ session_clients (sid, client)
//!  session ends (sessions::end / end_all_for_user)
//!     └─ one transaction: session row deleted, its session_clients taken,
//!        one outbox message per client (kind `backchannel_logout`)
//!  outbox worker (any process) ─▶ prepare: client still registered? mint
//!     the logout token (current key) ─▶ POST logout_token=… (crate::notify)
//!     ─▶ Delivered / Retry (backoff, for an hour) / Permanent; audited
//! ```
//!
//! The message holds no token, only what the token is made from: the token
//! is signed at each attempt with the key current then, and keeps the
//! message's `jti`, so a receiver that saw an attempt whose answer was lost
//! can recognise the retry (§2.6: "the RP MUST ... [check] that it has not
//! already received a Logout Token with the same jti").

use serde::{Deserialize, Serialize};

use super::Authority;
use super::audit::{self, AuditEvent};
use super::clients::{ClientId, ClientStore};
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::outbox::{Delivery, Kind, Message, NewMessage};
use super::sessions::SessionClient;
use super::tokens;

/// The outbox kind of a back-channel logout notification.
pub const KIND: Kind = "backchannel_logout";

/// How long delivery is tried: "retried with backoff for an hour". A logout
/// heard later than that is of little use.
pub const LIFETIME_SECONDS: i64 = 3600;

/// What a message says (its JSON payload): whom to tell which session of
/// which user ended, and the `jti` every attempt's token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
}

/// The outbox message telling `client` that its session ended.
pub fn message(client: &SessionClient, now: UnixTime) -> Result<NewMessage> {
    let notice = Notice {
        client_id: client.client_id.to_string(),
        sub: client.user_id.to_string(),
        sid: client.sid.clone(),
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let payload = serde_json::to_string(&notice).map_err(Error::internal)?;
    NewMessage::new(KIND, payload, now, LIFETIME_SECONDS)
}

/// What to do with a message now.
#[derive(Debug)]
pub enum Prepared {
    /// POST `logout_token` to `uri`.
    Send {
        notice: Notice,
        uri: String,
        logout_token: String,
    },
    /// Never deliverable: the client is gone or no longer has a URI, or
    /// the payload does not parse.
    Drop { notice: Option<Notice>, why: String },
}

/// Reads a message and, if its client is still registered with a URI,
/// mints its logout token with the current key.
pub async fn prepare<S: ClientStore>(auth: &Authority<S>, message: &Message) -> Result<Prepared> {
    let notice: Notice = match serde_json::from_str(&message.payload) {
        Ok(n) => n,
        Err(e) => {
            return Ok(Prepared::Drop {
                notice: None,
                why: format!("malformed payload: {e}"),
            });
        }
    };
    let client = auth
        .clients
        .get(&auth.store, &ClientId::new(notice.client_id.as_str()))
        .await?;
    let Some(uri) = client.and_then(|c| c.backchannel_logout_uri.clone()) else {
        return Ok(Prepared::Drop {
            notice: Some(notice),
            why: "the client no longer has a back-channel logout URI".into(),
        });
    };
    let logout_token = tokens::mint_logout_token(
        &auth.keys.snapshot(),
        &auth.settings,
        auth.clock.now(),
        tokens::LogoutFor {
            client_id: &notice.client_id,
            sub: &notice.sub,
            sid: &notice.sid,
            jti: &notice.jti,
        },
    )?;
    Ok(Prepared::Send {
        notice,
        uri,
        logout_token,
    })
}

/// Records an attempt's outcome in the audit trail (one event per attempt:
/// `success`, `failure` for one that will be retried, `refused` for one
/// given up). The detail names the attempt and the reason, never the token.
pub fn audit_outcome<S>(
    auth: &Authority<S>,
    notice: Option<&Notice>,
    attempt: i64,
    outcome: &Delivery,
) {
    let (result, detail) = match outcome {
        Delivery::Delivered => (audit::Outcome::Success, format!("attempt {attempt}")),
        Delivery::Retry(why) => (audit::Outcome::Failure, format!("attempt {attempt}: {why}")),
        Delivery::Permanent(why) => (audit::Outcome::Refused, format!("attempt {attempt}: {why}")),
    };
    let mut event = AuditEvent::new(
        auth.clock.now(),
        audit::Kind::BackchannelLogout,
        "server",
        result,
    )
    .detail(detail);
    if let Some(n) = notice {
        event = event.client(n.client_id.as_str()).user(n.sub.as_str());
    }
    auth.audit.record(event);
}
