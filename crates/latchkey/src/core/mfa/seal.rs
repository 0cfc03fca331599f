//! Sealing second-factor secrets at rest: AES-256-GCM (aws-lc-rs), a random
//! 96-bit nonce per sealing, and the user id as associated data, so that a
//! sealed secret copied onto another user's row does not open.
//!
//! The key is `mfa_encryption_key` (32 bytes, base64) or, when that is
//! unset, derived from the server's HMAC key (`server_secrets`), which every
//! process shares. Rotation (docs/mfa.md, "Key management"): the new key
//! goes in `mfa_encryption_key` and the old one in
//! `mfa_encryption_previous_keys`; secrets open with any of them and are
//! sealed with the current one, and a secret opened with an old key is
//! sealed again with the current one ([`Opened::stale`]).
//!
//! Stored form: `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`, where
//! the key id is a short hash of the key: it picks the key to try and names
//! no secret.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::super::error::{Error, Result};
use super::super::secret::{self, ServerKey};
use super::super::settings::Settings;
use super::super::users::UserId;

/// Key bytes: AES-256.
pub const KEY_BYTES: usize = 32;
const VERSION: &str = "v1";
const AAD_PURPOSE: &str = "latchkey-mfa-secret\n";

/// One key, with its id.
struct SealKey {
    id: String,
    key: LessSafeKey,
}

impl SealKey {
    fn new(bytes: &[u8; KEY_BYTES]) -> Result<SealKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::internal("an AES-256 key was refused"))?;
        let mut id_input = b"latchkey-mfa-key-id\n".to_vec();
        id_input.extend_from_slice(bytes);
        let id = URL_SAFE_NO_PAD.encode(&secret::sha256(&id_input).as_ref()[..6]);
        Ok(SealKey {
            id,
            key: LessSafeKey::new(unbound),
        })
    }
}

/// The keys of this process: the current one seals, any opens.
pub struct SealKeys {
    current: SealKey,
    previous: Vec<SealKey>,
}

impl std::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKeys(<redacted>)")
    }
}

/// An opened secret; `stale`: it was sealed with a previous key, and should
/// be sealed again with the current one.
pub struct Opened {
    pub secret: Vec<u8>,
    pub stale: bool,
}

impl SealKeys {
    /// From the settings' keys (`None`: derive from the server key), with
    /// the previous keys to open with. The derived key is always among the
    /// previous ones, so that setting `mfa_encryption_key` later loses
    /// nothing.
    pub fn new(
        server_key: &ServerKey,
        current: Option<&[u8; KEY_BYTES]>,
        previous: &[[u8; KEY_BYTES]],
    ) -> Result<SealKeys> {
        let derived = server_key.mac("mfa-encryption-key", b"");
        let current_bytes = current.copied().unwrap_or(derived);
        let mut prev = Vec::new();
        for p in previous.iter().chain(std::iter::once(&derived)) {
            if *p != current_bytes {
                prev.push(SealKey::new(p)?);
            }
        }
        Ok(SealKeys {
            current: SealKey::new(&current_bytes)?,
            previous: prev,
        })
    }

    fn aad(user_id: &UserId) -> Vec<u8> {
        let mut aad = AAD_PURPOSE.as_bytes().to_vec();
        aad.extend_from_slice(user_id.as_str().as_bytes());
        aad
    }

    /// Seals `plain` for `user_id` with the current key.
    pub fn seal(&self, user_id: &UserId, plain: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        secret::fill_random(&mut nonce)?;
        let mut buf = plain.to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(user_id)),
                &mut buf,
            )
            .map_err(|_| Error::internal("sealing a second-factor secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{VERSION}.{}.{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a sealed secret of `user_id`. A secret that no key opens (a
    /// lost key, or a row moved to another user) is an internal error: it
    /// cannot be used, and the operator must hear of it.
    pub fn open(&self, user_id: &UserId, sealed: &str) -> Result<Opened> {
        let bad = || Error::internal("a second-factor secret could not be opened with any key");
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        if bytes.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, cipher) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| bad())?;
        let candidates = std::iter::once((&self.current, false))
            .chain(self.previous.iter().map(|k| (k, true)))
            .filter(|(k, _)| k.id == id);
        for (key, stale) in candidates {
            let mut buf = cipher.to_vec();
            if let Ok(plain) = key.key.open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(user_id)),
                &mut buf,
            ) {
                return Ok(Opened {
                    secret: plain.to_vec(),
                    stale,
                });
            }
        }
        Err(bad())
    }
}

/// Reads a key setting: base64 (standard or URL-safe, padded or not) of
/// exactly 32 bytes. The error names no part of the value.
pub fn parse_key(value: &str) -> std::result::Result<[u8; KEY_BYTES], String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
    let v = value.trim();
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(v).ok())
        .ok_or_else(|| "must be base64 (32 random bytes: `openssl rand -base64 32`)".to_owned())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("must be 32 bytes of base64, not {}", b.len()))
}

/// The keys the settings name: `mfa_encryption_key` (if set) and
/// `mfa_encryption_previous_keys` (comma-separated). The error names the
/// setting and what is wrong, never the value.
#[allow(clippy::type_complexity)]
pub fn keys_from_settings(
    settings: &Settings,
) -> std::result::Result<(Option<[u8; KEY_BYTES]>, Vec<[u8; KEY_BYTES]>), (&'static str, String)> {
    let current = settings
        .mfa_encryption_key
        .as_deref()
        .map(parse_key)
        .transpose()
        .map_err(|e| ("mfa_encryption_key", e))?;
    let previous = settings
        .mfa_encryption_previous_keys
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(parse_key)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| ("mfa_encryption_previous_keys", format!("each key {e}")))?;
    Ok((current, previous))
}

/// The keys of this process, from the settings and the server key.
pub fn from_settings(settings: &Settings, server_key: &ServerKey) -> Result<SealKeys> {
    let (current, previous) =
        keys_from_settings(settings).map_err(|(name, e)| Error::internal(format!("{name} {e}")))?;
    SealKeys::new(server_key, current.as_ref(), &previous)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::new(s)
    }

    #[test]
    fn seals_opens_and_binds_to_the_user() {
        let sk = ServerKey::from_secret("k");
        let keys = SealKeys::new(&sk, None, &[]).unwrap();
        let sealed = keys.seal(&user("u1"), b"secret bytes").unwrap();
        assert!(!sealed.contains("secret"));
        let opened = keys.open(&user("u1"), &sealed).unwrap();
        assert_eq!(opened.secret, b"secret bytes");
        assert!(!opened.stale);
        assert!(keys.open(&user("u2"), &sealed).is_err());
        // Two sealings of one secret differ (fresh nonce).
        assert_ne!(sealed, keys.seal(&user("u1"), b"secret bytes").unwrap());
    }

    #[test]
    fn rotation_opens_old_seals_as_stale() {
        let sk = ServerKey::from_secret("k");
        let derived = SealKeys::new(&sk, None, &[]).unwrap();
        let old = derived.seal(&user("u"), b"x").unwrap();
        let k1 = [1u8; KEY_BYTES];
        let k2 = [2u8; KEY_BYTES];
        // Setting a key keeps the derived one for opening.
        let first = SealKeys::new(&sk, Some(&k1), &[]).unwrap();
        assert!(first.open(&user("u"), &old).unwrap().stale);
        let sealed1 = first.seal(&user("u"), b"y").unwrap();
        // Rotating to k2 with k1 previous.
        let second = SealKeys::new(&sk, Some(&k2), &[k1]).unwrap();
        let o = second.open(&user("u"), &sealed1).unwrap();
        assert_eq!(o.secret, b"y");
        assert!(o.stale);
        // Without k1, it cannot be opened.
        let lost = SealKeys::new(&sk, Some(&k2), &[]).unwrap();
        assert!(lost.open(&user("u"), &sealed1).is_err());
        assert!(lost.open(&user("u"), "garbage").is_err());
        assert!(lost.open(&user("u"), "v1.x.").is_err());
    }

    #[test]
    fn key_settings_parse() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse_key(&b64).unwrap(), [7u8; 32]);
        assert!(parse_key("c2hvcnQ=").is_err());
        assert!(parse_key("not base64!").is_err());
    }
}
