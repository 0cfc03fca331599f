//! Response headers that several endpoints share.

use axum::http::{HeaderMap, HeaderValue, header};

/// "The authorization server MUST include the HTTP "Cache-Control" response
/// header field with a value of "no-store" in any response containing tokens,
/// credentials, or other sensitive information" (RFC 6749 §5.1).
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
