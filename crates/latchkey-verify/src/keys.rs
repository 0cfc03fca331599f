//! Public keys, parsed once when a JWKS is loaded (RFC 7517, RFC 7518 §6,
//! RFC 8037 §2). Parsing an RSA key costs about as much as verifying a
//! signature, so it never happens on the request path.

use std::collections::HashMap;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_proto::Jwk;

use crate::config::Algorithm;

/// A verification key and the one algorithm it may be used with. The
/// algorithm comes from the key's type and the configuration, so a token's
/// `alg` header can only select a key's algorithm, never change it.
pub(crate) struct VerificationKey {
    pub(crate) alg: Algorithm,
    key: ParsedPublicKey,
}

impl VerificationKey {
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// The usable keys of one JWKS, by `kid`.
#[derive(Default)]
pub(crate) struct KeyMap {
    keys: HashMap<String, VerificationKey>,
}

impl KeyMap {
    pub(crate) fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.get(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Parses a JWKS document. Keys that cannot be used (unknown type, an
    /// algorithm not allowed, `use` other than `sig`, a short RSA modulus,
    /// a malformed member, no `kid`) are skipped one by one, so that one odd
    /// key cannot make every token fail.
    pub(crate) fn parse(json: &[u8], allowed: &[Algorithm]) -> Result<KeyMap, String> {
        #[derive(serde::Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let mut map = KeyMap::default();
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                tracing::warn!("skipping a JWK that does not parse");
                continue;
            };
            map.insert(&jwk, allowed);
        }
        Ok(map)
    }

    pub(crate) fn from_jwks(jwks: &latchkey_proto::JwkSet, allowed: &[Algorithm]) -> KeyMap {
        let mut map = KeyMap::default();
        for jwk in &jwks.keys {
            map.insert(jwk, allowed);
        }
        map
    }

    fn insert(&mut self, jwk: &Jwk, allowed: &[Algorithm]) {
        match parse_jwk(jwk, allowed) {
            Ok(key) => {
                // Two keys with one kid would make the choice of key depend on
                // document order; keep neither.
                if self.keys.insert(jwk.kid.clone(), key).is_some() {
                    tracing::warn!(kid = %jwk.kid, "two JWKs share a kid; ignoring both");
                    self.keys.remove(&jwk.kid);
                }
            }
            Err(why) => tracing::debug!(kid = %jwk.kid, why, "skipping JWK"),
        }
    }
}

fn parse_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Result<VerificationKey, &'static str> {
    if jwk.kid.is_empty() {
        return Err("no kid");
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signing key");
    }
    let alg = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        // One RSA key serves one algorithm: PS256 only when the JWK says
        // so, RS256 otherwise.
        ("RSA", _) if jwk.alg.as_deref() == Some("PS256") => Algorithm::PS256,
        ("RSA", _) => Algorithm::RS256,
        ("EC", Some("P-256")) => Algorithm::ES256,
        ("OKP", Some("Ed25519")) => Algorithm::EdDSA,
        _ => return Err("unsupported key type"),
    };
    // A JWK that names its algorithm may only be used with that one
    // (RFC 7517 §4.4).
    if jwk.alg.as_deref().is_some_and(|a| a != alg.as_str()) {
        return Err("the JWK's alg does not match its key type");
    }
    if !allowed.contains(&alg) {
        return Err("algorithm not allowed by the configuration");
    }
    let b64 = |member: &Option<String>| -> Result<Vec<u8>, &'static str> {
        let text = member.as_deref().ok_or("a member is missing")?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| "a member is not base64url")
    };
    let key = match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            let n = strip_leading_zeros(b64(&jwk.n)?);
            let e = strip_leading_zeros(b64(&jwk.e)?);
            // RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used".
            if n.len() < 256 {
                return Err("RSA modulus shorter than 2048 bits");
            }
            let params = if alg == Algorithm::PS256 {
                &RSA_PSS_2048_8192_SHA256
            } else {
                &RSA_PKCS1_2048_8192_SHA256
            };
            RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(params)
                .map_err(|_| "RSA key rejected")?
        }
        Algorithm::ES256 => {
            let x = b64(&jwk.x)?;
            let y = b64(&jwk.y)?;
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes");
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // Parsing checks that the point is on the curve.
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).map_err(|_| "EC key rejected")?
        }
        Algorithm::EdDSA => {
            let x = b64(&jwk.x)?;
            if x.len() != 32 {
                return Err("Ed25519 keys are 32 bytes");
            }
            ParsedPublicKey::new(&ED25519, x).map_err(|_| "Ed25519 key rejected")?
        }
    };
    Ok(VerificationKey { alg, key })
}

/// RFC 7518 §6.3.1 forbids leading zero octets in `n` and `e`, but some
/// publishers add one; aws-lc-rs refuses them, so tolerate it here.
fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}
