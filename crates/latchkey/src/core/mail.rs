//! The e-mails latchkey sends (docs/accounts.md): what they say, and where
//! they go. Composed when the flow commits and stored in the outbox
//! (`core::outbox`, kind [`KIND`]), then sent by the mailer (`crate::mailer`)
//! from the worker of whichever process claims them: the request that
//! caused an e-mail never waits for the mail server, so neither its answer
//! nor its timing depends on it.
//!
//! A verification or reset link is the one secret an outbox row carries:
//! the link *is* the message. Only its hash is stored anywhere else, and
//! with `smtp_url` set it is never logged.

use serde::{Deserialize, Serialize};

use super::clock::UnixTime;
use super::error::{Error, Result};
use super::outbox::{Kind, NewMessage};
use super::settings::Settings;
use super::users::UserId;

/// The outbox kind of e-mails.
pub const KIND: Kind = "email";

/// How long the outbox keeps trying to deliver an e-mail: as long as the
/// longest link in one lives (a verification link, 24 h).
pub const DELIVERY_WINDOW_SECONDS: i64 = 24 * 3600;

/// An e-mail as stored in the outbox.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Whose e-mail this is: deleting the user deletes it too.
    pub user_id: String,
    pub to: String,
    pub subject: String,
    /// Plain text; links on lines of their own.
    pub text: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text may hold a link that is a credential.
        f.debug_struct("Email")
            .field("user_id", &self.user_id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Email {
    /// The outbox row that sends this e-mail.
    pub fn into_message(self, now: UnixTime) -> Result<NewMessage> {
        let payload = serde_json::to_string(&self).map_err(Error::internal)?;
        NewMessage::new(KIND, payload, now, DELIVERY_WINDOW_SECONDS)
    }

    pub fn from_payload(payload: &str) -> std::result::Result<Email, String> {
        serde_json::from_str(payload).map_err(|e| format!("not an e-mail payload: {e}"))
    }
}

/// The e-mails' texts. English only for now (docs/accounts.md).
pub fn verification(settings: &Settings, user: &UserId, to: &str, token: &str) -> Email {
    let link = link(settings, super::discovery::paths::VERIFY_EMAIL_PAGE, token);
    Email {
        user_id: user.to_string(),
        to: to.to_owned(),
        subject: format!("Confirm your e-mail address for {}", settings.brand_name),
        text: format!(
            "Hello,\n\nsomeone (hopefully you) created an account on {brand} with this \
             address. To confirm it, open this link within 24 hours:\n\n{link}\n\n\
             If it was not you, ignore this e-mail: without the link nobody can use \
             the account.\n",
            brand = settings.brand_name
        ),
    }
}

pub fn already_registered(settings: &Settings, user: &UserId, to: &str) -> Email {
    let forgot = settings.url(super::discovery::paths::FORGOT_PASSWORD_PAGE);
    Email {
        user_id: user.to_string(),
        to: to.to_owned(),
        subject: format!("You already have an account on {}", settings.brand_name),
        text: format!(
            "Hello,\n\nsomeone (hopefully you) tried to create an account on {brand} with \
             this address, but it already has one. Sign in with it, or if you forgot \
             its password, set a new one here:\n\n{forgot}\n\n\
             If it was not you, ignore this e-mail: nothing changed.\n",
            brand = settings.brand_name
        ),
    }
}

pub fn password_reset(settings: &Settings, user: &UserId, to: &str, token: &str) -> Email {
    let link = link(
        settings,
        super::discovery::paths::RESET_PASSWORD_PAGE,
        token,
    );
    Email {
        user_id: user.to_string(),
        to: to.to_owned(),
        subject: format!("Set a new password for {}", settings.brand_name),
        text: format!(
            "Hello,\n\nsomeone (hopefully you) asked to set a new password for your \
             account on {brand}. Open this link within 30 minutes to choose one:\n\n\
             {link}\n\nIt works once. Setting a new password signs you out everywhere. \
             If it was not you, ignore this e-mail: your password stays as it is.\n",
            brand = settings.brand_name
        ),
    }
}

fn link(settings: &Settings, path: &str, token: &str) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    format!("{}?{q}", settings.url(path))
}

/// How to reach the mail server, from `smtp_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: no TLS (a relay on the same host or network).
    None,
    /// `smtp+starttls://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte (RFC 8314).
    Wrapper,
}

impl SmtpTarget {
    /// Parses `smtp_url`; the error says what is wrong (never the password).
    pub fn parse(url: &str) -> std::result::Result<SmtpTarget, String> {
        let u = url::Url::parse(url)
            .map_err(|e| format!("is not a URL ({e}); use smtp://host:port"))?;
        let (tls, default_port) = match u.scheme() {
            "smtp" => (SmtpTls::None, 25),
            "smtp+starttls" => (SmtpTls::StartTls, 587),
            "smtps" => (SmtpTls::Wrapper, 465),
            other => {
                return Err(format!(
                    "scheme {other:?} is not smtp, smtp+starttls or smtps"
                ));
            }
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "has a user or password that is not UTF-8".to_owned())
        };
        let credentials = if u.username().is_empty() {
            None
        } else {
            Some((decode(u.username())?, decode(u.password().unwrap_or(""))?))
        };
        Ok(SmtpTarget {
            host,
            port: u.port().unwrap_or(default_port),
            tls,
            credentials,
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

/// Checks `email_from`: a mailbox (`name <addr>` or `addr`) with no line
/// breaks (no header injection).
pub fn check_from(from: &str) -> std::result::Result<(), String> {
    if from.contains(['\r', '\n']) {
        return Err("must not contain line breaks".into());
    }
    from.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| {
            format!("{from:?} is not a mailbox such as \"Example <no-reply@example.com>\": {e}")
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn smtp_urls_parse() {
        let t = SmtpTarget::parse("smtp+starttls://me%40x:p%3Ass@mail.example:2525").unwrap();
        assert_eq!(t.host, "mail.example");
        assert_eq!(t.port, 2525);
        assert_eq!(t.tls, SmtpTls::StartTls);
        assert_eq!(t.credentials, Some(("me@x".into(), "p:ss".into())));
        assert!(!format!("{t:?}").contains("p:ss"));
        let t = SmtpTarget::parse("smtps://mail.example").unwrap();
        assert_eq!((t.port, t.tls), (465, SmtpTls::Wrapper));
        let t = SmtpTarget::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((t.port, t.tls, t.credentials), (2525, SmtpTls::None, None));
        for bad in ["http://x", "smtp://", "mail.example:25", ""] {
            assert!(SmtpTarget::parse(bad).is_err(), "{bad}");
        }
        assert!(check_from("Ex <no-reply@example.com>").is_ok());
        assert!(check_from("no-reply@example.com").is_ok());
        assert!(check_from("x\r\nBcc: a@b").is_err());
        assert!(check_from("nobody").is_err());
    }
}
