use serde::{Deserialize, Serialize};

/// An OAuth 2.0 error response body (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// `mfa_required` (latchkey's first-party sign-in): the token that
    /// finishes the sign-in at `/v1/signin/mfa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// `mfa_required`: the second factors the user can use (`otp`,
    /// `webauthn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_methods: Option<Vec<String>>,
}
