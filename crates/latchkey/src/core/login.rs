//! The login page (step (B) of RFC 6749 §4.1, OIDC Core §3.1.2.3 "the
//! Authorization Server Authenticates the End-User"): what the form shows,
//! and what a submitted form leads to.
//!
//! A login checks the password under the sign-in limits of `/v1/signin`
//! (`signin::check_password`), then replaces whatever session the browser
//! had with a new one: a session id planted before the login (session
//! fixation, OWASP ASVS V3.2.1) never becomes an authenticated one. It then
//! continues the pending authorization request the form was shown for, or
//! returns to the page that sent the browser here (`/device`).

use std::net::IpAddr;

use super::Authority;
use super::authorize::AuthorizeStores;
use super::authorize::{self, AuthorizeOutcome};
use super::discovery::paths;
use super::error::{Error, Result};
use super::secret::Secret;
use super::sessions;
use super::sessions::SessionStore;
use super::signin;
use super::signin::PasswordStores;

/// What the login form shows.
#[derive(Debug)]
pub enum LoginPrompt {
    /// The form, naming the client that asked (for an authorization request)
    /// and pre-filled with its `login_hint`.
    Form {
        client_name: Option<String>,
        login_hint: Option<String>,
    },
    /// The pending request is unknown, expired, used, or another browser's.
    Expired,
}

/// A submitted login form.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    /// The pending authorization request (empty: a login outside one).
    pub request_id: &'a str,
    pub username: &'a str,
    pub password: &'a Secret,
    /// Where to go afterwards outside an authorization request; only a
    /// [`return_to`] path is followed.
    pub return_to: Option<&'a str>,
    /// For the sign-in limits and the audit trail.
    pub client_addr: Option<IpAddr>,
}

/// What a submitted login form leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Wrong username or password (the same answer for both): the form
    /// again, naming the client as before. `unverified`: the password was
    /// right but the address is not verified yet.
    Refused {
        client_name: Option<String>,
        unverified: bool,
    },
    /// The pending request is gone: nothing was checked.
    Expired,
    /// Signed in: `session` is the new session id for the cookie, `next` is
    /// where the browser goes now.
    SignedIn { session: Secret, next: AfterLogin },
}

/// Where a browser goes once signed in.
#[derive(Debug)]
pub enum AfterLogin {
    /// The authorization request continues (consent, or back to the client).
    Authorize(AuthorizeOutcome),
    /// The authorization request was continued by a concurrent submission,
    /// or expired while the password was checked.
    Expired,
    /// Back to the page that sent the browser to sign in.
    ReturnTo(String),
    /// Nowhere: the browser came to `/login` by itself.
    Done,
}

/// The pages a login may return to (`return_to`): paths of this server
/// only, never an absolute URL (no open redirect). `/device` and
/// `/account` send a browser without a session here and want it back.
pub const RETURN_PATHS: &[&str] = &[
    paths::DEVICE_PAGE,
    paths::ACCOUNT_PAGE,
    paths::ACCOUNT_PASSKEYS,
];

/// `return_to` if the login page may send the browser there: one of
/// [`RETURN_PATHS`], with or without a query, and nothing that could split a
/// header or carry a fragment.
pub fn return_to(return_to: Option<&str>) -> Option<&str> {
    return_to.filter(|r| {
        RETURN_PATHS.iter().any(|path| {
            *r == *path
                || r.strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('?') && !rest.contains(['\r', '\n', '#']))
        })
    })
}

/// What the form for `request_id` (empty: none) shows to the browser that
/// sent `browser` (its `latchkey_browser` cookie, if it had one).
pub async fn prompt<S: AuthorizeStores>(
    auth: &Authority<S>,
    request_id: &str,
    browser: Option<&str>,
) -> Result<LoginPrompt> {
    if request_id.is_empty() {
        return Ok(LoginPrompt::Form {
            client_name: None,
            login_hint: None,
        });
    }
    let Some(request) = authorize::load_pending(auth, request_id, browser).await? else {
        return Ok(LoginPrompt::Expired);
    };
    let client = authorize::client_for(auth, &request).await?;
    Ok(LoginPrompt::Form {
        client_name: client.map(|c| c.name.clone()),
        login_hint: request.login_hint,
    })
}

/// Checks a submitted form from the browser `browser` (whose CSRF token
/// the caller has checked), whose session cookie was `previous` (ended on
/// success, whatever it named).
pub async fn complete<S: AuthorizeStores + PasswordStores + SessionStore>(
    auth: &Authority<S>,
    browser: &str,
    previous: Option<&str>,
    attempt: LoginAttempt<'_>,
) -> Result<LoginOutcome> {
    let pending = if attempt.request_id.is_empty() {
        None
    } else {
        match authorize::load_pending(auth, attempt.request_id, Some(browser)).await? {
            Some(p) => Some(p),
            None => return Ok(LoginOutcome::Expired),
        }
    };
    let client_id = pending.as_ref().map(|p| p.client_id.as_str());
    let user = match signin::check_password(
        auth,
        attempt.username,
        attempt.password,
        attempt.client_addr,
        client_id,
    )
    .await
    {
        Ok(user) => user,
        Err(Error::InvalidGrant(why)) => {
            let client = match &pending {
                Some(p) => authorize::client_for(auth, p).await?,
                None => None,
            };
            return Ok(LoginOutcome::Refused {
                client_name: client.map(|c| c.name.clone()),
                unverified: why == signin::UNVERIFIED,
            });
        }
        Err(e) => return Err(e),
    };
    // A new session id on every login (session fixation).
    sessions::end(auth, previous).await?;
    let (id, session) = sessions::start(&auth.settings, &user.id, auth.clock.now())?;
    auth.store.insert_session(&session).await?;

    let next = match pending {
        Some(_) => match authorize::resume(auth, attempt.request_id, browser, &session).await? {
            Some(outcome) => AfterLogin::Authorize(outcome),
            None => AfterLogin::Expired,
        },
        None => match return_to(attempt.return_to) {
            Some(back) => AfterLogin::ReturnTo(back.to_owned()),
            None => AfterLogin::Done,
        },
    };
    Ok(LoginOutcome::SignedIn { session: id, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_only_to_the_listed_pages() {
        assert_eq!(return_to(Some("/device")), Some("/device"));
        assert_eq!(
            return_to(Some("/device?user_code=A")),
            Some("/device?user_code=A")
        );
        for bad in [
            "//evil.example",
            "https://evil.example/device",
            "/devicex",
            "/device/../consent",
            "/device?x\r\nSet-Cookie: a=b",
            "/device?x#frag",
            "",
        ] {
            assert_eq!(return_to(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(return_to(None), None);
    }
}
