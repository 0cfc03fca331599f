//! TOTP (RFC 6238) on HOTP (RFC 4226): HMAC-SHA-1, 6 digits, 30-second
//! steps, one step of drift either way — what every authenticator app
//! (Google Authenticator, Aegis, 1Password, ...) does by default.
//!
//! A small module on aws-lc-rs's HMAC rather than a TOTP crate: the
//! algorithm is twenty lines, every crate for it brings a second HMAC/SHA-1
//! implementation (latchkey takes all its primitives from aws-lc-rs, see
//! `core::secret`), and what matters most is around it, not in it: the
//! comparison is constant time, and which step was accepted is returned so
//! that the store accepts each step once (`MfaStore::accept_totp_step`).
//! Checked against the test vectors of RFC 6238 Appendix B.

use aws_lc_rs::hmac;

use super::super::clock::UnixTime;
use super::super::secret;

/// RFC 6238 §4.1 "X": the time step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Steps accepted on either side of the current one (RFC 6238 §5.2 "at
/// most one time step is allowed as the network delay").
pub const DRIFT_STEPS: i64 = 1;
/// RFC 4226 §4 R6: "the length of the shared secret MUST be at least 128
/// bits. This document RECOMMENDs a shared secret length of 160 bits."
pub const SECRET_BYTES: usize = 20;

/// The step of a moment (RFC 6238 §4.2, T0 = 0).
pub fn step_of(now: UnixTime) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// A fresh shared secret from the OS CSPRNG.
pub fn new_secret() -> super::super::error::Result<Vec<u8>> {
    let mut s = vec![0u8; SECRET_BYTES];
    secret::fill_random(&mut s)?;
    Ok(s)
}

/// The HOTP value of `counter` (RFC 4226 §5.3), as `DIGITS` digits.
pub fn hotp(key: &[u8], counter: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    // "Dynamic Truncation": the low 4 bits of the last byte pick where the
    // 31-bit value starts.
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!("{:0width$}", bin % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// The code of `step`.
pub fn code_at(key: &[u8], step: i64) -> String {
    hotp(key, u64::try_from(step).unwrap_or(0))
}

/// The step within the drift window around `now` whose code is `code`, if
/// any. Every step of the window is computed and compared in constant time,
/// whichever matches, so the time taken tells nothing.
pub fn matching_step(key: &[u8], code: &str, now: UnixTime) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut found = None;
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        if step >= 0 && secret::constant_time_eq(&code_at(key, step), code) {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding: how `otpauth://` URIs and apps spell
/// the secret (Key Uri Format).
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://totp/` URI of the Key Uri Format that authenticator apps
/// read from the QR code: label `issuer:account`, `secret`, `issuer`, and
/// the parameters spelled out (they are the defaults).
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        enc(issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits there; the last 6 of each
    /// are the 6-digit code, since both are the value modulo a power of 10).
    #[test]
    fn rfc6238_vectors() {
        let key = b"12345678901234567890";
        for (t, code8) in [
            (59i64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_at(key, step_of(t)), code8[2..], "t = {t}");
        }
    }

    /// RFC 4226 Appendix D.
    #[test]
    fn rfc4226_vectors() {
        let key = b"12345678901234567890";
        let expected = ["755224", "287082", "359152", "969429", "338314"];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(hotp(key, i as u64), *e);
        }
    }

    #[test]
    fn one_step_of_drift_either_way() {
        let key = b"12345678901234567890";
        let now = 1_000_000_000;
        let s = step_of(now);
        for d in -1..=1 {
            assert_eq!(matching_step(key, &code_at(key, s + d), now), Some(s + d));
        }
        for d in [-2, 2] {
            assert_eq!(matching_step(key, &code_at(key, s + d), now), None);
        }
        assert_eq!(matching_step(key, "12345", now), None);
        assert_eq!(matching_step(key, "abcdef", now), None);
    }

    #[test]
    fn base32_rfc4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn uri_escapes_the_label() {
        let uri = otpauth_uri("Acme ID", "a+b@example.com", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20ID:a%2Bb%40example.com?secret=ABC&issuer=Acme%20ID&algorithm=SHA1&digits=6&period=30"
        );
    }
}
