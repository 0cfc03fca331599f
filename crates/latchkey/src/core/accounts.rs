//! Accounts (docs/accounts.md): what people do to their own account —
//! register, verify their address, reset or change their password, see and
//! end their sessions, apps and consents — and what an operator does to a
//! user (`latchkey user …`, the admin API): list, show, set a password,
//! enable, disable, verify, revoke sessions, delete.
//!
//! Each operation is one function with typed input and output that every
//! surface calls (pages, JSON endpoints, CLI, admin API), so they cannot
//! disagree. Above `users`, `sessions`, `refresh`, `consent` and `outbox`,
//! whose stores it drives.
//!
//! No answer tells whether an address has an account: registering a known
//! address answers as a new one (and e-mails the address instead), asking
//! for a reset answers the same for any address, and each of these hashes
//! a password or writes the same rows either way so that the time does not
//! tell either. E-mails go through the outbox (`core::mail`): the answer
//! never waits for the mail server.

use std::future::Future;
use std::net::IpAddr;

use super::Authority;
use super::clients::{self, ClientCredentials, ClientId, ClientStore, GrantType};
use super::clock::UnixTime;
use super::consent::ConsentStore;
use super::device::DeviceStore;
use super::error::{Error, Result};
use super::mail;
use super::outbox::{NewMessage, OutboxStore};
use super::params::Params;
use super::password::PasswordHasher;
use super::password_rules;
use super::ratelimit::{AttemptCounterStore, SigninLimiter};
use super::refresh::RefreshTokenStore;
use super::scope::Scope;
use super::secret::{self, Secret, SecretHash};
use super::session_end;
use super::sessions::{Session, SessionStore};
use super::settings::{Registration as RegistrationSetting, Settings};
use super::signin::{self, PasswordStores};
use super::users::{NewUser, User, UserId, UserStore};

pub use super::session_end::Revoked;

/// How long a verification link works.
pub const VERIFY_EMAIL_TTL_SECONDS: i64 = 24 * 3600;
/// How long a password-reset link works.
pub const RESET_PASSWORD_TTL_SECONDS: i64 = 30 * 60;

/// What an e-mailed token is for. A token of one purpose is never accepted
/// for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    /// The stored spelling (the one place it is spelled).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }

    pub fn lifetime(self) -> i64 {
        match self {
            TokenPurpose::VerifyEmail => VERIFY_EMAIL_TTL_SECONDS,
            TokenPurpose::ResetPassword => RESET_PASSWORD_TTL_SECONDS,
        }
    }
}

/// An e-mailed token as stored: its hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub hash: SecretHash,
    pub purpose: TokenPurpose,
    pub user_id: UserId,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl AccountToken {
    /// A fresh token (256 bits from the OS's CSPRNG) and its row.
    pub fn issue(purpose: TokenPurpose, user_id: &UserId, now: UnixTime) -> Result<(Secret, Self)> {
        let token = Secret::new(secret::random_token()?);
        let row = AccountToken {
            hash: SecretHash::of(token.expose()),
            purpose,
            user_id: user_id.clone(),
            created_at: now,
            expires_at: now + purpose.lifetime(),
        };
        Ok((token, row))
    }
}

/// A browser session as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionItem {
    /// What the sign-out button posts: the SHA-256 of the session id (its
    /// stored key, which does not give the id back).
    pub handle: String,
    pub created_at: UnixTime,
    /// When it was last used, to the minute (the idle expiry is pushed at
    /// most once a minute).
    pub last_used_at: UnixTime,
    /// The session this page was loaded with.
    pub current: bool,
}

/// A signed-in app: a live refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInApp {
    pub family_id: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub created_at: UnixTime,
    /// When its newest refresh token was issued (a sign-in or a refresh).
    pub last_used_at: UnixTime,
}

/// An app the user consented to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentedApp {
    pub client_id: ClientId,
    pub client_name: String,
    pub scope: Scope,
    pub granted_at: UnixTime,
}

/// Storage of what accounts add: e-mailed tokens, and the per-user views
/// and removals of the account page.
///
/// Contracts (checked by `tests/it/accounts_store.rs` on both backends):
/// - `register_user` stores the user, its token and its e-mail together or
///   none of them;
/// - `take_account_token` yields a token's user at most once, only before
///   its expiry and only for its purpose;
/// - the per-user removals touch only rows of that user.
pub trait AccountStore: Send + Sync {
    /// In one transaction: inserts the user, its token (if any) and the
    /// e-mail. `Ok(false)` (nothing stored) when the address is taken.
    fn register_user(
        &self,
        user: &User,
        token: Option<&AccountToken>,
        mail: &NewMessage,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a token and the e-mail that carries it, in one transaction.
    fn issue_account_token(
        &self,
        token: &AccountToken,
        mail: &NewMessage,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Marks the token used if it is unused, unexpired at `now` and of
    /// `purpose`; returns its user when it did.
    fn take_account_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<UserId>>> + Send;

    /// Deletes tokens that expired before `before`; returns how many.
    fn purge_account_tokens(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;

    /// The user's live refresh-token families with their clients' names,
    /// most recently used first.
    fn list_user_apps(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<SignedInApp>>> + Send;

    /// Revokes the user's live families of one client; returns how many.
    fn revoke_user_client_families(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// The user's consents with their clients' names.
    fn list_user_consents(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<ConsentedApp>>> + Send;

    /// Forgets the user's consent to one client; returns whether there was one.
    fn delete_consent(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// The stores self-service uses between them.
pub trait AccountStores:
    AccountStore
    + PasswordStores
    + SessionStore
    + RefreshTokenStore
    + DeviceStore
    + ConsentStore
    + ClientStore
    + OutboxStore
    + AttemptCounterStore
{
}

impl<T> AccountStores for T where
    T: AccountStore
        + PasswordStores
        + SessionStore
        + RefreshTokenStore
        + DeviceStore
        + ConsentStore
        + ClientStore
        + OutboxStore
        + AttemptCounterStore
{
}

// ---------------------------------------------------------------------------
// Self-service.

/// A registration, from `/register` or `POST /v1/signup`.
pub struct Registration<'a> {
    pub email: &'a str,
    pub password: &'a Secret,
    pub name: Option<&'a str>,
    pub client_addr: Option<IpAddr>,
}

/// The answer to a registration: the same shape whether the address was
/// new or known. `id` is the new user's, or for a known address a fresh id
/// that names nobody (the known user's id would give the address away to
/// whoever registers it twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub id: UserId,
    pub email: String,
    pub email_verified: bool,
}

/// Whether registration is open; `not_found` (the endpoints and pages are
/// not there) while it is closed.
pub fn require_open(settings: &Settings) -> Result<()> {
    match settings.registration {
        RegistrationSetting::Open => Ok(()),
        RegistrationSetting::Closed => Err(Error::NotFound("registration is closed".into())),
    }
}

/// Whether the login page links to `/register`.
pub fn registration_open(settings: &Settings) -> bool {
    settings.registration == RegistrationSetting::Open
}

/// What the `/register` form leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// Registered (or the known address was e-mailed: the same answer).
    Done(Registered),
    /// The password breaks a rule: the form again, naming it.
    Broken(password_rules::Broken),
    /// Not an e-mail address: the form again.
    InvalidEmail,
}

/// [`register`] for the page: a broken rule or a malformed address is an
/// outcome to show on the form, not an error.
pub async fn register_form<S: AccountStores>(
    auth: &Authority<S>,
    reg: Registration<'_>,
) -> Result<RegisterOutcome> {
    require_open(&auth.settings)?;
    if let Some(rule) = password_rules::broken(&auth.settings, reg.password.expose()) {
        return Ok(RegisterOutcome::Broken(rule));
    }
    match register(auth, reg).await {
        Ok(r) => Ok(RegisterOutcome::Done(r)),
        Err(Error::InvalidRequest(_)) => Ok(RegisterOutcome::InvalidEmail),
        Err(e) => Err(e),
    }
}

/// Registers a user (docs/accounts.md): checks the address and the password
/// rules, hashes the password, and either creates the user and e-mails the
/// verification link, or, for an address that has an account, e-mails that
/// address "you already have an account". Both answer the same.
pub async fn register<S: AccountStores>(
    auth: &Authority<S>,
    reg: Registration<'_>,
) -> Result<Registered> {
    require_open(&auth.settings)?;
    charge_address(auth, reg.client_addr).await?;
    password_rules::check(&auth.settings, reg.password)?;
    let new = NewUser {
        email: reg.email.to_owned(),
        name: reg.name.map(str::to_owned),
        roles: Vec::new(),
        unverified: true,
    };
    // The address is checked before the (slow) hash: a malformed one costs
    // nothing and tells nothing.
    let mut user = new.build(String::new(), auth.now())?;
    // Hashed in both cases, so that a known address takes as long as a new one.
    user.password_hash = auth.passwords.hash(reg.password).await?;
    let now = auth.now();
    let answer = |id: UserId, email: &str| Registered {
        id,
        email: email.to_owned(),
        email_verified: false,
    };
    if let Some(existing) = auth.store.find_user_by_email(&user.email).await? {
        already_registered(auth, &existing, now).await?;
        return Ok(answer(
            UserId::new(uuid::Uuid::new_v4().to_string()),
            &user.email,
        ));
    }
    let (token, row) = AccountToken::issue(TokenPurpose::VerifyEmail, &user.id, now)?;
    let email = mail::verification(&auth.settings, &user.id, &user.email, token.expose());
    let message = email.into_message(now)?;
    if auth
        .store
        .register_user(&user, Some(&row), &message)
        .await?
    {
        auth.outbox.wake();
        tracing::info!(user_id = %user.id, "user registered");
        Ok(answer(user.id, &user.email))
    } else {
        // Registered by a concurrent request since the lookup.
        match auth.store.find_user_by_email(&user.email).await? {
            Some(existing) => already_registered(auth, &existing, now).await?,
            None => return Err(Error::internal("the address was taken, then not")),
        }
        Ok(answer(
            UserId::new(uuid::Uuid::new_v4().to_string()),
            &user.email,
        ))
    }
}

async fn already_registered<S: AccountStores>(
    auth: &Authority<S>,
    existing: &User,
    now: UnixTime,
) -> Result<()> {
    let email = mail::already_registered(&auth.settings, &existing.id, &existing.email);
    auth.store.enqueue(&[email.into_message(now)?]).await?;
    auth.outbox.wake();
    Ok(())
}

/// Follows a verification link: marks the address verified. `false` for a
/// token that is unknown, used, expired or of another purpose (one answer
/// for all).
pub async fn verify_email<S: AccountStores>(
    auth: &Authority<S>,
    token: &str,
    client_addr: Option<IpAddr>,
) -> Result<bool> {
    charge_address(auth, client_addr).await?;
    let Some(user_id) = take_token(auth, token, TokenPurpose::VerifyEmail).await? else {
        return Ok(false);
    };
    let now = auth.now();
    auth.store.set_email_verified(&user_id, true, now).await?;
    tracing::info!(%user_id, "e-mail address verified");
    Ok(true)
}

/// Asks for a password-reset link: a known, enabled address gets one by
/// e-mail (30 minutes, single use); any other gets nothing. The caller
/// answers the same either way.
pub async fn forgot_password<S: AccountStores>(
    auth: &Authority<S>,
    email: &str,
    client_addr: Option<IpAddr>,
) -> Result<()> {
    charge_address(auth, client_addr).await?;
    let email = email.trim();
    if email.is_empty() || email.len() > 254 {
        return Err(Error::invalid_request("email is missing or too long"));
    }
    let now = auth.now();
    match auth.store.find_user_by_email(email).await? {
        Some(user) if !user.disabled => {
            let (token, row) = AccountToken::issue(TokenPurpose::ResetPassword, &user.id, now)?;
            let mail = mail::password_reset(&auth.settings, &user.id, &user.email, token.expose());
            auth.store
                .issue_account_token(&row, &mail.into_message(now)?)
                .await?;
            auth.outbox.wake();
        }
        _ => {
            // The same token generation for an unknown address, so the
            // time spent differs by one insert at most.
            let _ = AccountToken::issue(TokenPurpose::ResetPassword, &UserId::new(""), now)?;
        }
    }
    Ok(())
}

/// What a reset attempt led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The password is set; every session and family of the user ended.
    Done(Revoked),
    /// The link is unknown, used or expired (nothing changed).
    BadToken,
    /// The new password breaks a rule (the link still works).
    Broken(password_rules::Broken),
}

/// Follows a reset link with a new password: checks the rules first (a
/// rejected password leaves the link usable), then takes the token, sets
/// the password, and ends every browser session and refresh-token family of
/// the user. Nobody is signed in.
pub async fn reset_password<S: AccountStores>(
    auth: &Authority<S>,
    token: &str,
    password: &Secret,
    client_addr: Option<IpAddr>,
) -> Result<ResetOutcome> {
    charge_address(auth, client_addr).await?;
    if let Some(rule) = password_rules::broken(&auth.settings, password.expose()) {
        return Ok(ResetOutcome::Broken(rule));
    }
    let hash = auth.passwords.hash(password).await?;
    let Some(user_id) = take_token(auth, token, TokenPurpose::ResetPassword).await? else {
        return Ok(ResetOutcome::BadToken);
    };
    let now = auth.now();
    auth.store.set_password_hash(&user_id, &hash, now).await?;
    // Whoever reads the user's mail could reset: the address is verified.
    auth.store.set_email_verified(&user_id, true, now).await?;
    let revoked = session_end::end_all_for_user(&auth.store, &user_id, None, now).await?;
    tracing::info!(%user_id, families = revoked.refresh_families, sessions = revoked.browser_sessions, "password reset");
    Ok(ResetOutcome::Done(revoked))
}

/// Takes an e-mailed token: `None` for anything that is not a live token of
/// `purpose`.
async fn take_token<S: AccountStores>(
    auth: &Authority<S>,
    token: &str,
    purpose: TokenPurpose,
) -> Result<Option<UserId>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    auth.store
        .take_account_token(&SecretHash::of(token), purpose, auth.now())
        .await
}

/// Counts a request of the account endpoints against the client address,
/// with the sign-in failures (the same counter and limit,
/// `signin_max_failures_per_address`): each registration, reset request and
/// link followed costs one, so one address cannot mail-bomb or guess links.
async fn charge_address<S: AccountStores>(
    auth: &Authority<S>,
    client_addr: Option<IpAddr>,
) -> Result<()> {
    let limiter = SigninLimiter::new(&auth.settings);
    let keys = limiter.keys(&auth.server_key, "", client_addr);
    let Some(key) = keys.address() else {
        return Ok(());
    };
    let now = auth.now();
    let count = auth
        .store
        .charge_attempt(key, now, limiter.window())
        .await?;
    if count.attempts > i64::from(auth.settings.signin_max_failures_per_address) {
        let retry_after = (count.window_start + limiter.window() - now).max(1) as u64;
        return Err(Error::TooManyRequests { retry_after });
    }
    Ok(())
}

/// What changing one's password led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Set; every other session and every family ended.
    Changed(Revoked),
    /// The current password was wrong (counted as a failed sign-in).
    WrongPassword,
    /// The new password breaks a rule.
    Broken(password_rules::Broken),
}

/// `POST /account/password`: checks the current password under the sign-in
/// limits, the new one against the rules, sets it, and ends every other
/// session and every refresh-token family of the user.
pub async fn change_password<S: AccountStores>(
    auth: &Authority<S>,
    session: &Session,
    current: &Secret,
    new: &Secret,
    client_addr: Option<IpAddr>,
) -> Result<ChangeOutcome> {
    let Some(user) = auth.store.get_user(&session.user_id).await? else {
        return Err(Error::InvalidToken("the session's user is gone".into()));
    };
    match signin::check_password(auth, &user.email, current, client_addr, None).await {
        Ok(_) => {}
        Err(Error::InvalidGrant(_)) => return Ok(ChangeOutcome::WrongPassword),
        Err(e) => return Err(e),
    }
    if let Some(rule) = password_rules::broken(&auth.settings, new.expose()) {
        return Ok(ChangeOutcome::Broken(rule));
    }
    let hash = auth.passwords.hash(new).await?;
    let now = auth.now();
    auth.store.set_password_hash(&user.id, &hash, now).await?;
    let revoked =
        session_end::end_all_for_user(&auth.store, &user.id, Some(&session.id_hash), now).await?;
    Ok(ChangeOutcome::Changed(revoked))
}

/// What the account page shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub user: User,
    pub sessions: Vec<SessionItem>,
    pub apps: Vec<SignedInApp>,
    pub consents: Vec<ConsentedApp>,
}

/// The account page's content for the user of `session`.
pub async fn overview<S: AccountStores>(
    auth: &Authority<S>,
    session: &Session,
) -> Result<Overview> {
    let Some(user) = auth.store.get_user(&session.user_id).await? else {
        return Err(Error::InvalidToken("the session's user is gone".into()));
    };
    let now = auth.now();
    let idle = auth.settings.session_idle_ttl_seconds;
    let sessions = auth
        .store
        .list_user_sessions(&user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionItem {
            current: s.id_hash == session.id_hash,
            handle: s.id_hash.as_str().to_owned(),
            created_at: s.created_at,
            last_used_at: (s.idle_expires_at - idle).clamp(s.created_at, now),
        })
        .collect();
    let apps = auth.store.list_user_apps(&user.id, now).await?;
    let consents = auth.store.list_user_consents(&user.id).await?;
    Ok(Overview {
        user,
        sessions,
        apps,
        consents,
    })
}

/// What a sign-out button on the account page names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOutTarget {
    /// A browser session, by its handle ([`SessionItem::handle`]).
    Session(String),
    /// A signed-in app, by its family id.
    App(String),
}

/// Ends one session or one app of the user of `session`. Returns whether
/// the session the request came with was the one ended.
pub async fn sign_out<S: AccountStores>(
    auth: &Authority<S>,
    session: &Session,
    target: &SignOutTarget,
) -> Result<bool> {
    let now = auth.now();
    match target {
        SignOutTarget::Session(handle) => {
            let hash = SecretHash::from_stored(handle.clone());
            session_end::end_one_for_user(&auth.store, &session.user_id, &hash, now).await?;
            Ok(hash == session.id_hash)
        }
        SignOutTarget::App(family_id) => {
            session_end::end_app_for_user(&auth.store, &session.user_id, family_id, now).await?;
            Ok(false)
        }
    }
}

/// Revokes the user's consent to a client, and with it the client's
/// refresh tokens for the user: the app must ask again.
pub async fn revoke_consent<S: AccountStores>(
    auth: &Authority<S>,
    session: &Session,
    client_id: &ClientId,
) -> Result<bool> {
    let removed = auth
        .store
        .delete_consent(&session.user_id, client_id)
        .await?;
    auth.store
        .revoke_user_client_families(&session.user_id, client_id, auth.now())
        .await?;
    Ok(removed)
}

// ---------------------------------------------------------------------------
// The JSON endpoints of first-party apps: the client authenticates as for
// `/v1/signin` and needs the password grant.

async fn first_party_client<S: ClientStore>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
) -> Result<()> {
    let client = clients::authenticate(auth, creds).await?;
    client.require_grant(GrantType::Password)
}

/// `POST /v1/signup` `{"email", "password", "name"?}`.
pub async fn signup<S: AccountStores>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    client_addr: Option<IpAddr>,
) -> Result<Registered> {
    require_open(&auth.settings)?;
    first_party_client(auth, creds).await?;
    let password = Secret::new(params.require("password")?);
    register(
        auth,
        Registration {
            email: params.require("email")?,
            password: &password,
            name: params.get("name"),
            client_addr,
        },
    )
    .await
}

/// `POST /v1/password/forgot` `{"email"}`: the same answer for any address.
pub async fn forgot<S: AccountStores>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    client_addr: Option<IpAddr>,
) -> Result<()> {
    first_party_client(auth, creds).await?;
    forgot_password(auth, params.require("email")?, client_addr).await
}

/// The `invalid_grant` description of a reset token that cannot be used.
pub const BAD_RESET_TOKEN: &str = "the reset token is unknown, used or expired";

/// `POST /v1/password/reset` `{"token", "password"}`.
pub async fn reset<S: AccountStores>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    client_addr: Option<IpAddr>,
) -> Result<()> {
    first_party_client(auth, creds).await?;
    let token = params.require("token")?;
    let password = Secret::new(params.require("password")?);
    match reset_password(auth, token, &password, client_addr).await? {
        ResetOutcome::Done(_) => Ok(()),
        ResetOutcome::BadToken => Err(Error::invalid_grant(BAD_RESET_TOKEN)),
        ResetOutcome::Broken(rule) => Err(Error::invalid_request(password_rules::describe(
            &auth.settings,
            rule,
        ))),
    }
}

// ---------------------------------------------------------------------------
// Operators (CLI, admin API).

/// Every user, oldest first.
pub async fn list_users<S: UserStore>(store: &S) -> Result<Vec<User>> {
    store.list_users().await
}

/// A user by id, or by address when the argument has an `@`.
pub async fn find_user<S: UserStore>(store: &S, id_or_email: &str) -> Result<Option<User>> {
    if id_or_email.contains('@') {
        store.find_user_by_email(id_or_email).await
    } else {
        store.get_user(&UserId::new(id_or_email)).await
    }
}

/// Sets a user's password (checked against the rules), then ends every
/// session and refresh-token family of the user, as a reset does. `None`
/// if there is no such user.
pub async fn set_password<S: UserStore + SessionStore + RefreshTokenStore + DeviceStore>(
    store: &S,
    settings: &Settings,
    passwords: &PasswordHasher,
    id: &UserId,
    password: &Secret,
    now: UnixTime,
) -> Result<Option<Revoked>> {
    password_rules::check(settings, password)?;
    if store.get_user(id).await?.is_none() {
        return Ok(None);
    }
    let hash = passwords.hash(password).await?;
    if !store.set_password_hash(id, &hash, now).await? {
        return Ok(None);
    }
    session_end::end_all_for_user(store, id, None, now)
        .await
        .map(Some)
}

/// Enables a disabled user; returns whether the user exists.
pub async fn enable<S: UserStore>(store: &S, id: &UserId, now: UnixTime) -> Result<bool> {
    store.set_user_disabled(id, false, now).await
}

/// Marks a user's address verified; returns whether the user exists.
pub async fn mark_verified<S: UserStore>(store: &S, id: &UserId, now: UnixTime) -> Result<bool> {
    store.set_email_verified(id, true, now).await
}

/// Deletes a user and every row that names them (docs/accounts.md says
/// which); returns whether the user existed. Audit events keep the user's
/// id, which names nobody once the user row is gone.
pub async fn delete<S: UserStore>(store: &S, id: &UserId) -> Result<bool> {
    store.delete_user(id).await
}

/// Disables a user and revokes everything the user holds: every
/// refresh-token family and browser session. Sign-ins are refused from now
/// on. Returns `None` if there is no such user.
pub async fn disable<
    S: UserStore + RefreshTokenStore + SessionStore + DeviceStore + AccountStore,
>(
    store: &S,
    id: &UserId,
    now: UnixTime,
) -> Result<Option<Revoked>> {
    // Disable first: a sign-in racing with this cannot then start a family
    // that outlives the revocation below.
    if !store.set_user_disabled(id, true, now).await? {
        return Ok(None);
    }
    revoke_sessions(store, id, now).await.map(Some)
}

/// Revokes every refresh-token family of a user, ends every browser session,
/// and denies the device authorizations the user approved that no device has
/// redeemed yet (else a device could still get a fresh family after this);
/// everywhere. The user stays enabled and may sign in again.
pub async fn revoke_sessions<S: RefreshTokenStore + SessionStore + DeviceStore>(
    store: &S,
    id: &UserId,
    now: UnixTime,
) -> Result<Revoked> {
    session_end::end_all_for_user(store, id, None, now).await
}
