//! Random tokens, their hashes, and constant-time comparison.
//!
//! Every token latchkey hands out (client secrets, refresh tokens, codes,
//! session ids, key ids) comes from the operating system's CSPRNG through
//! aws-lc-rs, the one crate latchkey takes its randomness, hashes and MACs
//! from.
//! What is stored is the SHA-256 of a token, never the token: the tokens carry at
//! least 256 bits of entropy, so a fast hash is as safe as a slow one and keeps
//! lookups and client authentication cheap.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use super::error::{Error, Result};

/// 32 bytes = 256 bits, the entropy of every long-lived secret.
pub const SECRET_BYTES: usize = 32;

/// Fills `buf` from the OS CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    aws_lc_rs::rand::fill(buf).map_err(|_| Error::internal("the OS random source failed"))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
}

/// SHA-512 of `data` (the hash of Ed25519 signatures, for `at_hash`).
pub fn sha512(data: &[u8]) -> aws_lc_rs::digest::Digest {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, data)
}

/// A new random token of `SECRET_BYTES` bytes, base64url without padding (43 chars).
pub fn random_token() -> Result<String> {
    let mut buf = [0u8; SECRET_BYTES];
    fill_random(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A random identifier of `n` bytes, base64url (for `kid`, `jti` and the like,
/// which need to be unique and unguessable but are not secrets).
pub fn random_id(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The stored form of a secret: base64url of its SHA-256.
///
/// `Debug` is derived on purpose: a hash is not the secret, and seeing it in a log
/// helps nobody forge the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        SecretHash(URL_SAFE_NO_PAD.encode(sha256(secret.as_bytes())))
    }

    pub fn from_stored(s: String) -> Self {
        SecretHash(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time, so that the time taken does not tell an
    /// attacker how many leading characters of a guess were right.
    pub fn matches(&self, secret: &str) -> bool {
        let candidate = SecretHash::of(secret);
        self.0.as_bytes().ct_eq(candidate.0.as_bytes()).into()
    }
}

/// A secret value whose `Debug` never shows it, so it cannot leak into a log line
/// through a `{:?}` anywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Constant-time equality of two strings (for CSRF tokens and the like).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The server-side HMAC key every process shares (stored in `server_secrets`,
/// generated on first start). It derives values that must be reproducible by
/// any process but unforgeable by anyone else: a refresh token's successor, a
/// CSRF token bound to a browser session.
#[derive(Clone)]
pub struct ServerKey(aws_lc_rs::hmac::Key);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

impl ServerKey {
    /// The name of the secret in `server_secrets`.
    pub const NAME: &'static str = "hmac-sha256-v1";

    pub fn from_secret(secret: &str) -> Self {
        ServerKey(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            secret.as_bytes(),
        ))
    }

    /// HMAC-SHA256 of `data` under this key, domain-separated by `purpose` so
    /// that a value derived for one use can never stand in for another.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.0);
        ctx.update(&(purpose.len() as u64).to_be_bytes());
        ctx.update(purpose.as_bytes());
        ctx.update(data);
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// [`ServerKey::mac`] as base64url: a token-shaped string.
    pub fn mac_token(&self, purpose: &str, data: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, data))
    }
}

/// Storage of the server-side secrets every process shares (HMAC keys).
pub trait ServerSecretStore: Send + Sync {
    /// The secret named `name`, creating it from `candidate` if it does not exist
    /// yet. Concurrent callers all get the same value: the first insert wins.
    fn get_or_create_secret(
        &self,
        name: &str,
        candidate: &str,
        now: super::clock::UnixTime,
    ) -> impl std::future::Future<Output = Result<String>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn hash_matches_only_its_secret() {
        let h = SecretHash::of("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cret "));
        assert!(!h.matches(""));
    }

    #[test]
    fn server_key_macs_are_keyed_and_domain_separated() {
        let k = ServerKey::from_secret("k1");
        assert_eq!(k.mac("a", b"x"), k.mac("a", b"x"));
        assert_ne!(k.mac("a", b"x"), k.mac("b", b"x"));
        assert_ne!(
            k.mac("a", b"x"),
            ServerKey::from_secret("k2").mac("a", b"x")
        );
        assert_eq!(k.mac_token("a", b"x").len(), 43);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }
}
