//! Reading the `DPoP` header (RFC 9449 §4.1) off a request, for the
//! endpoints that accept proofs; the checks are `core::dpop`'s.

use axum::http::HeaderMap;

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
