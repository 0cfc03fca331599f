//! Authorization codes (RFC 6749 §4.1.2): opaque, single use,
//! `authorization_code_ttl_seconds` (60 s), bound to the client, the
//! `redirect_uri`, the PKCE challenge, the nonce, the scope, the user and
//! `auth_time`. Only the code's SHA-256 is stored.
//!
//! "If an authorization code is used more than once, the authorization
//! server MUST deny the request and SHOULD revoke (when possible) all tokens
//! previously issued based on that authorization code." (RFC 6749 §4.1.2)
//! A redeemed code keeps its row (until it expires) with the `jti` of the
//! access token it issued; its refresh family carries the origin
//! `code:<hash>`. A replay revokes both.

use std::future::Future;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::clients::ClientId;
use super::clock::UnixTime;
use super::dpop::Jkt;
use super::error::Result;
use super::mfa::Amr;
use super::refresh::NewFamily;
use super::scope::Scope;
use super::secret::{self, SecretHash};
use super::users::UserId;

/// A code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub hash: SecretHash,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub redirect_uri: String,
    /// The S256 `code_challenge`; `None` only for a confidential client when
    /// `require_pkce` is off.
    pub code_challenge: Option<String>,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub audience: Vec<String>,
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    /// The browser session the code was issued in (its stored hash): the
    /// ID token's `sid` is derived from it (`sessions::sid`).
    pub session: Option<SecretHash>,
    /// The DPoP key the code is bound to (RFC 9449 §10): the token request
    /// that redeems it must carry a proof by this key.
    pub dpop_jkt: Option<Jkt>,
    /// How the user signed in to that session (RFC 8176), for the ID
    /// token's `amr` and `acr`.
    pub amr: Amr,
}

/// What the redemption issued, recorded on the code so that a replay can
/// revoke it.
#[derive(Debug, Clone, Copy)]
pub struct Issued<'a> {
    pub access_jti: &'a str,
    pub access_expires_at: UnixTime,
    pub family: Option<&'a NewFamily>,
}

/// Storage of authorization codes.
///
/// Contract: `redeem_code` succeeds at most once per code, however many
/// callers race, and stores the issued refresh family in the same
/// transaction; `revoke_code_grant` revokes the family issued from the code
/// and deny-lists its access token.
pub trait CodeStore: Send + Sync {
    fn insert_code(&self, code: &StoredCode) -> impl Future<Output = Result<()>> + Send;
    fn find_code(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<StoredCode>>> + Send;
    /// In one transaction: marks the code used if it is unused and unexpired,
    /// records what it issued, and inserts the refresh family. Returns
    /// whether it did (`false`: another redemption won, or it expired).
    fn redeem_code(
        &self,
        hash: &SecretHash,
        issued: Issued<'_>,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// In one transaction: revokes every family issued from the code and puts
    /// its access token on the deny list; returns that token's `jti` and
    /// `exp`, for this process's deny-list mirror.
    fn revoke_code_grant(
        &self,
        hash: &SecretHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<(String, UnixTime)>>> + Send;
    /// Deletes expired codes, except redeemed ones used after
    /// `redeemed_before`: those stay so that a late replay still revokes
    /// what they issued (RFC 6749 §4.1.2: "SHOULD revoke (when possible)
    /// all tokens previously issued based on that authorization code").
    /// Returns how many were deleted.
    fn purge_codes(
        &self,
        now: UnixTime,
        redeemed_before: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// A fresh code: 256 bits from the OS CSPRNG, base64url.
pub fn new_code() -> Result<String> {
    secret::random_token()
}

/// Whether `s` has the form RFC 7636 §4.1/§4.2 gives verifiers and S256
/// challenges: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." /
/// "_" / "~"`.
pub fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of a verifier: "BASE64URL-ENCODE(SHA256(ASCII(
/// code_verifier)))" (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(secret::sha256(verifier.as_bytes()))
}

/// "BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge"
/// (RFC 7636 §4.6), compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_string(verifier) {
        return false;
    }
    secret::constant_time_eq(&s256_challenge(verifier), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn rfc7636_example() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_pkce_string("short"));
    }
}
