//! What a resource server tells the [`Verifier`](crate::Verifier): whom it
//! trusts, who it is, and how strict to be.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_proto::JwkSet;

pub use crate::dpop::DpopMode;

/// A JWS algorithm the verifier may accept (RFC 7518 §3.1, RFC 8037 §3.1).
///
/// `none` and the HMAC algorithms are deliberately absent: a resource server
/// holds no shared secret with latchkey, so a token claiming one of them can
/// only be a forgery (the classic "HS256 signed with the public key" attack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 bits or more.
    RS256,
    /// RSASSA-PSS with SHA-256, keys of 2048 bits or more (latchkey's
    /// `signing_alg = "PS256"`; FAPI 2.0). Used only for a JWK whose `alg`
    /// is `PS256`.
    PS256,
    /// ECDSA on P-256 with SHA-256, fixed-width `r || s` signatures.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The `alg` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses a wire `alg`; `None` for anything this crate never accepts.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Algorithm::RS256),
            "PS256" => Some(Algorithm::PS256),
            "ES256" => Some(Algorithm::ES256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the public keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// Fetch `{issuer}/.well-known/openid-configuration`, check that its
    /// `issuer` is ours (OIDC Discovery §4.3), then fetch its `jwks_uri`.
    Discovery,
    /// Fetch this JWKS URL directly.
    Url(String),
    /// Use these keys and never fetch anything (tests, air-gapped services).
    Static(JwkSet),
}

/// Seconds since the Unix epoch, injected so that expiry can be tested
/// without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        // A clock before 1970 is a broken machine; 0 makes every token look
        // issued in the future, which fails closed rather than panicking.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn now(&self) -> i64 {
        self()
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The verifier's configuration. Build it with [`VerifierConfig::new`] and
/// change the fields whose defaults do not suit.
#[derive(Clone)]
pub struct VerifierConfig {
    /// The `iss` every token must carry, exactly (no trailing slash games).
    pub issuer: String,
    /// This service's identifiers: a token is accepted when its `aud` names
    /// at least one of them (RFC 9068 §4). Never empty.
    pub audiences: Vec<String>,
    /// The algorithms accepted, each for the key type it belongs to. Default:
    /// RS256 only, latchkey's default; a key of another type in the JWKS is
    /// then ignored.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 30 s.
    pub leeway: Duration,
    /// Default: [`JwksSource::Discovery`].
    pub jwks: JwksSource,
    /// A token naming an unknown `kid` triggers a refetch of the JWKS at most
    /// once per this interval, so that a flood of forged `kid`s cannot turn
    /// into a flood of requests to latchkey. Default 10 s.
    pub refetch_interval: Duration,
    /// A JWKS older than this (by `clock`, in whole seconds) is refreshed in
    /// the background (the old keys keep serving meanwhile), so that a key
    /// latchkey stopped publishing is eventually forgotten. Default 5 min,
    /// latchkey's `Cache-Control`. (`refetch_interval`, a flood guard, runs
    /// on the monotonic clock instead, which no clock adjustment can move.)
    pub max_age: Duration,
    /// Timeout of each HTTP request to latchkey. Default 5 s.
    pub http_timeout: Duration,
    /// Default: the system clock.
    pub clock: SharedClock,
    /// Which tokens are accepted: DPoP-bound only, either kind (default),
    /// or Bearer only (RFC 9449 §7).
    pub dpop: DpopMode,
    /// This service's external base URL (`https://api.example.com`), which
    /// DPoP proofs name in `htu` together with the request's path. Unset:
    /// `http://` and the request's `Host` header, right for a service
    /// reached without a proxy rewriting the host or ending TLS.
    pub public_url: Option<String>,
    /// How many DPoP proofs the replay cache remembers at once (each until
    /// its `iat` leaves the leeway). When it is full of live proofs, new
    /// ones are refused rather than an old one forgotten. Default 100 000.
    pub dpop_replay_capacity: usize,
}

impl VerifierConfig {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        VerifierConfig {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(30),
            jwks: JwksSource::Discovery,
            refetch_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(300),
            http_timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            dpop: DpopMode::default(),
            public_url: None,
            dpop_replay_capacity: 100_000,
        }
    }
}

impl fmt::Debug for VerifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierConfig")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("jwks", &self.jwks)
            .field("refetch_interval", &self.refetch_interval)
            .field("max_age", &self.max_age)
            .field("http_timeout", &self.http_timeout)
            .finish_non_exhaustive()
    }
}
