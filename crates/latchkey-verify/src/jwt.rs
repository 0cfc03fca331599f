//! Taking a compact JWS apart (RFC 7515 §7.1) without trusting any of it.
//!
//! Nothing here decides which key or algorithm to use: that is
//! [`crate::verifier`]'s job. This module only refuses what is malformed and
//! what latchkey never sends.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};

use crate::error::VerifyError;

/// Tokens longer than this are refused before any decoding. latchkey's access
/// tokens are well under 2 KiB; 8 KiB leaves room for many roles and scopes
/// while bounding the work a forged token can cause.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The three parts of a compact JWS, split but not yet verified.
pub(crate) struct Compact<'a> {
    pub(crate) header: Header,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: what was signed.
    pub(crate) signing_input: &'a str,
    pub(crate) payload_b64: &'a str,
    pub(crate) signature: Vec<u8>,
}

/// The JOSE header members this verifier looks at (RFC 7515 §4.1).
///
/// Members that name or carry a key (`jku`, `x5u`, `jwk`, `x5c`) are only
/// recorded as present: their values are never read, let alone fetched.
#[derive(Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    pub(crate) typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

impl Header {
    /// Whether the token tries to tell us which key to trust.
    pub(crate) fn names_its_own_key(&self) -> bool {
        self.jku || self.x5u || self.jwk || self.x5c
    }

    /// RFC 7515 §4.1.11: a recipient that does not understand an extension
    /// listed in `crit` MUST reject the JWS. latchkey uses none.
    pub(crate) fn has_crit(&self) -> bool {
        self.crit
    }
}

/// `true` whenever the member is there, whatever its value (even `null`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(true)
}

const fn invalid(why: &'static str) -> VerifyError {
    VerifyError::Invalid(why)
}

impl<'a> Compact<'a> {
    pub(crate) fn split(token: &'a str) -> Result<Self, VerifyError> {
        if token.is_empty() {
            return Err(invalid("empty token"));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("token too long"));
        }
        let Some((signing_input, signature_b64)) = token.rsplit_once('.') else {
            return Err(invalid("not a compact JWS"));
        };
        let Some((header_b64, payload_b64)) = signing_input.split_once('.') else {
            return Err(invalid("not a compact JWS"));
        };
        // Four or five segments would be a JWE or garbage.
        if payload_b64.contains('.') {
            return Err(invalid("not a compact JWS"));
        }
        let header_json = decode_b64(header_b64)?;
        let header: Header = from_json_object(&header_json)?;
        let signature = decode_b64(signature_b64)?;
        Ok(Compact {
            header,
            signing_input,
            payload_b64,
            signature,
        })
    }
}

/// Strict base64url without padding: `=`, `+`, `/`, whitespace and
/// non-canonical trailing bits are all refused, so that one token has one
/// spelling.
pub(crate) fn decode_b64(segment: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| invalid("a segment is not base64url"))
}

/// Parses a JSON object. serde would also build a struct from a JSON array
/// (by position); a JWS header and a JWT claims set are objects (RFC 7515
/// §4, RFC 7519 §7.2), so anything else is refused first. Duplicate members
/// are refused by serde (RFC 7515 §4: "MUST either reject ... or use a JSON
/// parser that returns only the lexically last"; rejecting is the safe one).
pub(crate) fn from_json_object<'de, T: Deserialize<'de>>(
    json: &'de [u8],
) -> Result<T, VerifyError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(invalid("not a JSON object"));
    }
    serde_json::from_slice(json).map_err(|_| invalid("malformed JSON"))
}

#[cfg(test)]
mod proptests {
    #![allow(clippy::unwrap_used)]
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Hostile input: any string is a compact JWS or a clean error.
        #[test]
        fn split_never_panics(token in ".{0,300}") {
            let _ = Compact::split(&token);
        }

        /// JWT-shaped input: three base64url segments of arbitrary bytes or
        /// arbitrary JSON-ish text.
        #[test]
        fn jwt_shaped_never_panics(
            header in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                "\\{[ -~]{0,80}\\}".prop_map(String::into_bytes),
                Just(br#"{"alg":"RS256","kid":"k","typ":"at+jwt","crit":["x"]}"#.to_vec()),
            ],
            payload in proptest::collection::vec(any::<u8>(), 0..80),
            sig in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let token = format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(&header),
                URL_SAFE_NO_PAD.encode(&payload),
                URL_SAFE_NO_PAD.encode(&sig)
            );
            if let Ok(c) = Compact::split(&token) {
                let _ = c.header.names_its_own_key();
                let _ = c.header.has_crit();
            }
        }
    }
}
