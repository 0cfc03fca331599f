//! Pushed authorization requests (RFC 9126).
//!
//! A client POSTs its authorization request's parameters to
//! `/v1/oauth/par`, authenticated as at the token endpoint
//! (`authorize::push`, which validates as the authorization endpoint does). The
//! request is validated then and there (errors come back as JSON, not by
//! redirect), stored under the hash of a random id, and the client gets a
//! `request_uri` valid for [`LIFETIME_SECONDS`]. The authorization endpoint
//! then takes `client_id` and `request_uri` ([`take`]): single use, only
//! for the client that pushed it, and only the pushed parameters count.
//!
//! With a DPoP proof at the push (RFC 9449 §10.1), the request is bound to
//! the proof's key as if it had carried `dpop_jkt`.

use std::future::Future;

use super::Authority;
use super::clients::{Client, ClientId};
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::params::Params;
use super::secret::{self, SecretHash};

/// "urn:ietf:params:oauth:request_uri:" (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a `request_uri` lives ("a short lifetime [...] between 5 and
/// 600 seconds", RFC 9126 §2.2); FAPI 2.0 asks for at most 600, and one
/// minute is enough to redirect a browser.
pub const LIFETIME_SECONDS: i64 = 60;

/// A pushed request, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub client_id: ClientId,
    /// The authorization request's parameters, as pushed.
    pub params: Vec<(String, String)>,
    pub expires_at: UnixTime,
}

/// Storage of pushed requests.
///
/// Contract (checked by `tests/it/par.rs` on both backends):
/// `take_pushed` yields a request at most once, however many callers race.
pub trait PushedRequestStore: Send + Sync {
    fn insert_pushed(
        &self,
        id_hash: &SecretHash,
        pushed: &PushedRequest,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes the request and returns it; `None` if unknown or taken.
    fn take_pushed(
        &self,
        id_hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<PushedRequest>>> + Send;

    fn purge_pushed(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// At the authorization endpoint: the pushed request `params` points at
/// (`client_id` and `request_uri`), taken once. Every failure is
/// `invalid_request` ("invalid_request_uri" in some servers; RFC 9126 §4
/// leaves the code to RFC 6749), answered on a page, never by redirect:
/// nothing about the request can be trusted yet.
pub async fn take<S: PushedRequestStore>(auth: &Authority<S>, params: &Params) -> Result<Params> {
    let bad =
        || Error::invalid_request("the request_uri is unknown, expired, used or another client's");
    let request_uri = params.require("request_uri")?;
    let client_id = params.require("client_id")?;
    let id = request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .ok_or_else(bad)?;
    if id.is_empty() || id.len() > 128 {
        return Err(bad());
    }
    let pushed = auth
        .store
        .take_pushed(&SecretHash::of(id))
        .await?
        .ok_or_else(bad)?;
    if pushed.expires_at <= auth.clock.now()
        || !secret::constant_time_eq(client_id, pushed.client_id.as_str())
    {
        return Err(bad());
    }
    Params::from_pairs(pushed.params)
}

/// Whether `client` may send an authorization request only by PAR.
pub fn required_for<S>(auth: &Authority<S>, client: &Client) -> bool {
    auth.settings.require_pushed_authorization_requests || client.policy.require_par
}
