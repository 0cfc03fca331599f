//! Typed errors. [`VerifyError`] is what a request gets refused with;
//! [`FetchError`] is why latchkey could not be reached or understood;
//! [`ConfigError`] is a configuration that cannot work.

/// Why a request is not authorized (RFC 6750 §3.1).
///
/// The reason inside `Invalid` is for logs and tests. The HTTP response
/// never carries it: telling a forger which check failed only helps them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The request carries no bearer token at all.
    #[error("no bearer token")]
    Missing,
    /// A token that would be valid, but its `exp` (plus leeway) has passed.
    #[error("the access token has expired")]
    Expired,
    /// Anything else: malformed, forged, not for us, not yet valid.
    #[error("invalid access token: {0}")]
    Invalid(&'static str),
    /// A DPoP-bound token presented without a valid proof for this very
    /// request, as Bearer, or where the resource does not take it; or a
    /// Bearer token where only bound tokens are accepted (RFC 9449 §7).
    /// Answered with `WWW-Authenticate: DPoP error="invalid_token"`.
    #[error("invalid DPoP use: {0}")]
    InvalidDpop(&'static str),
    /// A valid token without a scope the resource requires.
    #[error("the access token lacks the scope {0:?}")]
    InsufficientScope(String),
}

impl VerifyError {
    /// The `code` of the JSON error body (docs/resource-servers.md). The only place these wire
    /// strings are spelled.
    pub fn code(&self) -> &'static str {
        match self {
            // docs/resource-servers.md names three codes; a client written against it knows only
            // those, so a missing token is one more kind of invalid one. The
            // bare `WWW-Authenticate: Bearer` (RFC 6750 §3.1) is what tells
            // the two apart.
            VerifyError::Missing => "INVALID_TOKEN",
            VerifyError::Expired => "TOKEN_EXPIRED",
            VerifyError::Invalid(_) | VerifyError::InvalidDpop(_) => "INVALID_TOKEN",
            VerifyError::InsufficientScope(_) => "INSUFFICIENT_SCOPE",
        }
    }
}

/// Why the JWKS or discovery document could not be fetched. The verifier
/// logs it and keeps its cached keys; [`Verifier::refresh`](crate::Verifier::refresh)
/// returns it for services that want to fail fast at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("request to {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} answered a document that does not parse: {message}")]
    Malformed { url: String, message: String },
    /// OIDC Discovery §4.3: the `issuer` in the document MUST be identical to
    /// the issuer URL that was used to find it.
    #[error("discovery names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("the verifier is configured with a static JWKS and fetches nothing")]
    Static,
}

/// A configuration that could never accept a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the issuer is empty")]
    NoIssuer,
    #[error("at least one audience is required")]
    NoAudience,
    #[error("at least one algorithm is required")]
    NoAlgorithm,
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_are_spelled_as_the_contract_says() {
        assert_eq!(VerifyError::Missing.code(), "INVALID_TOKEN");
        assert_eq!(VerifyError::Expired.code(), "TOKEN_EXPIRED");
        assert_eq!(VerifyError::Invalid("x").code(), "INVALID_TOKEN");
        assert_eq!(VerifyError::InvalidDpop("x").code(), "INVALID_TOKEN");
        assert_eq!(
            VerifyError::InsufficientScope("admin".into()).code(),
            "INSUFFICIENT_SCOPE"
        );
    }
}
