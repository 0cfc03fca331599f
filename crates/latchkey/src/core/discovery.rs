//! Authorization server metadata (RFC 8414 §2, OIDC Discovery §3): what this
//! server implements, and nothing it does not.

use latchkey_proto::ProviderMetadata;

use super::clients::GrantType;
use super::keys::SigningAlg;
use super::settings::Settings;

/// The endpoint paths, relative to the issuer (docs/endpoints.md).
pub mod paths {
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const JWKS: &str = "/.well-known/jwks.json";
    pub const TOKEN: &str = "/v1/oauth/token";
    pub const REVOCATION: &str = "/v1/oauth/revoke";
    pub const INTROSPECTION: &str = "/v1/oauth/introspect";
    pub const SIGNIN: &str = "/v1/signin";
    pub const REFRESH: &str = "/v1/refresh";
    pub const SIGNOUT: &str = "/v1/signout";
    pub const AUTHORIZE: &str = "/v1/oauth/authorize";
    pub const USERINFO: &str = "/v1/userinfo";
    pub const LOGOUT: &str = "/v1/oauth/logout";
    pub const LOGIN_PAGE: &str = "/login";
    pub const CONSENT_PAGE: &str = "/consent";
    pub const DEVICE_AUTHORIZATION: &str = "/v1/oauth/device_authorization";
    pub const DEVICE_PAGE: &str = "/device";
    pub const PAR: &str = "/v1/oauth/par";
    /// RFC 7591 registration; RFC 7592 management under it.
    pub const REGISTRATION: &str = "/v1/oauth/register";
    pub const REGISTRATION_CLIENT: &str = "/v1/oauth/register/{client_id}";
    // Accounts (docs/accounts.md).
    pub const SIGNUP: &str = "/v1/signup";
    pub const PASSWORD_FORGOT: &str = "/v1/password/forgot";
    pub const PASSWORD_RESET: &str = "/v1/password/reset";
    pub const REGISTER_PAGE: &str = "/register";
    pub const VERIFY_EMAIL_PAGE: &str = "/verify-email";
    pub const FORGOT_PASSWORD_PAGE: &str = "/forgot-password";
    pub const RESET_PASSWORD_PAGE: &str = "/reset-password";
    pub const ACCOUNT_PAGE: &str = "/account";
    pub const ACCOUNT_PASSWORD: &str = "/account/password";
    /// Ends one browser session or one signed-in app of the account's user.
    pub const ACCOUNT_SIGN_OUT: &str = "/account/sign-out";
    /// Revokes a consent (and the app's refresh tokens).
    pub const ACCOUNT_REVOKE_CONSENT: &str = "/account/consents/revoke";
    /// The user's passkeys (list; POST: register one).
    pub const ACCOUNT_PASSKEYS: &str = "/account/passkeys";
    /// Starts a passkey registration: the options for
    /// `navigator.credentials.create` (JSON).
    pub const ACCOUNT_PASSKEYS_OPTIONS: &str = "/account/passkeys/options";
    pub const ACCOUNT_PASSKEYS_REMOVE: &str = "/account/passkeys/remove";
    /// Sign-in with a passkey alone (the login page's second form).
    pub const LOGIN_PASSKEY: &str = "/login/passkey";
    /// Starts a passkey sign-in: the options for `navigator.credentials.get`
    /// (JSON).
    pub const LOGIN_PASSKEY_OPTIONS: &str = "/login/passkey/options";
    /// The pages' one script (the WebAuthn ceremonies).
    pub const PASSKEYS_SCRIPT: &str = "/assets/passkeys.js";
    /// The second step of a sign-in (docs/mfa.md).
    pub const LOGIN_MFA_PAGE: &str = "/login/mfa";
    /// The second step by a passkey (the `/login/mfa` page's passkey form).
    pub const LOGIN_MFA_PASSKEY: &str = "/login/mfa/passkey";
    /// Starts that ceremony: the options for `navigator.credentials.get`.
    pub const LOGIN_MFA_PASSKEY_OPTIONS: &str = "/login/mfa/passkey/options";
    /// The second step of `/v1/signin`.
    pub const SIGNIN_MFA: &str = "/v1/signin/mfa";
    /// Enrolling (and removing) a TOTP authenticator.
    pub const ACCOUNT_TOTP: &str = "/account/totp";
}

/// The grant types the token endpoint implements.
pub const GRANT_TYPES: &[GrantType] = &[
    GrantType::AuthorizationCode,
    GrantType::ClientCredentials,
    GrantType::Password,
    GrantType::RefreshToken,
    GrantType::DeviceCode,
    GrantType::TokenExchange,
];

pub fn metadata(settings: &Settings, algs: &[SigningAlg]) -> ProviderMetadata {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let auth_methods = strings(&[
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]);
    let assertion_algs = strings(super::client_assertion::ALGS);
    ProviderMetadata {
        issuer: settings.issuer.clone(),
        token_endpoint: settings.url(paths::TOKEN),
        jwks_uri: settings.url(paths::JWKS),
        revocation_endpoint: Some(settings.url(paths::REVOCATION)),
        // RFC 7009 §2.1: public clients revoke by naming themselves.
        revocation_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint: Some(settings.url(paths::INTROSPECTION)),
        // RFC 7662 §4: introspection requires a client that can authenticate.
        introspection_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]),
        introspection_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
        revocation_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
        token_endpoint_auth_signing_alg_values_supported: assertion_algs,
        authorization_endpoint: Some(settings.url(paths::AUTHORIZE)),
        userinfo_endpoint: Some(settings.url(paths::USERINFO)),
        end_session_endpoint: Some(settings.url(paths::LOGOUT)),
        device_authorization_endpoint: Some(settings.url(paths::DEVICE_AUTHORIZATION)),
        registration_endpoint: Some(settings.url(paths::REGISTRATION)),
        scopes_supported: strings(&["openid", "profile", "email", "offline_access"]),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        code_challenge_methods_supported: strings(&["S256"]),
        prompt_values_supported: strings(&["none", "login", "consent", "select_account"]),
        // docs/mfa.md: "1" one factor, "2" two.
        acr_values_supported: strings(&super::mfa::ACR_VALUES),
        authorization_response_iss_parameter_supported: true,
        dpop_signing_alg_values_supported: strings(super::dpop::ALGS),
        pushed_authorization_request_endpoint: Some(settings.url(paths::PAR)),
        require_pushed_authorization_requests: settings.require_pushed_authorization_requests,
        // docs/logout-and-exchange.md: every client that got an ID token in
        // a session hears of its end, with the session's `sid`.
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        grant_types_supported: GRANT_TYPES.iter().map(|g| g.as_str().to_owned()).collect(),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: algs.iter().map(|a| a.as_str().to_owned()).collect(),
        token_endpoint_auth_methods_supported: auth_methods,
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
            "auth_time",
            "roles",
            "email",
            "email_verified",
            "name",
            "nonce",
            "at_hash",
            "amr",
            "acr",
            "sid",
            "act",
        ]),
        ..ProviderMetadata::default()
    }
}
