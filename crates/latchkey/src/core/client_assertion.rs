//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC
//! Core §9): the client proves itself with a JWT signed by one of its
//! registered keys instead of a shared secret.
//!
//! A client registers its public keys inline (`--jwks FILE`, a JWK Set) or
//! at a `jwks_uri` latchkey fetches ([`JwksFetcher`]). At every endpoint
//! that authenticates clients it sends
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and `client_assertion`, which [`verify`] checks:
//!
//! - an asymmetric `alg` of [`ALGS`] (never `none`, never a MAC), pinned by
//!   the key: a JWK with an `alg` verifies only that algorithm, one without
//!   only the algorithms of its key type; no `crit`, and no `jku`/`x5u`
//!   (latchkey never fetches a key a token points at);
//! - the signature by one of the client's keys (jsonwebtoken);
//! - `iss` = `sub` = the client id ("The JWT MUST contain an iss (issuer)
//!   claim that contains the client_id of the OAuth client", RFC 7523 §3
//!   with OIDC Core §9);
//! - `aud` names this server: its issuer, or the URL of one of its
//!   endpoints that authenticate clients (the token endpoint's is what
//!   RFC 7523 §3 suggests; FAPI 2.0 asks for the issuer);
//! - `exp` in the future and at most [`MAX_LIFETIME_SECONDS`] ahead, `iat`
//!   and `nbf` not in the future (each with [`LEEWAY_SECONDS`]);
//! - a `jti` accepted once: recorded in the database until the assertion
//!   expires, so that a replay is refused by every process
//!   ([`super::clients::ClientStore::record_assertion_jti`]).
//!
//! Every failure is `invalid_client`, with the same description before the
//! signature verified, so that the answer says nothing about which client
//! ids exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Authority;
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::secret;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithms an assertion may be signed with: asymmetric only (the
/// same as DPoP proofs', `core::dpop::ALGS`).
pub const ALGS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];

/// The paths of the endpoints that authenticate clients: an assertion's
/// `aud` may name any of them. Spelled here rather than taken from
/// `discovery::paths`, which lists this module's algorithms (the two
/// modules would import each other); `tests/it/private_key_jwt.rs` checks
/// them against the real endpoints.
const AUTHENTICATING_PATHS: &[&str] = &[
    "/v1/oauth/token",
    "/v1/oauth/revoke",
    "/v1/oauth/introspect",
    "/v1/oauth/par",
    "/v1/oauth/device_authorization",
    "/v1/signin",
];

/// Where a `private_key_jwt` client's public keys are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKeys {
    /// A JWK Set registered inline (`--jwks FILE`).
    Jwks(Value),
    /// A URL latchkey fetches the JWK Set from (`--jwks-uri`).
    JwksUri(String),
}

/// Storage of the `jti`s of accepted assertions.
///
/// Contract (checked on both backends): of any number of calls with one
/// key, in however many processes, before it expires, exactly one returns
/// `true`.
pub trait AssertionReplayStore: Send + Sync {
    /// Records `key` until `expires_at`; `false` if it was already there.
    fn record_assertion_jti(
        &self,
        key: &str,
        expires_at: UnixTime,
    ) -> impl std::future::Future<Output = Result<bool>> + Send;
    /// Deletes the records past their expiry; returns how many.
    fn purge_assertion_jtis(
        &self,
        now: UnixTime,
    ) -> impl std::future::Future<Output = Result<u64>> + Send;
}

/// The furthest ahead an assertion's `exp` may be.
pub const MAX_LIFETIME_SECONDS: i64 = 300;

/// Clock skew allowed on `exp`, `iat` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 30;

/// An assertion longer than this is refused unparsed.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// A `jti` longer than this is refused.
const MAX_JTI_LEN: usize = 256;

/// A JWK Set with more keys than this is refused (at registration and when
/// fetched).
pub const MAX_KEYS: usize = 32;

/// HMAC purpose of the replay records' keys.
const JTI_PURPOSE: &str = "client-assertion-jti";

/// Members of a JWK that only a private or symmetric key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn failed() -> Error {
    Error::invalid_client("client authentication failed")
}

/// The client an assertion claims to come from (its `sub`, which must
/// equal `iss`), read before anything is verified: only to find the
/// client whose keys then verify it.
pub fn claimed_client(assertion: &str) -> Result<String> {
    let (_, payload) = split(assertion)?;
    let sub = payload.get("sub").and_then(Value::as_str);
    let iss = payload.get("iss").and_then(Value::as_str);
    match (sub, iss) {
        (Some(sub), Some(iss)) if !sub.is_empty() && secret::constant_time_eq(sub, iss) => {
            Ok(sub.to_owned())
        }
        _ => Err(failed()),
    }
}

/// The decoded header and payload of a compact JWS, unverified.
fn split(assertion: &str) -> Result<(Map<String, Value>, Map<String, Value>)> {
    if assertion.is_empty() || assertion.len() > MAX_ASSERTION_LEN {
        return Err(failed());
    }
    let mut parts = assertion.split('.');
    let (Some(head), Some(body), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(failed());
    };
    let decode = |part: &str| -> Result<Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| failed())?;
        serde_json::from_slice(&bytes).map_err(|_| failed())
    };
    Ok((decode(head)?, decode(body)?))
}

/// The claims an assertion must carry.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: serde_json::Number,
    jti: String,
    #[serde(default)]
    iat: Option<serde_json::Number>,
    #[serde(default)]
    nbf: Option<serde_json::Number>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn any(&self, ok: impl Fn(&str) -> bool) -> bool {
        match self {
            Audience::One(a) => ok(a),
            Audience::Many(all) => all.iter().any(|a| ok(a)),
        }
    }
}

fn seconds(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

/// Verifies `assertion` for the client `client_id` (found by
/// [`claimed_client`]), whose keys are `keys`; see the module's
/// documentation for the checks.
pub async fn verify<S: AssertionReplayStore>(
    auth: &Authority<S>,
    client_id: &str,
    keys: &ClientKeys,
    assertion: &str,
) -> Result<()> {
    let (header, _) = split(assertion)?;
    if header.contains_key("crit") || header.contains_key("jku") || header.contains_key("x5u") {
        return Err(failed());
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| ALGS.contains(a))
        .ok_or_else(failed)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let now = auth.clock.now();
    let claims = match keys {
        ClientKeys::Jwks(set) => check_signature(set, alg, kid, assertion)?,
        ClientKeys::JwksUri(uri) => {
            let set = auth
                .jwks
                .get(uri, now, false, auth.settings.jwks_uri_allow_private)
                .await?;
            match check_signature(&set, alg, kid, assertion) {
                Ok(c) => c,
                // A key the cached set lacks may be a rotation: fetch again
                // (at most once per `REFETCH_INTERVAL_SECONDS` per URI).
                Err(_) => {
                    let set = auth
                        .jwks
                        .get(uri, now, true, auth.settings.jwks_uri_allow_private)
                        .await?;
                    check_signature(&set, alg, kid, assertion)?
                }
            }
        }
    };
    check_claims(auth, client_id, &claims, now)?;
    // Last, so that an assertion refused for another reason does not use up
    // its `jti`. Keyed by the client and the `jti` under the server's HMAC.
    let key = auth.server_key.mac_token(
        JTI_PURPOSE,
        format!("{client_id}\u{0}{}", claims.jti).as_bytes(),
    );
    let exp = seconds(&claims.exp).unwrap_or(now);
    if !auth
        .store
        .record_assertion_jti(&key, exp.max(now) + LEEWAY_SECONDS)
        .await?
    {
        return Err(Error::invalid_client(
            "the client assertion was already used (jti)",
        ));
    }
    Ok(())
}

/// The signature, by a key of `set` fit for `alg` (and named `kid`, if the
/// assertion names one); the claims, not yet checked.
fn check_signature(
    set: &Value,
    alg: &str,
    kid: Option<&str>,
    assertion: &str,
) -> Result<AssertionClaims> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(failed)?;
    for jwk in keys.iter().filter_map(Value::as_object) {
        if kid.is_some_and(|k| jwk.get("kid").and_then(Value::as_str) != Some(k)) {
            continue;
        }
        let Some(algorithm) = algorithm_for(jwk, alg) else {
            continue;
        };
        let Ok(parsed) =
            serde_json::from_value::<jsonwebtoken::jwk::Jwk>(Value::Object(jwk.clone()))
        else {
            continue;
        };
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&parsed) else {
            continue;
        };
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) {
            return Ok(data.claims);
        }
    }
    Err(failed())
}

/// The algorithm `jwk` verifies `alg` with, if it may: a public key of the
/// type `alg` needs, for signing, whose own `alg` (if any) is `alg`.
fn algorithm_for(jwk: &Map<String, Value>, alg: &str) -> Option<jsonwebtoken::Algorithm> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return None;
    }
    if jwk
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig")
    {
        return None;
    }
    if jwk
        .get("alg")
        .and_then(Value::as_str)
        .is_some_and(|a| a != alg)
    {
        return None;
    }
    let kty = jwk.get("kty").and_then(Value::as_str)?;
    let crv = jwk.get("crv").and_then(Value::as_str);
    match (alg, kty, crv) {
        ("ES256", "EC", Some("P-256")) => Some(jsonwebtoken::Algorithm::ES256),
        ("EdDSA", "OKP", Some("Ed25519")) => Some(jsonwebtoken::Algorithm::EdDSA),
        ("RS256", "RSA", _) if rsa_bits(jwk) >= 2048 => Some(jsonwebtoken::Algorithm::RS256),
        ("PS256", "RSA", _) if rsa_bits(jwk) >= 2048 => Some(jsonwebtoken::Algorithm::PS256),
        _ => None,
    }
}

/// The modulus length of an RSA JWK (0 if unreadable).
fn rsa_bits(jwk: &Map<String, Value>) -> usize {
    jwk.get("n")
        .and_then(Value::as_str)
        .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
        .map(|n| n.iter().skip_while(|b| **b == 0).count() * 8)
        .unwrap_or(0)
}

/// `iss`, `sub`, `aud`, `exp`, `iat`, `nbf` and the `jti`'s shape. The
/// signature verified: the descriptions may now say what is wrong.
fn check_claims<S>(
    auth: &Authority<S>,
    client_id: &str,
    claims: &AssertionClaims,
    now: UnixTime,
) -> Result<()> {
    let bad = |why: &'static str| Error::invalid_client(why);
    if !secret::constant_time_eq(&claims.iss, client_id)
        || !secret::constant_time_eq(&claims.sub, client_id)
    {
        return Err(bad(
            "the client assertion's iss and sub must be the client_id",
        ));
    }
    let settings = &auth.settings;
    let ours = |aud: &str| {
        aud == settings.issuer || AUTHENTICATING_PATHS.iter().any(|p| aud == settings.url(p))
    };
    if !claims.aud.any(ours) {
        return Err(bad(
            "the client assertion's aud must be the issuer or the endpoint's URL",
        ));
    }
    let exp =
        seconds(&claims.exp).ok_or_else(|| bad("the client assertion's exp is not a number"))?;
    if exp + LEEWAY_SECONDS <= now {
        return Err(bad("the client assertion has expired"));
    }
    if exp > now + MAX_LIFETIME_SECONDS + LEEWAY_SECONDS {
        return Err(bad(
            "the client assertion's exp is more than 5 minutes ahead",
        ));
    }
    for t in [&claims.iat, &claims.nbf].into_iter().flatten() {
        let t =
            seconds(t).ok_or_else(|| bad("the client assertion's iat or nbf is not a number"))?;
        if t > now + LEEWAY_SECONDS {
            return Err(bad("the client assertion's iat or nbf is in the future"));
        }
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(bad("the client assertion's jti is missing or too long"));
    }
    Ok(())
}

/// Checks a JWK Set given at registration: a JSON object with `keys`, at
/// most [`MAX_KEYS`], each a public signing key of a type latchkey
/// verifies (no private or symmetric member).
pub fn check_jwks(set: &Value) -> Result<()> {
    let bad = |why: &str| Error::invalid_request(format!("jwks: {why}"));
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("a JWK Set is an object with a \"keys\" array"))?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(bad("give between 1 and 32 keys"));
    }
    for jwk in keys {
        let obj = jwk
            .as_object()
            .ok_or_else(|| bad("every key is a JSON object"))?;
        if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(bad(
                "a key carries a private or symmetric member: register public keys only",
            ));
        }
        if !ALGS.iter().any(|a| algorithm_for(obj, a).is_some()) {
            return Err(bad(
                "a key is not an RSA (2048 bits or more), P-256 or Ed25519 signing key",
            ));
        }
        serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone())
            .map_err(|e| bad(&format!("a key is malformed: {e}")))?;
    }
    Ok(())
}

/// Checks a `jwks_uri` given at registration: an absolute `https` URL (or
/// `http`, which only a deployment with `jwks_uri_allow_private` fetches),
/// without user info or fragment.
pub fn check_jwks_uri(uri: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid_request(format!("jwks_uri {uri:?} {why}"));
    let url = url::Url::parse(uri).map_err(|e| bad(&format!("is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad("must use https"));
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a fragment or user info"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(())
}

/// How long a fetched JWK Set is used before it is fetched again.
pub const JWKS_MAX_AGE_SECONDS: i64 = 300;

/// An unknown `kid` fetches the set again at most this often per URI, so
/// that assertions with made-up `kid`s cannot turn latchkey into a
/// request generator.
pub const REFETCH_INTERVAL_SECONDS: i64 = 10;

/// The largest JWK Set body latchkey reads.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The URIs this process remembers at most; beyond, the cache is emptied.
const MAX_CACHED: usize = 1000;

#[derive(Clone)]
struct Cached {
    set: Arc<Value>,
    fetched_at: UnixTime,
}

/// Fetches and caches clients' `jwks_uri` documents, per process. A fetch
/// is an outbound request a registration steers, so it is bounded: https
/// only, the host's addresses public (both unless `jwks_uri_allow_private`),
/// the connection made to the address that was checked (no second DNS
/// answer), no redirects, [`CONNECT_TIMEOUT`] and [`TOTAL_TIMEOUT`],
/// [`MAX_JWKS_BYTES`].
#[derive(Default)]
pub struct JwksFetcher {
    cache: Mutex<HashMap<String, Cached>>,
}

impl JwksFetcher {
    /// The set at `uri`: cached when younger than [`JWKS_MAX_AGE_SECONDS`]
    /// (and, with `refresh`, than [`REFETCH_INTERVAL_SECONDS`]), fetched
    /// otherwise. A failed fetch is `invalid_client`.
    pub async fn get(
        &self,
        uri: &str,
        now: UnixTime,
        refresh: bool,
        allow_private: bool,
    ) -> Result<Arc<Value>> {
        let max_age = if refresh {
            REFETCH_INTERVAL_SECONDS
        } else {
            JWKS_MAX_AGE_SECONDS
        };
        if let Some(hit) = self.lock().get(uri).cloned()
            && now - hit.fetched_at < max_age
            && hit.fetched_at <= now
        {
            return Ok(hit.set);
        }
        let set = match fetch(uri, allow_private).await {
            Ok(set) => Arc::new(set),
            Err(why) => {
                tracing::warn!(jwks_uri = uri, "fetching a client's jwks_uri failed: {why}");
                return Err(failed());
            }
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            uri.to_owned(),
            Cached {
                set: set.clone(),
                fetched_at: now,
            },
        );
        Ok(set)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A poisoned lock means a panic mid-insert; the map is still valid.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One bounded fetch; the error says why, for the log.
async fn fetch(uri: &str, allow_private: bool) -> std::result::Result<Value, String> {
    let url = url::Url::parse(uri).map_err(|e| e.to_string())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("only https jwks_uris are fetched".into()),
    }
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::lookup_host((lookup_host.as_str(), port)),
    )
    .await
    .map_err(|_| "resolving the host timed out".to_owned())?
    .map_err(|e| format!("resolving the host failed: {e}"))?
    .collect();
    let addr = *addrs.first().ok_or("the host has no address")?;
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err("the host resolves to a loopback, private or reserved address".into());
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .resolve(&lookup_host, addr)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let read = async {
        let mut resp = http
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .send()
            .await
            .map_err(|e| format!("request failed: {}", describe(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("answered {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("the document is too big".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading failed: {}", describe(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("the document is too big".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = tokio::time::timeout(TOTAL_TIMEOUT, read)
        .await
        .map_err(|_| "the fetch timed out".to_owned())??;
    let set: Value = serde_json::from_slice(&body).map_err(|_| "not JSON".to_owned())?;
    check_jwks(&set).map_err(|e| e.description().map(|d| d.into_owned()).unwrap_or_default())?;
    Ok(set)
}

/// A reqwest error without its URL (which is the client's, not secret, but
/// keeps lines short).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "failed".into()
    }
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC
/// 1918, RFC 4193), link-local, shared (RFC 6598), unspecified, multicast,
/// broadcast or documentation.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn keys_pin_their_algorithm() {
        let rsa = serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([1u8; 256]), "e": "AQAB", "alg": "PS256"});
        let rsa = rsa.as_object().unwrap();
        assert!(algorithm_for(rsa, "PS256").is_some());
        assert!(algorithm_for(rsa, "RS256").is_none());
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"});
        assert!(algorithm_for(ec.as_object().unwrap(), "ES256").is_some());
        assert!(algorithm_for(ec.as_object().unwrap(), "RS256").is_none());
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(algorithm_for(oct.as_object().unwrap(), "HS256").is_none());
        assert!(check_jwks(&serde_json::json!({"keys": [oct]})).is_err());
        assert!(check_jwks(&serde_json::json!({"keys": []})).is_err());
    }
}
