//! DPoP: sender-constrained tokens by proof of possession (RFC 9449).
//!
//! A client sends a `DPoP` header, a JWT signed by a key it holds whose
//! public half is in the JWT's `jwk` header, naming the request it is for
//! (`htm`, `htu`), when it was made (`iat`) and, at a resource, the access
//! token it goes with (`ath`). latchkey checks it (RFC 9449 §4.3) and
//! binds what it issues to the key's RFC 7638 thumbprint (`cnf.jkt`,
//! RFC 9449 §6): an access token, and a public client's refresh token
//! (§5).
//!
//! Checks, in order: one compact JWS of bounded size; `typ: dpop+jwt`; an
//! asymmetric `alg` of [`ALGS`] (never `none`, never a MAC); a public `jwk`
//! of the type that algorithm needs and no private member; the signature
//! by that very key (jsonwebtoken, the algorithm pinned); `htm`, `htu`
//! (query and fragment ignored, §4.3 point 9), `iat` within
//! [`IAT_WINDOW_SECONDS`]; `ath`; the server's nonce when
//! `dpop_require_nonce` is set (§8); and last the `jti`, recorded once in
//! the database for [`JTI_LIFETIME_SECONDS`] so that a replay is refused by
//! every process ([`DpopReplayStore`]).

use std::future::Future;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Authority;
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::secret::{self, ServerKey};

/// The signature algorithms accepted in proofs: asymmetric only.
pub const ALGS: &[&str] = &["ES256", "EdDSA", "RS256", "PS256"];

/// "the creation time of the JWT [...] within an acceptable window"
/// (RFC 9449 §4.3 point 11): this many seconds either side of now.
pub const IAT_WINDOW_SECONDS: i64 = 60;

/// How long a proof's `jti` is remembered. Longer than the `iat` window on
/// both sides, so that a proof cannot outlive its record.
pub const JTI_LIFETIME_SECONDS: i64 = 300;

/// A proof longer than this is refused unparsed.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// A `jti` longer than this is refused.
const MAX_JTI_LEN: usize = 256;

/// How long one server nonce window lasts; a nonce is accepted in its
/// window and the next.
const NONCE_WINDOW_SECONDS: i64 = 300;

/// HMAC purposes.
const NONCE_PURPOSE: &str = "dpop-nonce";
const JTI_PURPOSE: &str = "dpop-jti";

/// Members of a JWK that only a private (or symmetric) key has (RFC 7518
/// §6.2.2, §6.3.2, §6.4; RFC 8037 §2): a proof carrying one is refused.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// An RFC 7638 JWK SHA-256 thumbprint, base64url: what `cnf.jkt` and
/// `dpop_jkt` carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jkt(String);

impl Jkt {
    /// A thumbprint as a client or a stored row spells it.
    pub fn new(s: impl Into<String>) -> Self {
        Jkt(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &Jkt) -> bool {
        secret::constant_time_eq(&self.0, &other.0)
    }
}

impl std::fmt::Display for Jkt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `DPoP` header of a request, as the HTTP layer found it.
#[derive(Debug, Clone, Default)]
pub enum ProofHeader {
    /// No `DPoP` header.
    #[default]
    Absent,
    /// Exactly one.
    One(String),
    /// Several, or one that is not visible ASCII: "There is not more than
    /// one DPoP HTTP request header field" (RFC 9449 §4.3 point 1).
    Malformed,
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The HTTP method, as sent (`POST`).
    pub method: &'a str,
    /// The endpoint's absolute URL.
    pub url: &'a str,
    /// At a resource: the access token the proof must name in `ath`.
    pub access_token: Option<&'a str>,
}

/// Storage of the `jti`s of accepted proofs.
///
/// Contract (checked by `tests/it/store.rs` on both backends): of any
/// number of calls with one key, in however many processes, before it
/// expires, exactly one returns `true`.
pub trait DpopReplayStore: Send + Sync {
    /// Records `key` until `expires_at`; `false` if it was already there.
    fn record_dpop_jti(
        &self,
        key: &str,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Deletes the records past their expiry; returns how many.
    fn purge_dpop_jtis(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// The claims of a proof (RFC 9449 §4.2).
#[derive(Debug, Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: serde_json::Number,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

fn invalid(d: &'static str) -> Error {
    Error::InvalidDpopProof(d.into())
}

/// Checks a proof for `target` and returns its key's thumbprint. Every
/// failure is `invalid_dpop_proof`, except a missing or stale nonce when
/// nonces are required: `use_dpop_nonce`, carrying a fresh one.
pub async fn verify_proof<S: DpopReplayStore>(
    auth: &Authority<S>,
    proof: &str,
    target: ProofTarget<'_>,
) -> Result<Jkt> {
    let now = auth.clock.now();
    let (jkt, claims) = check_signed_proof(proof)?;
    check_claims(&claims, target, now)?;
    if auth.settings.dpop_require_nonce {
        let fresh = || Error::UseDpopNonce {
            nonce: nonce(&auth.server_key, now),
        };
        match claims.nonce.as_deref() {
            Some(n) if nonce_is_valid(&auth.server_key, n, now) => {}
            _ => return Err(fresh()),
        }
    }
    // Last, so that a proof refused for another reason does not use up its
    // `jti`. Keyed by the key and the `jti` together (two clients may pick
    // the same `jti`), under the server's HMAC so that the table says
    // nothing about either.
    let key = auth.server_key.mac_token(
        JTI_PURPOSE,
        format!("{}\u{0}{}", jkt.as_str(), claims.jti).as_bytes(),
    );
    if !auth
        .store
        .record_dpop_jti(&key, now + JTI_LIFETIME_SECONDS)
        .await?
    {
        return Err(invalid("the DPoP proof was already used"));
    }
    Ok(jkt)
}

/// The header's checks and the signature: the thumbprint of the proof's
/// key and its claims, not yet checked against the request.
fn check_signed_proof(proof: &str) -> Result<(Jkt, ProofClaims)> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(invalid("the DPoP proof is empty or too long"));
    }
    let mut parts = proof.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a compact JWS"));
    };
    let head = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| invalid("the DPoP proof's header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&head)
        .map_err(|_| invalid("the DPoP proof's header is not a JSON object"))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    if header.contains_key("crit") {
        return Err(invalid("the DPoP proof names critical extensions"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| ALGS.contains(a))
        .ok_or_else(|| invalid("the DPoP proof's alg must be ES256, EdDSA, RS256 or PS256"))?;
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("the DPoP proof carries no jwk"))?;
    let (algorithm, jkt) = public_key(alg, jwk)?;
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(Value::Object(jwk.clone()))
        .map_err(|_| invalid("the DPoP proof's jwk is malformed"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed)
        .map_err(|_| invalid("the DPoP proof's jwk is malformed"))?;
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|_| invalid("the DPoP proof's signature or claims do not verify"))?;
    Ok((jkt, data.claims))
}

/// The algorithm a key of this shape verifies with, and the key's RFC 7638
/// thumbprint; refuses private members and a key unfit for `alg`.
fn public_key(alg: &str, jwk: &Map<String, Value>) -> Result<(jsonwebtoken::Algorithm, Jkt)> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    let member = |name: &str| -> Result<&str> {
        jwk.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid("the DPoP proof's jwk lacks a required member"))
    };
    let unfit = || invalid("the DPoP proof's jwk does not fit its alg");
    let kty = member("kty")?;
    let (algorithm, canonical) = match (alg, kty) {
        ("ES256", "EC") => {
            if member("crv")? != "P-256" {
                return Err(unfit());
            }
            (
                jsonwebtoken::Algorithm::ES256,
                canonical_json(&[
                    ("crv", member("crv")?),
                    ("kty", kty),
                    ("x", member("x")?),
                    ("y", member("y")?),
                ]),
            )
        }
        ("EdDSA", "OKP") => {
            if member("crv")? != "Ed25519" {
                return Err(unfit());
            }
            (
                jsonwebtoken::Algorithm::EdDSA,
                canonical_json(&[("crv", member("crv")?), ("kty", kty), ("x", member("x")?)]),
            )
        }
        ("RS256" | "PS256", "RSA") => {
            let n = member("n")?;
            // RSA keys under 2048 bits are refused (RFC 7518 §3.3).
            let bits = URL_SAFE_NO_PAD
                .decode(n)
                .map_err(|_| invalid("the DPoP proof's jwk is malformed"))?
                .iter()
                .skip_while(|b| **b == 0)
                .count()
                * 8;
            if bits < 2048 {
                return Err(invalid(
                    "the DPoP proof's RSA key is shorter than 2048 bits",
                ));
            }
            let algorithm = if alg == "RS256" {
                jsonwebtoken::Algorithm::RS256
            } else {
                jsonwebtoken::Algorithm::PS256
            };
            (
                algorithm,
                canonical_json(&[("e", member("e")?), ("kty", kty), ("n", n)]),
            )
        }
        _ => return Err(unfit()),
    };
    let digest = secret::sha256(canonical.as_bytes());
    Ok((algorithm, Jkt(URL_SAFE_NO_PAD.encode(digest.as_ref()))))
}

/// RFC 7638 §3.2: the required members, in lexicographic order, no
/// whitespace. `members` is given in that order.
fn canonical_json(members: &[(&str, &str)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| {
            format!(
                "\"{k}\":{}",
                serde_json::to_string(v).unwrap_or_else(|_| String::from("\"\""))
            )
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The RFC 7638 thumbprint of a public JWK given as JSON, for tests and
/// tools that hold a key and want its `jkt`.
pub fn thumbprint(jwk: &Value) -> Result<Jkt> {
    let obj = jwk
        .as_object()
        .ok_or_else(|| invalid("a JWK is a JSON object"))?;
    let alg = match obj.get("kty").and_then(Value::as_str) {
        Some("EC") => "ES256",
        Some("OKP") => "EdDSA",
        Some("RSA") => "RS256",
        _ => return Err(invalid("unsupported key type")),
    };
    public_key(alg, obj).map(|(_, jkt)| jkt)
}

/// `htm`, `htu`, `iat` and `ath` against the request.
fn check_claims(claims: &ProofClaims, target: ProofTarget<'_>, now: UnixTime) -> Result<()> {
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(invalid("the DPoP proof's jti is missing or too long"));
    }
    if claims.htm != target.method {
        return Err(invalid("the DPoP proof is for another HTTP method"));
    }
    if !same_target_uri(&claims.htu, target.url) {
        return Err(invalid("the DPoP proof is for another URL"));
    }
    let iat = claims
        .iat
        .as_i64()
        .or_else(|| claims.iat.as_f64().map(|f| f as i64))
        .ok_or_else(|| invalid("the DPoP proof's iat is not a number"))?;
    if (now - iat).abs() > IAT_WINDOW_SECONDS {
        return Err(invalid("the DPoP proof's iat is too far from now"));
    }
    if let Some(token) = target.access_token {
        let expected = ath(token);
        match claims.ath.as_deref() {
            Some(a) if secret::constant_time_eq(a, &expected) => {}
            _ => {
                return Err(invalid(
                    "the DPoP proof's ath does not match the access token",
                ));
            }
        }
    }
    Ok(())
}

/// Whether `s` has the shape of a SHA-256 thumbprint in base64url without
/// padding (43 characters), as `dpop_jkt` must (RFC 9449 §10).
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|bytes| bytes.len() == 32)
}

/// The `ath` of an access token: base64url of its SHA-256 (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(secret::sha256(access_token.as_bytes()).as_ref())
}

/// `htu` against the endpoint's URL, "ignoring any query and fragment
/// parts" (RFC 9449 §4.3 point 9), after the URL parser's normalization of
/// scheme, host, default port and path.
fn same_target_uri(htu: &str, expected: &str) -> bool {
    let (Ok(mut a), Ok(mut b)) = (url::Url::parse(htu), url::Url::parse(expected)) else {
        return false;
    };
    for u in [&mut a, &mut b] {
        u.set_query(None);
        u.set_fragment(None);
    }
    a.as_str() == b.as_str()
}

/// A server nonce (RFC 9449 §8): the time window and an HMAC of it, so that
/// every process issues and accepts the same ones without storing them.
pub fn nonce(key: &ServerKey, now: UnixTime) -> String {
    let window = now.div_euclid(NONCE_WINDOW_SECONDS);
    format!(
        "{window}.{}",
        key.mac_token(NONCE_PURPOSE, &window.to_be_bytes())
    )
}

/// Whether `nonce` was issued in this window or the previous one.
fn nonce_is_valid(key: &ServerKey, nonce: &str, now: UnixTime) -> bool {
    let Some((window, mac)) = nonce.split_once('.') else {
        return false;
    };
    let Ok(window) = window.parse::<i64>() else {
        return false;
    };
    let current = now.div_euclid(NONCE_WINDOW_SECONDS);
    if window != current && window != current - 1 {
        return false;
    }
    secret::constant_time_eq(mac, &key.mac_token(NONCE_PURPOSE, &window.to_be_bytes()))
}

/// A client registered with `--require-dpop` must send a proof with every
/// token request.
pub fn require_if_registered(client: &super::clients::Client, jkt: Option<&Jkt>) -> Result<()> {
    if client.policy.require_dpop && jkt.is_none() {
        return Err(invalid("this client must send a DPoP proof (RFC 9449)"));
    }
    Ok(())
}

/// Reads the proof of a request at an endpoint that accepts DPoP: `None`
/// without one; a malformed header is `invalid_dpop_proof`.
pub async fn optional_proof<S: DpopReplayStore>(
    auth: &Authority<S>,
    header: &ProofHeader,
    target: ProofTarget<'_>,
) -> Result<Option<Jkt>> {
    match header {
        ProofHeader::Absent => Ok(None),
        ProofHeader::Malformed => Err(invalid(
            "send exactly one DPoP header, of visible ASCII characters",
        )),
        ProofHeader::One(proof) => verify_proof(auth, proof, target).await.map(Some),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap().as_str(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn private_members_and_unfit_keys_are_refused() {
        let ec = serde_json::json!({"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"});
        assert!(public_key("ES256", ec.as_object().unwrap()).is_err());
        let okp = serde_json::json!({"kty":"OKP","crv":"Ed25519","x":"a"});
        assert!(public_key("ES256", okp.as_object().unwrap()).is_err());
        assert!(public_key("EdDSA", okp.as_object().unwrap()).is_ok());
        let oct = serde_json::json!({"kty":"oct","k":"c2VjcmV0"});
        assert!(public_key("HS256", oct.as_object().unwrap()).is_err());
    }

    #[test]
    fn htu_ignores_query_and_fragment_only() {
        let u = "https://as.example.com/v1/oauth/token";
        assert!(same_target_uri(
            "https://AS.example.com:443/v1/oauth/token?x#y",
            u
        ));
        assert!(!same_target_uri(
            "https://as.example.com/v1/oauth/token/",
            u
        ));
        assert!(!same_target_uri("http://as.example.com/v1/oauth/token", u));
        assert!(!same_target_uri("not a url", u));
    }

    #[test]
    fn nonces_live_two_windows() {
        let key = ServerKey::from_secret("k");
        let n = nonce(&key, 1_000_000);
        assert!(nonce_is_valid(&key, &n, 1_000_000));
        assert!(nonce_is_valid(&key, &n, 1_000_000 + NONCE_WINDOW_SECONDS));
        assert!(!nonce_is_valid(
            &key,
            &n,
            1_000_000 + 3 * NONCE_WINDOW_SECONDS
        ));
        assert!(!nonce_is_valid(
            &ServerKey::from_secret("other"),
            &n,
            1_000_000
        ));
        assert!(!nonce_is_valid(&key, "garbage", 1_000_000));
    }
}
