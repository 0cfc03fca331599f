//! DPoP at a resource server (RFC 9449 §7): checking the proof that comes
//! with a DPoP-bound access token.
//!
//! The proof is a JWT whose header carries the client's public key. It is
//! verified with that key (aws-lc-rs, the algorithm fixed by the key's type
//! and never `none` or a MAC), then checked against the request (`htm`,
//! `htu`), the time (`iat` within the leeway), the token (`ath`), and the
//! token's `cnf.jkt` (the key's RFC 7638 thumbprint). Its `jti` goes into a
//! bounded in-memory replay cache last.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::jwt::{decode_b64, from_json_object};

/// Which tokens a resource accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// Only DPoP-bound tokens, each with its proof; a Bearer token is refused.
    BoundOnly,
    /// Bearer tokens as Bearer, DPoP-bound tokens only with their proof.
    #[default]
    Either,
    /// Bearer tokens only; a DPoP-bound token is refused whichever way it
    /// comes.
    BearerOnly,
}

/// Proofs longer than this are refused unparsed.
const MAX_PROOF_LEN: usize = 8 * 1024;

/// Members only a private or symmetric key has: a proof carrying one is
/// refused.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const fn invalid(why: &'static str) -> VerifyError {
    VerifyError::InvalidDpop(why)
}

/// What a proof must be for.
pub(crate) struct Target<'a> {
    pub(crate) method: &'a str,
    /// The request's absolute URL without query or fragment.
    pub(crate) url: &'a str,
    pub(crate) access_token: &'a str,
    /// `cnf.jkt` of the token.
    pub(crate) jkt: &'a str,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: serde_json::Number,
    #[serde(default)]
    ath: Option<String>,
}

/// Checks `proof` for `target` at `now` (± `leeway` seconds) and records its
/// `jti` in `replay`.
pub(crate) fn check(
    proof: &str,
    target: &Target<'_>,
    now: i64,
    leeway: i64,
    replay: &ReplayCache,
) -> Result<(), VerifyError> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(invalid("the DPoP proof is empty or too long"));
    }
    let mut parts = proof.split('.');
    let (Some(head_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("the DPoP proof is not a compact JWS"));
    };
    let header: Map<String, Value> = from_json_object(&decode_b64(head_b64)?)
        .map_err(|_| invalid("the DPoP proof's header is not a JSON object"))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(invalid("the DPoP proof's typ is not dpop+jwt"));
    }
    if header.contains_key("crit") {
        return Err(invalid("the DPoP proof names critical extensions"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let jwk = header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(invalid("the DPoP proof carries no jwk"))?;
    let (key, thumbprint) = public_key(alg, jwk)?;
    let signature = decode_b64(sig_b64)?;
    let signing_input = &proof[..head_b64.len() + 1 + payload_b64.len()];
    key.verify_sig(signing_input.as_bytes(), &signature)
        .map_err(|_| invalid("the DPoP proof's signature does not verify"))?;
    let claims: ProofClaims = from_json_object(&decode_b64(payload_b64)?)
        .map_err(|_| invalid("the DPoP proof's claims are malformed"))?;

    if claims.htm != target.method {
        return Err(invalid("the DPoP proof is for another method"));
    }
    let htu = claims.htu.split(['?', '#']).next().unwrap_or_default();
    if htu != target.url {
        return Err(invalid("the DPoP proof is for another URL"));
    }
    let iat = claims
        .iat
        .as_i64()
        .or_else(|| claims.iat.as_f64().map(|f| f as i64))
        .ok_or(invalid("the DPoP proof's iat is not a number"))?;
    if (now - iat).abs() > leeway {
        return Err(invalid("the DPoP proof's iat is outside the leeway"));
    }
    let ath = URL_SAFE_NO_PAD.encode(digest(&SHA256, target.access_token.as_bytes()));
    if claims.ath.as_deref() != Some(ath.as_str()) {
        return Err(invalid("the DPoP proof's ath is not the token's hash"));
    }
    if thumbprint != target.jkt {
        return Err(invalid("the DPoP proof is by another key than the token's"));
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(invalid("the DPoP proof's jti is missing or too long"));
    }
    if !replay.insert(format!("{thumbprint}.{}", claims.jti), iat + leeway, now) {
        return Err(invalid("the DPoP proof was already used"));
    }
    Ok(())
}

/// The key of the proof's `jwk`, usable with `alg` only, and its RFC 7638
/// thumbprint.
fn public_key(
    alg: &str,
    jwk: &Map<String, Value>,
) -> Result<(ParsedPublicKey, String), VerifyError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk is not a public key"));
    }
    let member = |name: &str| -> Result<&str, VerifyError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or(invalid("the DPoP proof's jwk lacks a member"))
    };
    let bytes = |name: &str| -> Result<Vec<u8>, VerifyError> { decode_b64(member(name)?) };
    let unfit = invalid("the DPoP proof's jwk does not fit its alg");
    let kty = member("kty")?;
    let (key, canonical) = match (alg, kty) {
        ("ES256", "EC") => {
            if member("crv")? != "P-256" {
                return Err(unfit);
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(unfit);
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).map_err(|_| unfit)?;
            let canonical = format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                member("x")?,
                member("y")?
            );
            (key, canonical)
        }
        ("EdDSA", "OKP") => {
            if member("crv")? != "Ed25519" {
                return Err(unfit);
            }
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err(unfit);
            }
            let key = ParsedPublicKey::new(&ED25519, x).map_err(|_| unfit)?;
            let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, member("x")?);
            (key, canonical)
        }
        ("RS256" | "PS256", "RSA") => {
            let n = bytes("n")?;
            let e = bytes("e")?;
            let n_trim: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
            if n_trim.len() < 256 {
                return Err(invalid(
                    "the DPoP proof's RSA key is shorter than 2048 bits",
                ));
            }
            let params = if alg == "RS256" {
                &RSA_PKCS1_2048_8192_SHA256
            } else {
                &RSA_PSS_2048_8192_SHA256
            };
            let key = RsaPublicKeyComponents { n: &n_trim, e: &e }
                .to_parsed_public_key(params)
                .map_err(|_| unfit)?;
            let canonical = format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                member("e")?,
                member("n")?
            );
            (key, canonical)
        }
        _ => return Err(unfit),
    };
    // The members are base64url (checked by decoding above), so they need
    // no JSON escaping in the canonical form.
    let thumbprint = URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()));
    Ok((key, thumbprint))
}

/// Seen `jti`s, each until the proof could no longer pass the `iat` check.
/// Bounded: when full of live entries, new proofs are refused (fail closed)
/// rather than forgetting one that could be replayed.
pub(crate) struct ReplayCache {
    seen: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        ReplayCache {
            seen: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Records `key` until `until`; `false` if it is there already (or the
    /// cache is full of live entries).
    pub(crate) fn insert(&self, key: String, until: i64, now: i64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.get(&key).is_some_and(|exp| *exp >= now) {
            return false;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, exp| *exp >= now);
            if seen.len() >= self.capacity {
                tracing::warn!("the DPoP replay cache is full; refusing proofs");
                return false;
            }
        }
        seen.insert(key, until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_refuses_repeats_and_forgets_expired() {
        let c = ReplayCache::new(2);
        assert!(c.insert("a".into(), 10, 0));
        assert!(!c.insert("a".into(), 10, 5));
        assert!(c.insert("b".into(), 10, 5));
        assert!(!c.insert("c".into(), 10, 5), "full of live entries");
        assert!(c.insert("c".into(), 30, 11), "expired ones make room");
        assert!(c.insert("a".into(), 40, 11));
    }

    #[test]
    fn private_and_symmetric_keys_are_refused() {
        let ec = serde_json::json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"});
        assert!(public_key("ES256", ec.as_object().unwrap()).is_err());
        let oct = serde_json::json!({"kty":"oct","k":"AA"});
        assert!(public_key("HS256", oct.as_object().unwrap()).is_err());
        let okp = serde_json::json!({"kty":"OKP","crv":"Ed25519","x":"AA"});
        assert!(public_key("none", okp.as_object().unwrap()).is_err());
    }
}
