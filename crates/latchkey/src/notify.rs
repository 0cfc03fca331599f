//! Outbound HTTP from the outbox (`core::outbox`): the back-channel logout
//! deliverer (OIDC Back-Channel Logout 1.0 §2.5; `core::backchannel` decides
//! what is sent, this module only carries it).
//!
//! Bounded on every side: at most the outbox worker's batch in flight per
//! process, a connect timeout and a total timeout far below the outbox
//! lease, the request body is one small form field, the answer's body is
//! never read, and redirects are not followed (§2.5 does not allow them,
//! and following one would send the token where the client did not
//! register).

use std::sync::Arc;
use std::time::Duration;

use crate::core::Authority;
use crate::core::backchannel::{self, Prepared};
use crate::core::outbox::{Deliverer, Delivery, DeliveryFuture, Kind, Message};
use crate::store::Store;

/// Connecting to a receiver may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole attempt (connect, send, status line) may take this long: far
/// below `core::outbox::OUTBOX_LEASE_SECONDS`.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs logout tokens to the clients' `backchannel_logout_uri`.
pub struct BackchannelLogout {
    app: Arc<Authority<Store>>,
    http: reqwest::Client,
}

impl BackchannelLogout {
    pub fn new(app: Arc<Authority<Store>>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(BackchannelLogout { app, http })
    }

    /// "The OP sends an HTTP POST request to the RP's configured
    /// back-channel logout URI [...] the Logout Token [...] in the
    /// `logout_token` parameter, encoded as application/x-www-form-urlencoded"
    /// (§2.5). "If the logout succeeded, the RP MUST respond with HTTP 200
    /// OK" (§2.8); any 2xx counts. 408, 429 and 5xx (and no answer at all)
    /// are tried again; another 4xx is the receiver refusing the token, and
    /// a redirect is not followed: both are final.
    async fn post(&self, uri: &str, logout_token: &str) -> Delivery {
        // A JWS is base64url and dots only: nothing to escape.
        let body = format!("logout_token={logout_token}");
        let sent = self
            .http
            .post(uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .body(body)
            .send()
            .await;
        match sent {
            Err(e) => Delivery::Retry(describe(&e)),
            Ok(resp) => {
                let status = resp.status();
                // The body is never read: the connection is dropped with it.
                drop(resp);
                if status.is_success() {
                    Delivery::Delivered
                } else if status.is_redirection() {
                    Delivery::Permanent(format!("answered {status}; redirects are not followed"))
                } else if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
                    Delivery::Retry(format!("answered {status}"))
                } else {
                    Delivery::Permanent(format!("answered {status}"))
                }
            }
        }
    }
}

/// A failure without the URL's query (which could carry something the
/// client registered as private) and without the token.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let host = e
        .url()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{what} ({host})")
}

impl Deliverer for BackchannelLogout {
    fn kind(&self) -> Kind {
        backchannel::KIND
    }

    fn deliver<'a>(&'a self, message: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let (notice, outcome) = match backchannel::prepare(&self.app, message).await {
                Err(e) => (None, Delivery::Retry(format!("could not prepare: {e}"))),
                Ok(Prepared::Drop { notice, why }) => (notice, Delivery::Permanent(why)),
                Ok(Prepared::Send {
                    notice,
                    uri,
                    logout_token,
                }) => {
                    let outcome = self.post(&uri, &logout_token).await;
                    (Some(notice), outcome)
                }
            };
            backchannel::audit_outcome(&self.app, notice.as_ref(), message.attempts, &outcome);
            outcome
        })
    }
}
