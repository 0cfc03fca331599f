//! The console's admission (docs/admin.md, "The console"): the console at
//! `/admin` is a client of this very latchkey. It signs people in with the
//! authorization code flow and PKCE (RFC 6749 §4.1, RFC 7636) like any
//! other client, so every rule of the login page applies to it unchanged
//! (sign-in limits, disabled users, a second factor when one is required),
//! then redeems the code in-process through the `authorization_code` grant
//! and admits the token's user by the same check as the admin API
//! ([`super::authenticate`]): a token with `latchkey:admin` for
//! `<issuer>/admin`, which `tokens` only mints for a user with the role
//! `admin`.
//!
//! What the admission leaves in the browser is a *ticket*: a MAC under the
//! server key over the user, the browser session it was granted in and an
//! expiry, in a cookie of the console's own (`Path=/admin`). Nothing is
//! stored. On every request the ticket must match the browser's live
//! session (so signing out anywhere, or an administrator revoking the
//! user's sessions, closes the console too), and the user is read again:
//! a user disabled or stripped of the role `admin` is refused at the next
//! click, not when some token expires.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Actor, admin_audience, authenticate};
use crate::core::Authority;
use crate::core::clients::{
    Client, ClientId, ClientPolicy, ClientStore, GrantType, NewClient, TokenDelivery,
};
use crate::core::clock::UnixTime;
use crate::core::codes::{CodeStore, s256_challenge};
use crate::core::deny_list::DenyListStore;
use crate::core::discovery::paths;
use crate::core::error::{Error, Result};
use crate::core::grants::authorization_code;
use crate::core::scope::{self, Scope};
use crate::core::secret::{self, Secret};
use crate::core::sessions::{Session, SessionStore};
use crate::core::settings::{MfaPolicy, Settings};
use crate::core::users::{ADMIN_ROLE, UserId, UserStore};

/// The console's own client, registered by latchkey itself.
pub const CONSOLE_CLIENT_ID: &str = "latchkey-admin-console";

/// The path the authorization server sends the browser back to.
pub const CALLBACK_PATH: &str = "/admin/callback";

/// How long an admission lasts at most (the browser session may end it
/// sooner): a working day.
pub const TICKET_TTL_SECONDS: i64 = 8 * 3600;

/// How long a started sign-in may take (the `state` cookie's life).
pub const STATE_TTL_SECONDS: i64 = 600;

const TICKET_PURPOSE: &str = "admin-console-ticket";
const PKCE_PURPOSE: &str = "admin-console-pkce";

/// `<issuer>/admin/callback`: the console client's one redirect URI.
pub fn callback_uri(settings: &Settings) -> String {
    format!("{}{CALLBACK_PATH}", settings.issuer.trim_end_matches('/'))
}

/// The console client as it must be: public (its code is redeemed
/// in-process, so there is no secret to keep), first-party (no consent
/// page between an administrator and their own console), PKCE, one
/// redirect URI, the admin scope and audience.
fn console_client(settings: &Settings, now: UnixTime) -> Result<Client> {
    let (mut client, _) = NewClient {
        name: "latchkey admin console".into(),
        public: true,
        first_party: true,
        redirect_uris: vec![callback_uri(settings)],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: Some(Scope::parse(&format!("openid {}", scope::ADMIN))?),
        audiences: vec![admin_audience(settings)],
        token_delivery: TokenDelivery::Body,
        allowed_origins: Vec::new(),
        policy: ClientPolicy::default(),
        backchannel_logout_uri: None,
    }
    .build(now)?;
    client.id = ClientId::new(CONSOLE_CLIENT_ID);
    Ok(client)
}

/// Registers the console client, or puts it back as it must be (an
/// administrator may have changed or deleted it, or the issuer moved).
/// Idempotent; two processes racing both end with the same row.
pub async fn ensure_client<S: ClientStore>(auth: &Authority<S>) -> Result<()> {
    let wanted = console_client(&auth.settings, auth.clock.now())?;
    match auth.store.get_client(&wanted.id).await? {
        Some(c)
            if c.redirect_uris == wanted.redirect_uris
                && c.audiences == wanted.audiences
                && c.scopes == wanted.scopes
                && c.grant_types == wanted.grant_types
                && c.first_party
                && c.is_public()
                && !c.policy.require_dpop
                && !c.policy.require_par =>
        {
            Ok(())
        }
        Some(c) => {
            let fixed = Client {
                created_at: c.created_at,
                ..wanted
            };
            auth.store.update_client(&fixed).await?;
            auth.clients.forget(&fixed.id);
            Ok(())
        }
        None => match auth.store.insert_client(&wanted).await {
            Ok(()) => Ok(()),
            // Another process registered it meanwhile.
            Err(e) => match auth.store.get_client(&wanted.id).await? {
                Some(_) => Ok(()),
                None => Err(e),
            },
        },
    }
}

/// A sign-in on its way: the `state` to keep in the browser, and where to
/// send the browser.
#[derive(Debug)]
pub struct SignInStart {
    pub state: Secret,
    /// The authorization request, a path on this server.
    pub authorize_path: String,
}

/// The PKCE verifier of a sign-in, derived from its `state` so that only
/// the `state` needs keeping (RFC 7636 §4.1: 43 characters of base64url).
fn verifier(auth_key: &secret::ServerKey, state: &str) -> String {
    auth_key.mac_token(PKCE_PURPOSE, state.as_bytes())
}

/// Starts a sign-in: makes sure the console client exists, and builds its
/// authorization request (code, PKCE S256, `state`, the admin audience).
pub async fn begin<S: ClientStore>(auth: &Authority<S>) -> Result<SignInStart> {
    ensure_client(auth).await?;
    let state = secret::random_token()?;
    let challenge = s256_challenge(&verifier(&auth.server_key, &state));
    let scope = format!("openid {}", scope::ADMIN);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CONSOLE_CLIENT_ID)
        .append_pair("redirect_uri", &callback_uri(&auth.settings))
        .append_pair("scope", &scope)
        .append_pair("resource", &admin_audience(&auth.settings))
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    Ok(SignInStart {
        state: Secret::new(state),
        authorize_path: format!("{}?{query}", paths::AUTHORIZE),
    })
}

/// What the callback comes to.
#[derive(Debug)]
pub enum Admission {
    /// An administrator: the ticket for the console's cookie, and its
    /// lifetime in seconds.
    Admitted { ticket: Secret, max_age: i64 },
    /// Signed in, but not an administrator (or without the second factor
    /// the `mfa` setting requires).
    Refused,
    /// The callback does not belong to a sign-in this browser started, the
    /// code is bad or used, or the browser has no session: start again.
    Restart,
}

/// The callback's parameters (RFC 6749 §4.1.2).
#[derive(Debug, Default)]
pub struct Callback<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    /// An error the authorization server redirected with.
    pub error: Option<&'a str>,
}

/// Finishes a sign-in: the `state` must be the one this browser's cookie
/// holds (RFC 6749 §10.12, compared in constant time), the code is
/// redeemed in-process with its PKCE verifier, and the token it yields is
/// checked as the admin API checks tokens.
pub async fn finish<S>(
    auth: &Authority<S>,
    kept_state: Option<&str>,
    callback: Callback<'_>,
    session: Option<&Session>,
) -> Result<Admission>
where
    S: ClientStore + CodeStore + UserStore + SessionStore + DenyListStore,
{
    let (Some(kept), Some(state)) = (kept_state, callback.state) else {
        return Ok(Admission::Restart);
    };
    if !secret::constant_time_eq(kept, state) {
        return Ok(Admission::Restart);
    }
    // The authorization server said no (RFC 6749 §4.1.2.1): starting
    // again would only loop.
    if callback.error.is_some() {
        return Ok(Admission::Refused);
    }
    let (Some(code), Some(session)) = (callback.code, session) else {
        return Ok(Admission::Restart);
    };
    let Some(client) = auth
        .store
        .get_client(&ClientId::new(CONSOLE_CLIENT_ID))
        .await?
    else {
        return Ok(Admission::Restart);
    };
    let tokens = match authorization_code::issue(
        auth,
        &client,
        &Secret::new(code),
        Some(&callback_uri(&auth.settings)),
        Some(&verifier(&auth.server_key, state)),
        &[],
        None,
    )
    .await
    {
        Ok(t) => t,
        Err(Error::InvalidGrant(_)) => return Ok(Admission::Restart),
        Err(e) => return Err(e),
    };
    let user_id = match authenticate(auth, Some(&tokens.access_token)).await {
        Ok(Actor::User(id)) => id,
        Ok(_) | Err(Error::InsufficientScope(_)) => return Ok(Admission::Refused),
        Err(Error::InvalidToken(_)) => return Ok(Admission::Restart),
        Err(e) => return Err(e),
    };
    // The code was issued in this browser's session, to its user.
    if user_id != session.user_id {
        return Ok(Admission::Restart);
    }
    if !second_factor_satisfied(&auth.settings, session) {
        return Ok(Admission::Refused);
    }
    let now = auth.clock.now();
    let expires_at = (now + TICKET_TTL_SECONDS).min(session.expires_at);
    Ok(Admission::Admitted {
        ticket: Secret::new(ticket(&auth.server_key, &user_id, session, expires_at)),
        max_age: expires_at - now,
    })
}

/// When `mfa` is `required`, the console admits only a session that proved
/// a second factor (docs/admin.md): a session signed in with one factor
/// before the setting changed must sign in again.
pub fn second_factor_satisfied(settings: &Settings, session: &Session) -> bool {
    settings.mfa != MfaPolicy::Required || session.amr.is_multi_factor()
}

/// `<user id, base64url>.<expires at>.<MAC>`.
fn ticket(
    key: &secret::ServerKey,
    user: &UserId,
    session: &Session,
    expires_at: UnixTime,
) -> String {
    let mac = ticket_mac(key, user.as_str(), session, expires_at);
    format!(
        "{}.{expires_at}.{mac}",
        URL_SAFE_NO_PAD.encode(user.as_str())
    )
}

fn ticket_mac(
    key: &secret::ServerKey,
    user: &str,
    session: &Session,
    expires_at: UnixTime,
) -> String {
    key.mac_token(
        TICKET_PURPOSE,
        format!("{user}\n{expires_at}\n{}", session.id_hash.as_str()).as_bytes(),
    )
}

/// The user a ticket names, if it is this session's, unexpired and
/// authentic.
fn read_ticket(
    key: &secret::ServerKey,
    ticket: &str,
    session: &Session,
    now: UnixTime,
) -> Option<UserId> {
    let mut parts = ticket.splitn(3, '.');
    let user = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
    let expires_at: UnixTime = parts.next()?.parse().ok()?;
    let mac = parts.next()?;
    let good = secret::constant_time_eq(&ticket_mac(key, &user, session, expires_at), mac);
    (good && now < expires_at && user == session.user_id.as_str()).then(|| UserId::new(user))
}

/// An administrator at the console.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub actor: Actor,
    pub email: String,
}

/// Whether a request may use the console.
#[derive(Debug)]
pub enum Access {
    Admitted(ConsoleUser),
    /// No admission, or one that no longer holds (expired, another
    /// session): sign in through the authorization server.
    SignIn,
    /// Signed in as a user who is not an administrator (any more).
    Refused,
}

/// Checks a request's ticket against its browser session and the user as
/// stored now.
pub async fn access<S: UserStore>(
    auth: &Authority<S>,
    ticket: Option<&str>,
    session: Option<&Session>,
) -> Result<Access> {
    let (Some(ticket), Some(session)) = (ticket, session) else {
        return Ok(Access::SignIn);
    };
    let Some(user_id) = read_ticket(&auth.server_key, ticket, session, auth.clock.now()) else {
        return Ok(Access::SignIn);
    };
    let Some(user) = auth.store.get_user(&user_id).await?.filter(|u| !u.disabled) else {
        return Ok(Access::SignIn);
    };
    if !user.roles.iter().any(|r| r == ADMIN_ROLE)
        || !second_factor_satisfied(&auth.settings, session)
    {
        return Ok(Access::Refused);
    }
    Ok(Access::Admitted(ConsoleUser {
        actor: Actor::User(user.id),
        email: user.email,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::core::mfa::Amr;
    use crate::core::secret::{SecretHash, ServerKey};

    fn session(user: &str, id: &str) -> Session {
        Session {
            id_hash: SecretHash::of(id),
            user_id: UserId::new(user),
            auth_time: 0,
            created_at: 0,
            idle_expires_at: 10_000,
            expires_at: 10_000,
            amr: Amr::password(),
        }
    }

    #[test]
    fn mfa_required_admits_only_a_two_factor_session() {
        let mut settings = Settings::default();
        let mut s = session("u-1", "s1");
        assert!(second_factor_satisfied(&settings, &s));
        settings.mfa = MfaPolicy::Required;
        assert!(!second_factor_satisfied(&settings, &s));
        s.amr = Amr::password().with_second([crate::core::mfa::Method::Otp]);
        assert!(second_factor_satisfied(&settings, &s));
    }

    #[test]
    fn a_ticket_holds_for_its_session_user_and_time_only() {
        let key = ServerKey::from_secret("k");
        let s = session("u-1", "s1");
        let t = ticket(&key, &UserId::new("u-1"), &s, 100);
        assert_eq!(read_ticket(&key, &t, &s, 99), Some(UserId::new("u-1")));
        assert_eq!(read_ticket(&key, &t, &s, 100), None, "expired");
        assert_eq!(read_ticket(&key, &t, &session("u-1", "s2"), 1), None);
        assert_eq!(read_ticket(&key, &t, &session("u-2", "s1"), 1), None);
        assert_eq!(
            read_ticket(&ServerKey::from_secret("other"), &t, &s, 1),
            None
        );
        let forged = t.replacen(".100.", ".900.", 1);
        assert_eq!(read_ticket(&key, &forged, &s, 1), None);
        for junk in ["", ".", "..", "a.b.c", "!!.1.x"] {
            assert_eq!(read_ticket(&key, junk, &s, 1), None);
        }
    }

    #[test]
    fn the_verifier_is_a_pkce_verifier() {
        let v = verifier(&ServerKey::from_secret("k"), "state");
        assert_eq!(v.len(), 43);
        assert!(crate::core::codes::pkce_matches(&v, &s256_challenge(&v)));
    }
}
