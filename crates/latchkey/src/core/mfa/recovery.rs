//! Recovery codes: ten per enrolment, shown once, each usable once in
//! place of a TOTP code. Ten characters of Crockford's base32 alphabet
//! (50 bits), shown as `xxxxx-xxxxx`; typed case-, space- and
//! dash-insensitively, with `o` read as `0` and `i`/`l` as `1`. Stored as an HMAC under the server key (50 bits is
//! too few for a plain hash to hide them from someone holding a copy of the
//! database), and spent by a conditional `UPDATE`.

use super::super::error::Result;
use super::super::secret::{self, ServerKey};

/// How many codes an enrolment gives.
pub const COUNT: usize = 10;
const LEN: usize = 10;
/// Crockford's base32: digits and letters less `i`, `l`, `o`, `u`.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const PURPOSE: &str = "mfa-recovery-code";
/// Typed codes longer than this are not even normalised.
const MAX_TYPED_LEN: usize = 64;

/// Ten fresh codes, formatted for showing.
pub fn generate() -> Result<Vec<String>> {
    let mut codes = Vec::with_capacity(COUNT);
    for _ in 0..COUNT {
        let mut raw = [0u8; LEN];
        secret::fill_random(&mut raw)?;
        let s: String = raw
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
            .collect();
        codes.push(format!("{}-{}", &s[..LEN / 2], &s[LEN / 2..]));
    }
    Ok(codes)
}

/// The stored hash of a code as typed, or `None` when it cannot be one.
pub fn hash(key: &ServerKey, typed: &str) -> Option<String> {
    if typed.len() > MAX_TYPED_LEN {
        return None;
    }
    let normal: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    if normal.len() != LEN || !normal.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(key.mac_token(PURPOSE, normal.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_are_distinct_and_hash_as_typed() {
        let key = ServerKey::from_secret("k");
        let codes = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        let mut sorted = codes.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), COUNT);
        let c = &codes[0];
        assert_eq!(c.len(), 11);
        let h = hash(&key, c).unwrap();
        assert_eq!(hash(&key, &c.to_uppercase()), Some(h.clone()));
        assert_eq!(hash(&key, &c.replace('-', " ")), Some(h.clone()));
        assert_ne!(hash(&ServerKey::from_secret("other"), c), Some(h));
        assert_eq!(hash(&key, "short"), None);
        assert_eq!(hash(&key, "uuuuuuuuuu"), None);
        assert_eq!(hash(&key, "ooooo-iiiii"), hash(&key, "00000-11111"));
    }
}
