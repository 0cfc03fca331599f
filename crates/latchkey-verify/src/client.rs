//! Tokens for service-to-service calls: the `client_credentials` grant
//! (RFC 6749 §4.4), cached and renewed a margin before expiry, one request
//! to latchkey in flight however many callers want a token at once.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::{SharedClock, SystemClock};
use crate::error::ConfigError;

/// Token responses larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// After a failed request, callers get that failure (or the still-valid
/// old token) for this long instead of each sending a request of its own:
/// a latchkey outage must not turn into a request per call.
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);

/// What the helper needs to get a token.
#[derive(Clone)]
pub struct ClientCredentialsConfig {
    /// latchkey's token endpoint, e.g. from [`discover`](crate::discover).
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated scopes to ask for; `None` asks for the client's
    /// registered scopes.
    pub scope: Option<String>,
    /// RFC 8707 `resource` values: the audiences the token is for. Empty
    /// gets latchkey's default audience.
    pub resources: Vec<String>,
    /// A cached token is renewed when it has less than this left to live (or
    /// at half its lifetime, for tokens shorter than twice the margin).
    /// Default 60 s.
    pub renew_before: Duration,
    /// Timeout of each request to latchkey. Default 10 s.
    pub http_timeout: Duration,
    /// Default: the system clock.
    pub clock: SharedClock,
}

impl ClientCredentialsConfig {
    pub fn new(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        ClientCredentialsConfig {
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scope: None,
            resources: Vec::new(),
            renew_before: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for ClientCredentialsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsConfig")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scope", &self.scope)
            .field("resources", &self.resources)
            .field("renew_before", &self.renew_before)
            .finish_non_exhaustive()
    }
}

/// An access token. Its `Debug` does not show it: tokens do not belong in
/// logs (docs/errors.md).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value of an `Authorization` header carrying it.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("request to the token endpoint failed: {0}")]
    Http(String),
    /// latchkey refused (RFC 6749 §5.2): `invalid_client`, `invalid_scope`...
    #[error("the token endpoint answered HTTP {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("the token endpoint answered something that is not a token response: {0}")]
    Malformed(String),
}

/// A cached `client_credentials` token source. Cheap to clone; clones share
/// the cache. [`ClientCredentials::token`] is what a caller uses before each
/// request to another service.
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientCredentialsConfig,
    http: reqwest::Client,
    /// The form body, built once.
    body: String,
    authorization: String,
    cached: RwLock<Option<Cached>>,
    /// Completed requests to latchkey, so that a caller who waited for the
    /// lock can tell whether a request finished meanwhile.
    attempts: AtomicU64,
    /// Held while a request is in flight; holds the outcome of the last one.
    fetch: tokio::sync::Mutex<Option<Outcome>>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    renew_at: i64,
    expires_at: i64,
}

struct Outcome {
    at: Instant,
    result: Result<AccessToken, TokenError>,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl ClientCredentials {
    pub fn new(config: ClientCredentialsConfig) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout)
            // A token endpoint that redirects would take the client secret
            // elsewhere; refuse.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &config.scope {
            form.append_pair("scope", scope);
        }
        for resource in &config.resources {
            form.append_pair("resource", resource);
        }
        // RFC 6749 §2.3.1: the id and secret are form-encoded before they go
        // into HTTP Basic.
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = format!(
            "{}:{}",
            encode(&config.client_id),
            encode(&config.client_secret)
        );
        let authorization = format!("Basic {}", STANDARD.encode(credentials));
        Ok(ClientCredentials {
            inner: Arc::new(Inner {
                body: form.finish(),
                authorization,
                config,
                http,
                cached: RwLock::new(None),
                attempts: AtomicU64::new(0),
                fetch: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// A token valid for at least `renew_before` more (or the old one, still
    /// valid, while a renewal fails). At most one request to latchkey is in
    /// flight: concurrent callers wait for it and share its outcome,
    /// failures included.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let inner = &self.inner;
        if let Some(token) = inner.fresh() {
            return Ok(token);
        }
        let seen = inner.attempts.load(Ordering::Acquire);
        let mut last = inner.fetch.lock().await;
        if let Some(token) = inner.fresh() {
            return Ok(token);
        }
        if let Some(outcome) = last.as_ref() {
            // A request finished while we waited, or failed a moment ago:
            // share its outcome rather than sending another.
            let finished_meanwhile = inner.attempts.load(Ordering::Acquire) != seen;
            if finished_meanwhile
                || (outcome.result.is_err() && outcome.at.elapsed() < FAILURE_BACKOFF)
            {
                return match &outcome.result {
                    Ok(token) => Ok(token.clone()),
                    Err(e) => inner.still_valid().ok_or_else(|| e.clone()),
                };
            }
        }
        let result = inner.request().await;
        inner.attempts.fetch_add(1, Ordering::AcqRel);
        let answer = match &result {
            Ok(token) => Ok(token.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "getting a client_credentials token failed");
                inner.still_valid().ok_or_else(|| e.clone())
            }
        };
        *last = Some(Outcome {
            at: Instant::now(),
            result,
        });
        answer
    }

    /// Drops the cached token, e.g. after a service answered 401 with it.
    pub fn invalidate(&self) {
        match self.inner.cached.write() {
            Ok(mut guard) => *guard = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }
}

impl Inner {
    fn cached(&self) -> Option<Cached> {
        match self.cached.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn fresh(&self) -> Option<AccessToken> {
        let now = self.config.clock.now();
        self.cached().filter(|c| now < c.renew_at).map(|c| c.token)
    }

    fn still_valid(&self) -> Option<AccessToken> {
        let now = self.config.clock.now();
        self.cached()
            .filter(|c| now < c.expires_at)
            .map(|c| c.token)
    }

    async fn request(&self) -> Result<AccessToken, TokenError> {
        let now = self.config.clock.now();
        let mut resp = self
            .http
            .post(&self.config.token_endpoint)
            .header(http::header::AUTHORIZATION, &self.authorization)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| TokenError::Http(e.to_string()))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| TokenError::Http(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(TokenError::Malformed("response too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
            return Err(TokenError::Refused {
                status: status.as_u16(),
                error: parsed
                    .as_ref()
                    .map_or_else(|| "unknown_error".to_owned(), |b| b.error.clone()),
                description: parsed.and_then(|b| b.error_description),
            });
        }
        let parsed: TokenBody =
            serde_json::from_slice(&body).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if !parsed.token_type.eq_ignore_ascii_case("Bearer") {
            return Err(TokenError::Malformed(format!(
                "token_type {:?} is not Bearer",
                parsed.token_type
            )));
        }
        // RFC 6749 §5.1 only recommends expires_in; without it, renew often.
        let lifetime = parsed.expires_in.unwrap_or(60).max(0);
        let margin = i64::try_from(self.config.renew_before.as_secs()).unwrap_or(i64::MAX);
        let renew_in = if lifetime > margin.saturating_mul(2) {
            lifetime - margin
        } else {
            lifetime / 2
        };
        let token = AccessToken(Arc::from(parsed.access_token));
        let cached = Cached {
            token: token.clone(),
            // Measured from when the request was sent: the token may have
            // been minted any time after.
            renew_at: now.saturating_add(renew_in),
            expires_at: now.saturating_add(lifetime),
        };
        match self.cached.write() {
            Ok(mut guard) => *guard = Some(cached),
            Err(poisoned) => *poisoned.into_inner() = Some(cached),
        }
        Ok(token)
    }
}
