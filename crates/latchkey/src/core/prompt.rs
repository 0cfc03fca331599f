//! The `prompt` parameter of an authorization request (OIDC Core §3.1.2.1):
//! whether the server may, must or must not show its pages.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// What the client asked about interaction. "If this parameter contains
/// `none` with any other value, an error is returned" (OIDC Core §3.1.2.1),
/// so the combinations that can be asked for are exactly these.
///
/// `select_account` is accepted and changes nothing: a browser has at most
/// one session here, so there is no account to choose among.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "PromptFlags", into = "PromptFlags")]
pub enum Prompt {
    /// No `prompt`: the login and consent pages are shown when needed.
    #[default]
    Auto,
    /// `none`: never show a page; answer `login_required` or
    /// `consent_required` instead.
    None,
    /// `login`: ask for the password even when a session exists.
    Login,
    /// `consent`: ask for consent even when it was given before (not to
    /// first-party clients, which never ask).
    Consent,
    /// `login consent`.
    LoginAndConsent,
}

impl Prompt {
    /// Parses the space-separated `prompt` parameter; absent is [`Prompt::Auto`].
    pub fn parse(param: Option<&str>) -> Result<Self> {
        let (mut none, mut login, mut consent) = (false, false, false);
        for value in param.unwrap_or("").split(' ') {
            match value {
                "" | "select_account" => {}
                "none" => none = true,
                "login" => login = true,
                "consent" => consent = true,
                other => {
                    return Err(Error::invalid_request(format!(
                        "unsupported prompt value {other:?}"
                    )));
                }
            }
        }
        Ok(match (none, login, consent) {
            (true, false, false) => Prompt::None,
            (true, _, _) => {
                return Err(Error::invalid_request(
                    "prompt=none cannot be combined with other values",
                ));
            }
            (false, false, false) => Prompt::Auto,
            (false, true, false) => Prompt::Login,
            (false, false, true) => Prompt::Consent,
            (false, true, true) => Prompt::LoginAndConsent,
        })
    }

    /// No page may be shown.
    pub fn forbids_pages(self) -> bool {
        self == Prompt::None
    }

    /// A session is not enough: the user types the password again.
    pub fn forces_login(self) -> bool {
        matches!(self, Prompt::Login | Prompt::LoginAndConsent)
    }

    /// A remembered consent is not enough: the user is asked again.
    pub fn forces_consent(self) -> bool {
        matches!(self, Prompt::Consent | Prompt::LoginAndConsent)
    }
}

/// How a [`Prompt`] is stored inside a pending request's JSON: the three
/// flags that the stored rows have always had, so that rows written before
/// this type existed (or by an older process sharing the database) still
/// read back.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct PromptFlags {
    #[serde(default)]
    prompt_none: bool,
    #[serde(default)]
    prompt_login: bool,
    #[serde(default)]
    prompt_consent: bool,
}

impl From<PromptFlags> for Prompt {
    fn from(f: PromptFlags) -> Self {
        // `none` with another flag cannot have been stored (parse refuses
        // it); if it ever is, `none` wins: the safe reading shows no page.
        match (f.prompt_none, f.prompt_login, f.prompt_consent) {
            (true, _, _) => Prompt::None,
            (false, false, false) => Prompt::Auto,
            (false, true, false) => Prompt::Login,
            (false, false, true) => Prompt::Consent,
            (false, true, true) => Prompt::LoginAndConsent,
        }
    }
}

impl From<Prompt> for PromptFlags {
    fn from(p: Prompt) -> Self {
        PromptFlags {
            prompt_none: p.forbids_pages(),
            prompt_login: p.forces_login(),
            prompt_consent: p.forces_consent(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_every_allowed_combination() {
        for (param, want) in [
            (None, Prompt::Auto),
            (Some(""), Prompt::Auto),
            (Some("select_account"), Prompt::Auto),
            (Some("none"), Prompt::None),
            (Some("login"), Prompt::Login),
            (Some("consent"), Prompt::Consent),
            (Some("consent login"), Prompt::LoginAndConsent),
            (
                Some("login select_account consent"),
                Prompt::LoginAndConsent,
            ),
        ] {
            assert_eq!(Prompt::parse(param).unwrap(), want, "{param:?}");
        }
        for bad in ["none login", "consent none", "bogus", "LOGIN"] {
            assert_eq!(
                Prompt::parse(Some(bad)).unwrap_err().code(),
                "invalid_request",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stored_as_the_three_flags() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(flatten)]
            prompt: Prompt,
        }
        let json = serde_json::to_value(Row {
            prompt: Prompt::LoginAndConsent,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"prompt_none": false, "prompt_login": true, "prompt_consent": true})
        );
        for p in [
            Prompt::Auto,
            Prompt::None,
            Prompt::Login,
            Prompt::Consent,
            Prompt::LoginAndConsent,
        ] {
            let back: Row =
                serde_json::from_value(serde_json::to_value(Row { prompt: p }).unwrap()).unwrap();
            assert_eq!(back.prompt, p);
        }
        let old: Row = serde_json::from_str(
            r#"{"prompt_none":true,"prompt_login":false,"prompt_consent":false}"#,
        )
        .unwrap();
        assert_eq!(old.prompt, Prompt::None);
    }
}
