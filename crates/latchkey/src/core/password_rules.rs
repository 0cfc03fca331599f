//! What a new password must be (NIST SP 800-63B §5.1.1.2): at least
//! `password_min_length` characters (8 by default), at most [`MAX_LENGTH`],
//! and none of the 10,000 most common passwords. No composition rules ("one
//! digit, one symbol") and no periodic changes: the same section advises
//! against both.
//!
//! The list is `crates/latchkey/data/common-passwords.txt` (SecLists'
//! `10-million-password-list-top-10000.txt`, MIT; see the README beside
//! it), compiled into the binary and compared case-insensitively, so
//! `Password` is refused along with `password`.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::error::{Error, Result};
use super::secret::Secret;
use super::settings::Settings;

/// The most characters a password may have. Argon2 takes any length, but a
/// bound keeps a request from buying seconds of hashing with a megabyte.
pub const MAX_LENGTH: usize = 256;

static COMMON_TEXT: &str = include_str!("../../data/common-passwords.txt");

static COMMON: LazyLock<HashSet<String>> = LazyLock::new(|| {
    COMMON_TEXT
        .lines()
        .map(|l| l.trim_end_matches('\r').to_lowercase())
        .filter(|l| !l.is_empty())
        .collect()
});

/// Which rule a password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    TooShort,
    TooLong,
    Common,
}

impl Broken {
    /// The catalogue key of the pages' message.
    pub fn key(self) -> &'static str {
        match self {
            Broken::TooShort => "password.too_short",
            Broken::TooLong => "password.too_long",
            Broken::Common => "password.too_common",
        }
    }
}

/// The first rule `password` breaks, if any. Lengths count characters
/// (Unicode scalar values), not bytes.
pub fn broken(settings: &Settings, password: &str) -> Option<Broken> {
    let n = password.chars().count();
    if n < settings.password_min_length {
        Some(Broken::TooShort)
    } else if n > MAX_LENGTH {
        Some(Broken::TooLong)
    } else if COMMON.contains(&password.to_lowercase()) {
        Some(Broken::Common)
    } else {
        None
    }
}

/// `invalid_request` naming the rule `password` breaks (the JSON
/// endpoints' `error_description`).
pub fn check(settings: &Settings, password: &Secret) -> Result<()> {
    match broken(settings, password.expose()) {
        None => Ok(()),
        Some(rule) => Err(Error::invalid_request(describe(settings, rule))),
    }
}

/// The sentence that names a broken rule.
pub fn describe(settings: &Settings, rule: Broken) -> String {
    match rule {
        Broken::TooShort => format!(
            "password_too_short: the password must have at least {} characters",
            settings.password_min_length
        ),
        Broken::TooLong => {
            format!("password_too_long: the password must have at most {MAX_LENGTH} characters")
        }
        Broken::Common => "password_too_common: the password is one of the 10,000 most common \
                           passwords; choose another"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_list_has_ten_thousand_passwords() {
        assert!(COMMON.len() > 9_900, "{}", COMMON.len());
        assert!(COMMON.contains("password"));
        assert!(COMMON.contains("iloveyou"));
    }

    #[test]
    fn each_rule_is_named() {
        let s = Settings::default();
        assert_eq!(broken(&s, "short"), Some(Broken::TooShort));
        assert_eq!(broken(&s, "Password"), Some(Broken::Common));
        assert_eq!(broken(&s, "qwertyuiop"), Some(Broken::Common));
        assert_eq!(broken(&s, &"x".repeat(257)), Some(Broken::TooLong));
        assert_eq!(broken(&s, &"é".repeat(256)), None);
        assert_eq!(broken(&s, "correct horse battery staple"), None);
        // Eight characters, not eight bytes.
        assert_eq!(broken(&s, "ééééééé"), Some(Broken::TooShort));
        let e = check(&s, &Secret::new("password")).unwrap_err();
        assert!(e.description().unwrap().contains("most common"), "{e}");
    }
}
