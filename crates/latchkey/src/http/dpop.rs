//! Reading the `DPoP` header (RFC 9449 §4.1) off a request, for the
//! endpoints that accept proofs; the checks are `core::dpop`'s.

use axum::http::{HeaderMap, header};

use super::error::Scheme;

use crate::core::dpop::{MAX_PROOF_LEN, ProofHeader};

/// The `DPoP` header: absent, exactly one of visible ASCII, or malformed
/// ("There is not more than one DPoP HTTP request header field", RFC 9449
/// §4.3 point 1).
pub fn proof_header(headers: &HeaderMap) -> ProofHeader {
    let mut all = headers.get_all("dpop").iter();
    let (Some(one), None) = (all.next(), all.next()) else {
        return if headers.contains_key("dpop") {
            ProofHeader::Malformed
        } else {
            ProofHeader::Absent
        };
    };
    match one.to_str() {
        Ok(v) if !v.is_empty() && v.len() <= MAX_PROOF_LEN => ProofHeader::One(v.to_owned()),
        _ => ProofHeader::Malformed,
    }
}

/// The access token of the `Authorization` header and its scheme: `Bearer`
/// (RFC 6750 §2.1) or `DPoP` (RFC 9449 §7.1).
pub fn access_token(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Some((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some((Scheme::Dpop, token))
    } else {
        None
    }
}
