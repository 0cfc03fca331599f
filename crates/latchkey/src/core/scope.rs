//! Scopes (RFC 6749 §3.3): a space-delimited, case-sensitive set of tokens.

use std::collections::BTreeSet;
use std::fmt;

use super::error::{Error, Result};

/// A set of scope tokens, kept sorted so that equal sets print equally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

/// The OpenID Connect scopes (OIDC Core §5.4, §11).
pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
pub const OFFLINE_ACCESS: &str = "offline_access";
/// The scope of the admin API (docs/admin.md): with the audience
/// `<issuer>/admin`, it lets a token manage clients, users, keys and read
/// the audit trail. A user is granted it only with the role `admin`.
pub const ADMIN: &str = "latchkey:admin";

impl Scope {
    /// Parses a `scope` parameter. "scope-token = 1*( %x21 / %x23-5B / %x5D-7E )"
    /// (RFC 6749 §3.3): anything else is `invalid_scope`. Runs of spaces are
    /// tolerated, as most servers do.
    pub fn parse(s: &str) -> Result<Self> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return Err(Error::invalid_scope(
                    "scope contains a character RFC 6749 §3.3 forbids",
                ));
            }
            set.insert(token.to_owned());
        }
        Ok(Scope(set))
    }

    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Scope(tokens.into_iter().map(Into::into).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// This scope without `token`.
    pub fn without(mut self, token: &str) -> Self {
        self.0.remove(token);
        self
    }

    /// The tokens of `self` that `other` lacks, for error descriptions.
    pub fn missing_from<'a>(&'a self, other: &'a Scope) -> impl Iterator<Item = &'a str> {
        self.0.difference(&other.0).map(String::as_str)
    }

    /// Grants a request against what the client may have: the requested scope if
    /// it is within `allowed`, the whole of `allowed` if none was requested
    /// (RFC 6749 §3.3 lets the server pick a default; ours is everything the
    /// client is registered for), `invalid_scope` otherwise.
    pub fn grant(requested: Option<Scope>, allowed: &Scope) -> Result<Scope> {
        match requested {
            None => Ok(allowed.clone()),
            Some(req) if req.is_subset_of(allowed) => Ok(req),
            Some(req) => {
                let extra: Vec<&str> = req.missing_from(allowed).collect();
                Err(Error::invalid_scope(format!(
                    "the client is not registered for scope: {}",
                    extra.join(" ")
                )))
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sorted() {
        let s = Scope::parse("write  read read").unwrap();
        assert_eq!(s.to_string(), "read write");
    }

    #[test]
    fn rejects_forbidden_characters() {
        for bad in ["a\"b", "a\\b", "é", "a\tb"] {
            assert_eq!(
                Scope::parse(bad).unwrap_err().code(),
                "invalid_scope",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn grant_defaults_to_allowed_and_refuses_extra() {
        let allowed = Scope::parse("read write").unwrap();
        assert_eq!(Scope::grant(None, &allowed).unwrap(), allowed);
        let req = Scope::parse("read").unwrap();
        assert_eq!(Scope::grant(Some(req.clone()), &allowed).unwrap(), req);
        let err = Scope::grant(Some(Scope::parse("admin").unwrap()), &allowed).unwrap_err();
        assert_eq!(err.code(), "invalid_scope");
    }
}
