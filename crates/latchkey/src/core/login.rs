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
//!
//! A user with a second factor (docs/mfa.md) gets no session from the
//! password: it starts a challenge bound to the browser, and `/login/mfa`
//! ([`second_factor`]) makes the session once the second factor is proved
//! ([`finish_challenge`], which passkeys call too).

use std::net::IpAddr;

use super::Authority;
use super::authorize::AuthorizeStores;
use super::authorize::{self, AuthorizeOutcome};
use super::discovery::paths;
use super::error::{Error, Result};
use super::mfa::challenge::{self, NewChallenge, Proof};
use super::mfa::{
    self, Amr, Challenge, ChallengeContext, ChallengeKind, Method, MfaStore, Requirement,
    SecondFactors,
};
use super::secret::Secret;
use super::sessions;
use super::sessions::{Session, SessionStore};
use super::settings::MfaPolicy;
use super::signin;
use super::signin::PasswordStores;
use super::users::{User, UserId};

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
    /// The password was right and the user has a second factor: the
    /// browser goes to `/login/mfa` for this challenge.
    SecondFactor { challenge: Secret },
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
    /// `mfa = "required"` and the user has no second factor: to the
    /// enrolment page (outside an authorization request; inside one,
    /// `AuthorizeOutcome::EnrollmentRequired` says so).
    Enrol,
}

/// The pages a login may return to (`return_to`): paths of this server
/// only, never an absolute URL (no open redirect). `/device` and
/// `/account` send a browser without a session here and want it back.
pub const RETURN_PATHS: &[&str] = &[
    paths::DEVICE_PAGE,
    paths::ACCOUNT_PAGE,
    paths::ACCOUNT_PASSKEYS,
    paths::ACCOUNT_TOTP,
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
pub async fn complete<S: AuthorizeStores + PasswordStores + SessionStore + MfaStore>(
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
    let factors = auth.store.second_factors(&user.id).await?;
    let context = ChallengeContext::Login {
        request_id: attempt.request_id.to_owned(),
        return_to: return_to(attempt.return_to).map(str::to_owned),
    };
    let enrol = match mfa::after_password(&factors, auth.settings.mfa == MfaPolicy::Required) {
        Requirement::SecondFactor => {
            let challenge = challenge::start(
                auth,
                NewChallenge {
                    user,
                    kind: ChallengeKind::Browser,
                    bound_to: browser.to_owned(),
                    amr: Amr::password(),
                    auth_time: auth.clock.now(),
                    context,
                },
            )
            .await?;
            return Ok(LoginOutcome::SecondFactor { challenge });
        }
        Requirement::Enrol => true,
        Requirement::None => false,
    };
    let (id, session) = replace_session(auth, previous, &user.id, Amr::password()).await?;
    let next = continue_with(auth, browser, &session, &context, enrol).await?;
    Ok(LoginOutcome::SignedIn { session: id, next })
}

/// Replaces the browser's session (`previous`, whatever it named) with a
/// new one for `user_id` signed in by `amr` (session fixation: a new id on
/// every login).
pub async fn replace_session<S: SessionStore>(
    auth: &Authority<S>,
    previous: Option<&str>,
    user_id: &UserId,
    amr: Amr,
) -> Result<(Secret, Session)> {
    sessions::end(auth, previous).await?;
    let (id, session) = sessions::start(&auth.settings, user_id, auth.clock.now(), amr)?;
    auth.store.insert_session(&session).await?;
    Ok((id, session))
}

/// Where a browser signed in as `session` goes: on with the pending
/// request of `context`, or back where it came from; to enrolment first
/// when `enrol` and there is no request (a request decides that itself).
async fn continue_with<S: AuthorizeStores>(
    auth: &Authority<S>,
    browser: &str,
    session: &Session,
    context: &ChallengeContext,
    enrol: bool,
) -> Result<AfterLogin> {
    let (request_id, back) = match context {
        ChallengeContext::Login {
            request_id,
            return_to,
        } => (request_id.as_str(), return_to.as_deref()),
        ChallengeContext::Signin { .. } => ("", None),
    };
    if !request_id.is_empty() {
        return Ok(
            match authorize::resume(auth, request_id, browser, session).await? {
                Some(outcome) => AfterLogin::Authorize(outcome),
                None => AfterLogin::Expired,
            },
        );
    }
    Ok(match (enrol, return_to(back)) {
        (true, _) => AfterLogin::Enrol,
        (false, Some(back)) => AfterLogin::ReturnTo(back.to_owned()),
        (false, None) => AfterLogin::Done,
    })
}

/// What the second-step page shows.
#[derive(Debug)]
pub enum MfaPrompt {
    /// The form: the client that asked (if any) and what the user can use.
    Form {
        client_name: Option<String>,
        factors: SecondFactors,
    },
    /// The challenge is unknown, expired, used, or another browser's.
    Expired,
}

/// A submitted second-step form.
#[derive(Debug)]
pub struct MfaAttempt<'a> {
    pub challenge_id: &'a str,
    pub proof: Proof,
    /// For the sign-in limits and the audit trail.
    pub client_addr: Option<IpAddr>,
}

/// What a submitted second-step form leads to.
#[derive(Debug)]
pub enum MfaOutcome {
    /// A wrong, used or replayed code: the form again.
    Refused {
        client_name: Option<String>,
        factors: SecondFactors,
    },
    /// The challenge is gone: nothing was checked.
    Expired,
    /// Signed in with two factors.
    SignedIn { session: Secret, next: AfterLogin },
}

/// The live challenge `challenge_id` of this browser, with its user (if
/// still enabled) and the name of the client its request is for.
pub(crate) async fn load_challenge<S: AuthorizeStores + MfaStore>(
    auth: &Authority<S>,
    challenge_id: &str,
    browser: Option<&str>,
) -> Result<Option<(Challenge, User, Option<String>)>> {
    let Some(ch) = challenge::load(auth, challenge_id, ChallengeKind::Browser, browser).await?
    else {
        return Ok(None);
    };
    let Some(user) = auth
        .store
        .get_user(&ch.user_id)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Ok(None);
    };
    let client_name = match (&ch.context, browser) {
        (ChallengeContext::Login { request_id, .. }, Some(b)) if !request_id.is_empty() => {
            match authorize::load_pending(auth, request_id, Some(b)).await? {
                Some(request) => authorize::client_for(auth, &request)
                    .await?
                    .map(|c| c.name.clone()),
                None => None,
            }
        }
        _ => None,
    };
    Ok(Some((ch, user, client_name)))
}

/// What `/login/mfa` shows for `challenge_id` to the browser `browser`.
pub async fn second_factor_prompt<S: AuthorizeStores + MfaStore>(
    auth: &Authority<S>,
    challenge_id: &str,
    browser: Option<&str>,
) -> Result<MfaPrompt> {
    let Some((_, user, client_name)) = load_challenge(auth, challenge_id, browser).await? else {
        return Ok(MfaPrompt::Expired);
    };
    Ok(MfaPrompt::Form {
        client_name,
        factors: auth.store.second_factors(&user.id).await?,
    })
}

/// Checks a submitted second-step form from `browser` (whose CSRF token
/// the caller has checked): a TOTP or recovery code, under the sign-in
/// limits. On success the challenge is taken and the browser signed in.
pub async fn second_factor<S: AuthorizeStores + PasswordStores + SessionStore + MfaStore>(
    auth: &Authority<S>,
    browser: &str,
    previous: Option<&str>,
    attempt: MfaAttempt<'_>,
) -> Result<MfaOutcome> {
    let Some((ch, user, client_name)) =
        load_challenge(auth, attempt.challenge_id, Some(browser)).await?
    else {
        return Ok(MfaOutcome::Expired);
    };
    let method =
        challenge::check_code(auth, &user, attempt.proof, attempt.client_addr, None).await?;
    let Some(method) = method else {
        return Ok(MfaOutcome::Refused {
            client_name,
            factors: auth.store.second_factors(&user.id).await?,
        });
    };
    Ok(
        match finish_challenge(
            auth,
            browser,
            previous,
            attempt.challenge_id,
            &ch,
            &[method],
        )
        .await?
        {
            Some((session, next)) => MfaOutcome::SignedIn { session, next },
            None => MfaOutcome::Expired,
        },
    )
}

/// Finishes the browser challenge `challenge_id` (loaded as `ch`, for this
/// browser) whose second factor was proved by `methods` (`otp`; a passkey's
/// `hwk`/`swk` and `user`): takes it, once, and replaces the browser's
/// session with one signed in by both factors. `None`: it was taken by a
/// concurrent request, or expired meanwhile.
pub async fn finish_challenge<S: AuthorizeStores + SessionStore + MfaStore>(
    auth: &Authority<S>,
    browser: &str,
    previous: Option<&str>,
    challenge_id: &str,
    ch: &Challenge,
    methods: &[Method],
) -> Result<Option<(Secret, AfterLogin)>> {
    if ch.kind != ChallengeKind::Browser || !challenge::take(auth, challenge_id).await? {
        return Ok(None);
    }
    let amr = ch.amr.with_second(methods.iter().copied());
    let (id, session) = replace_session(auth, previous, &ch.user_id, amr).await?;
    let next = continue_with(auth, browser, &session, &ch.context, false).await?;
    Ok(Some((id, next)))
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
