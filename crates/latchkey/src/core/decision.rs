//! A person's answer to "may this client act for you?": the consent page of
//! the authorization code flow and the confirmation page of the device flow
//! ask it, and both forms send it as `decision=allow|deny`.

use super::error::{Error, Result};

/// The answer. Denying is as final as allowing: a consent denied ends the
/// request with `access_denied` (RFC 6749 §4.1.2.1), a device denied gets
/// `access_denied` at its next poll (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    /// The name of the form field that carries it.
    pub const FIELD: &'static str = "decision";

    /// The value of the form field (and of the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    /// Reads a submitted `decision`; anything but `allow` or `deny` is an
    /// `invalid_request` (a hand-made form, not a person's answer).
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            _ => Err(Error::invalid_request("decision must be allow or deny")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wire_values() {
        for d in [Decision::Allow, Decision::Deny] {
            assert_eq!(Decision::parse(d.as_str()).unwrap(), d);
        }
        assert_eq!(Decision::Allow.as_str(), "allow");
        assert_eq!(Decision::Deny.as_str(), "deny");
        for bad in ["", "Allow", "yes", "allow "] {
            assert_eq!(Decision::parse(bad).unwrap_err().code(), "invalid_request");
        }
    }
}
