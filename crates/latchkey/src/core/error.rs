//! The one error type of the domain, whose variants are the OAuth 2.0 error codes.
//!
//! Every wire string is spelled once, in [`Error::code`]. `http::error` alone turns
//! an `Error` into a status code, headers, a JSON body, a redirect or an HTML page.

use std::borrow::Cow;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client-safe description that goes to the wire as `error_description`.
pub type Description = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// "The request is missing a required parameter, includes an unsupported
    /// parameter value (other than grant type), repeats a parameter, includes
    /// multiple credentials, utilizes more than one mechanism for authenticating
    /// the client, or is otherwise malformed." (RFC 6749 §5.2)
    #[error("invalid_request: {0}")]
    InvalidRequest(Description),

    /// "Client authentication failed (e.g., unknown client, no client
    /// authentication included, or unsupported authentication method)." (RFC 6749 §5.2)
    #[error("invalid_client: {0}")]
    InvalidClient(Description),

    /// "The provided authorization grant (e.g., authorization code, resource owner
    /// credentials) or refresh token is invalid, expired, revoked, does not match
    /// the redirection URI used in the authorization request, or was issued to
    /// another client." (RFC 6749 §5.2)
    #[error("invalid_grant: {0}")]
    InvalidGrant(Description),

    /// "The authenticated client is not authorized to use this authorization
    /// grant type." (RFC 6749 §5.2)
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Description),

    /// "The authorization grant type is not supported by the authorization
    /// server." (RFC 6749 §5.2)
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Description),

    /// "The requested scope is invalid, unknown, malformed, or exceeds the scope
    /// granted by the resource owner." (RFC 6749 §5.2)
    #[error("invalid_scope: {0}")]
    InvalidScope(Description),

    /// "The requested resource is invalid, missing, unknown, or malformed."
    /// (RFC 8707 §2)
    #[error("invalid_target: {0}")]
    InvalidTarget(Description),

    /// "The resource owner or authorization server denied the request."
    /// (RFC 6749 §4.1.2.1)
    #[error("access_denied: {0}")]
    AccessDenied(Description),

    /// "The authorization server does not support obtaining an authorization code
    /// using this method." (RFC 6749 §4.1.2.1)
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(Description),

    /// "The Authorization Server requires End-User authentication." (OIDC Core §3.1.2.6)
    #[error("login_required: {0}")]
    LoginRequired(Description),

    /// "The Authorization Server requires End-User consent." (OIDC Core §3.1.2.6)
    #[error("consent_required: {0}")]
    ConsentRequired(Description),

    /// "The authorization request is still pending as the end user hasn't yet
    /// completed the user-interaction steps." (RFC 8628 §3.5)
    #[error("authorization_pending")]
    AuthorizationPending,

    /// "A variant of authorization_pending, the authorization request is still
    /// pending and polling should continue, but the interval MUST be increased by
    /// 5 seconds for this and all subsequent requests." (RFC 8628 §3.5)
    #[error("slow_down")]
    SlowDown,

    /// "The device_code has expired, and the device authorization session has
    /// concluded." (RFC 8628 §3.5)
    #[error("expired_token")]
    ExpiredToken,

    /// "The access token provided is expired, revoked, malformed, or invalid for
    /// other reasons." (RFC 6750 §3.1)
    #[error("invalid_token: {0}")]
    InvalidToken(Description),

    /// "The request requires higher privileges than provided by the access
    /// token." (RFC 6750 §3.1)
    #[error("insufficient_scope: {0}")]
    InsufficientScope(Description),

    /// "The DPoP Proof JWT is invalid" (RFC 9449 §5, §7.1): malformed,
    /// for another request, stale, replayed, or by another key than the
    /// token's.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(Description),

    /// "the authorization server requires that the client use a nonce"
    /// (RFC 9449 §8): answered with this fresh one in a `DPoP-Nonce` header.
    #[error("use_dpop_nonce")]
    UseDpopNonce { nonce: String },

    /// A state-changing request from a browser without the proof that it came
    /// from the page that holds the cookie: the `X-CSRF-Token` header (or a
    /// form's CSRF field) is missing or does not match (`core::csrf`). Answered
    /// with 403.
    #[error("invalid_csrf_token: {0}")]
    InvalidCsrfToken(Description),

    /// Too many failed attempts; the caller may retry after this many seconds.
    /// Answered with 429 and `Retry-After`.
    #[error("too many attempts, retry after {retry_after} s")]
    TooManyRequests { retry_after: u64 },

    /// "The authorization server is currently unable to handle the request due to
    /// a temporary overloading or maintenance of the server." (RFC 6749 §4.1.2.1)
    /// Raised when the database cannot be reached.
    #[error("temporarily_unavailable: {0}")]
    TemporarilyUnavailable(Description),

    /// "The value of one or more redirection URIs is invalid." (RFC 7591
    /// §3.2.2)
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(Description),

    /// "The value of one of the client metadata fields is invalid and the
    /// server has rejected this request." (RFC 7591 §3.2.2)
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(Description),

    /// The password was right, and the user has a second factor: the
    /// client finishes the sign-in at `/v1/signin/mfa` with this token
    /// (docs/mfa.md). Not an RFC 6749 code; answered with 401 and
    /// `mfa_token`, `mfa_methods` beside `error`.
    #[error("mfa_required")]
    MfaRequired {
        mfa_token: CarriedToken,
        /// What the user can prove: `otp`, `webauthn` (`FactorKind::as_str`).
        methods: Vec<&'static str>,
    },

    /// Every user must have a second factor (`mfa = "required"`) and this
    /// one has none: they enrol on their account page first.
    #[error("mfa_enrollment_required")]
    MfaEnrollmentRequired,

    /// No endpoint at this path. Not an RFC 6749 code: the answer latchkey
    /// gives, in the same JSON shape, to a request for a path it does not
    /// serve.
    #[error("not_found: {0}")]
    NotFound(Description),

    /// "The authorization server encountered an unexpected condition that
    /// prevented it from fulfilling the request." (RFC 6749 §4.1.2.1)
    ///
    /// The cause is logged, never sent: the wire sees a bare `server_error`.
    #[error("server_error: {0}")]
    Internal(String),
}

/// A token an error hands to the client (`mfa_token`): its `Debug` never
/// shows it, so that an error logged with `{:?}` leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct CarriedToken(String);

impl CarriedToken {
    pub fn new(token: impl Into<String>) -> Self {
        CarriedToken(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CarriedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CarriedToken(<redacted>)")
    }
}

impl Error {
    /// The wire string of the error code: the only place each one is spelled.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidClient(_) => "invalid_client",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::UnauthorizedClient(_) => "unauthorized_client",
            Error::UnsupportedGrantType(_) => "unsupported_grant_type",
            Error::InvalidScope(_) => "invalid_scope",
            Error::InvalidTarget(_) => "invalid_target",
            Error::AccessDenied(_) => "access_denied",
            Error::UnsupportedResponseType(_) => "unsupported_response_type",
            Error::LoginRequired(_) => "login_required",
            Error::ConsentRequired(_) => "consent_required",
            Error::AuthorizationPending => "authorization_pending",
            Error::SlowDown => "slow_down",
            Error::ExpiredToken => "expired_token",
            Error::InvalidToken(_) => "invalid_token",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::InvalidDpopProof(_) => "invalid_dpop_proof",
            Error::UseDpopNonce { .. } => "use_dpop_nonce",
            Error::InvalidCsrfToken(_) => "invalid_csrf_token",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Error::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Error::InvalidClientMetadata(_) => "invalid_client_metadata",
            Error::NotFound(_) => "not_found",
            Error::MfaRequired { .. } => "mfa_required",
            Error::MfaEnrollmentRequired => "mfa_enrollment_required",
            Error::Internal(_) => "server_error",
        }
    }

    /// What the client may read as `error_description`. `Internal` says nothing
    /// about its cause.
    pub fn description(&self) -> Option<Cow<'_, str>> {
        match self {
            Error::InvalidRequest(d)
            | Error::InvalidClient(d)
            | Error::InvalidGrant(d)
            | Error::UnauthorizedClient(d)
            | Error::UnsupportedGrantType(d)
            | Error::InvalidScope(d)
            | Error::InvalidTarget(d)
            | Error::AccessDenied(d)
            | Error::UnsupportedResponseType(d)
            | Error::LoginRequired(d)
            | Error::ConsentRequired(d)
            | Error::InvalidToken(d)
            | Error::InsufficientScope(d)
            | Error::InvalidCsrfToken(d)
            | Error::InvalidDpopProof(d)
            | Error::TemporarilyUnavailable(d)
            | Error::InvalidRedirectUri(d)
            | Error::InvalidClientMetadata(d)
            | Error::NotFound(d) => Some(Cow::Borrowed(d.as_ref())),
            Error::AuthorizationPending => {
                Some(Cow::Borrowed("the user has not yet approved the request"))
            }
            Error::SlowDown => Some(Cow::Borrowed(
                "polling too fast; wait 5 more seconds between requests",
            )),
            Error::ExpiredToken => Some(Cow::Borrowed("the device code has expired")),
            Error::MfaRequired { .. } => Some(Cow::Borrowed(
                "a second factor is required: send it with the mfa_token to /v1/signin/mfa",
            )),
            Error::MfaEnrollmentRequired => Some(Cow::Borrowed(
                "a second factor is required and none is enrolled: enrol one on the account page",
            )),
            Error::UseDpopNonce { .. } => Some(Cow::Borrowed(
                "send the DPoP proof again with the nonce of the DPoP-Nonce header",
            )),
            Error::TooManyRequests { retry_after } => Some(Cow::Owned(format!(
                "too many failed attempts; retry after {retry_after} seconds"
            ))),
            Error::Internal(_) => Some(Cow::Borrowed("an internal error occurred")),
        }
    }

    /// Wraps an unexpected failure; the cause is for the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    pub fn invalid_request(d: impl Into<Description>) -> Self {
        Error::InvalidRequest(d.into())
    }
    pub fn invalid_client(d: impl Into<Description>) -> Self {
        Error::InvalidClient(d.into())
    }
    pub fn invalid_grant(d: impl Into<Description>) -> Self {
        Error::InvalidGrant(d.into())
    }
    pub fn invalid_scope(d: impl Into<Description>) -> Self {
        Error::InvalidScope(d.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wire string, spelled out once more, so that a typo in `code` fails here.
    #[test]
    fn wire_codes_are_the_rfc_strings() {
        let d = || Description::Borrowed("x");
        let cases = [
            (Error::InvalidRequest(d()), "invalid_request"),
            (Error::InvalidClient(d()), "invalid_client"),
            (Error::InvalidGrant(d()), "invalid_grant"),
            (Error::UnauthorizedClient(d()), "unauthorized_client"),
            (Error::UnsupportedGrantType(d()), "unsupported_grant_type"),
            (Error::InvalidScope(d()), "invalid_scope"),
            (Error::InvalidTarget(d()), "invalid_target"),
            (Error::AccessDenied(d()), "access_denied"),
            (
                Error::UnsupportedResponseType(d()),
                "unsupported_response_type",
            ),
            (Error::LoginRequired(d()), "login_required"),
            (Error::ConsentRequired(d()), "consent_required"),
            (Error::AuthorizationPending, "authorization_pending"),
            (Error::SlowDown, "slow_down"),
            (Error::ExpiredToken, "expired_token"),
            (Error::InvalidToken(d()), "invalid_token"),
            (Error::InsufficientScope(d()), "insufficient_scope"),
            (Error::InvalidCsrfToken(d()), "invalid_csrf_token"),
            (Error::InvalidDpopProof(d()), "invalid_dpop_proof"),
            (Error::UseDpopNonce { nonce: "n".into() }, "use_dpop_nonce"),
            (
                Error::TooManyRequests { retry_after: 1 },
                "too_many_requests",
            ),
            (
                Error::TemporarilyUnavailable(d()),
                "temporarily_unavailable",
            ),
            (Error::InvalidRedirectUri(d()), "invalid_redirect_uri"),
            (Error::InvalidClientMetadata(d()), "invalid_client_metadata"),
            (Error::NotFound(d()), "not_found"),
            (
                Error::MfaRequired {
                    mfa_token: CarriedToken::new("t"),
                    methods: vec!["otp"],
                },
                "mfa_required",
            ),
            (Error::MfaEnrollmentRequired, "mfa_enrollment_required"),
            (Error::Internal("db on fire".into()), "server_error"),
        ];
        for (err, code) in cases {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn internal_cause_never_reaches_the_description() {
        let err = Error::internal("password=hunter2 in a query");
        let d = err.description().unwrap();
        assert!(!d.contains("hunter2"));
    }
}
