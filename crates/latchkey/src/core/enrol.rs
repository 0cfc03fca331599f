//! Enrolling second factors from the account page (docs/mfa.md): a TOTP
//! authenticator at `/account/totp`, its recovery codes, its removal, and
//! what the account page lists; the operator's `user reset-mfa`.
//!
//! Enrolment is two steps. The page makes a secret (sealed, unconfirmed)
//! and shows it as a QR code and as text; the user types the code their
//! app shows, which proves the app holds the secret, and only then does
//! it count as a factor: the enrolment is confirmed with that step
//! accepted, and ten recovery codes are made and shown once. The session
//! that enrolled has just used two factors, so it is replaced by one that
//! says so, and an authorization request that waited for the enrolment
//! (`AuthorizeOutcome::EnrollmentRequired`) continues.

use super::Authority;
use super::audit::{self, AuditEvent};
use super::authorize::{self, AuthorizeOutcome, AuthorizeStores};
use super::error::{Error, Result};
use super::login;
use super::mfa::{Method, MfaStore, SecondFactors, recovery, totp};
use super::secret::Secret;
use super::sessions::{Session, SessionStore};
use super::users::{UserId, UserStore};

/// What `/account/totp` shows.
#[derive(Debug)]
pub enum TotpPage {
    /// Not set up yet: the secret to add to an app.
    Setup {
        /// RFC 4648 base32, as apps take it when typed.
        secret: Secret,
        /// The `otpauth://` URI of the QR code.
        uri: Secret,
    },
    /// Set up: how many recovery codes are left.
    Enrolled { recovery_codes_left: u32 },
}

/// The setup page for the session's user: the unconfirmed secret they were
/// shown before (so that a reload does not invalidate what they scanned),
/// or a new one.
pub async fn totp_page<S: UserStore + MfaStore>(
    auth: &Authority<S>,
    session: &Session,
) -> Result<TotpPage> {
    let user_id = &session.user_id;
    let user = auth
        .store
        .get_user(user_id)
        .await?
        .ok_or_else(|| Error::invalid_request("the user no longer exists"))?;
    let secret = match auth.store.find_totp(user_id).await? {
        Some(t) if t.confirmed => {
            let f = auth.store.second_factors(user_id).await?;
            return Ok(TotpPage::Enrolled {
                recovery_codes_left: f.recovery_codes,
            });
        }
        Some(t) => auth.mfa_keys.open(user_id, &t.sealed)?.secret,
        None => {
            let secret = totp::new_secret()?;
            let sealed = auth.mfa_keys.seal(user_id, &secret)?;
            if !auth
                .store
                .begin_totp(user_id, &sealed, auth.clock.now())
                .await?
            {
                // Confirmed meanwhile (another tab).
                let f = auth.store.second_factors(user_id).await?;
                return Ok(TotpPage::Enrolled {
                    recovery_codes_left: f.recovery_codes,
                });
            }
            secret
        }
    };
    let b32 = totp::base32(&secret);
    Ok(TotpPage::Setup {
        uri: Secret::new(totp::otpauth_uri(
            &auth.settings.brand_name,
            &user.email,
            &b32,
        )),
        secret: Secret::new(b32),
    })
}

/// What confirming an enrolment leads to.
#[derive(Debug)]
pub enum Confirmed {
    /// Enrolled: the recovery codes to show once, and the new session (two
    /// factors): its id for the cookie, and the session itself.
    Enrolled {
        recovery_codes: Vec<Secret>,
        session_id: Secret,
        session: Session,
    },
    /// The code is not the app's (or there is nothing to confirm).
    WrongCode,
    /// Already set up (another tab confirmed first).
    AlreadyEnrolled,
}

/// Confirms the session's unconfirmed TOTP secret with `code`.
pub async fn confirm_totp<S: UserStore + MfaStore + SessionStore>(
    auth: &Authority<S>,
    previous: Option<&str>,
    session: &Session,
    code: &str,
) -> Result<Confirmed> {
    let user_id = &session.user_id;
    let Some(stored) = auth.store.find_totp(user_id).await? else {
        return Ok(Confirmed::WrongCode);
    };
    if stored.confirmed {
        return Ok(Confirmed::AlreadyEnrolled);
    }
    let now = auth.clock.now();
    let opened = auth.mfa_keys.open(user_id, &stored.sealed)?;
    let Some(step) = totp::matching_step(&opened.secret, code, now) else {
        return Ok(Confirmed::WrongCode);
    };
    let codes = recovery::generate()?;
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| recovery::hash(&auth.server_key, c))
        .collect();
    if hashes.len() != codes.len() {
        return Err(Error::internal("a recovery code does not hash"));
    }
    if !auth.store.confirm_totp(user_id, step, &hashes, now).await? {
        return Ok(Confirmed::AlreadyEnrolled);
    }
    record(auth, user_id, "totp enrolled");
    // The user has just proved the app: this browser now has two factors.
    let amr = session.amr.with_second([Method::Otp]);
    let (session_id, session) = login::replace_session(auth, previous, user_id, amr).await?;
    Ok(Confirmed::Enrolled {
        recovery_codes: codes.into_iter().map(Secret::new).collect(),
        session_id,
        session,
    })
}

/// After the recovery codes were shown: continues the authorization
/// request `request_id` that waited for the enrolment (this browser's), if
/// the session now has two factors. `None`: there is none (or it expired).
pub async fn continue_request<S: AuthorizeStores>(
    auth: &Authority<S>,
    request_id: &str,
    browser: &str,
    session: &Session,
) -> Result<Option<AuthorizeOutcome>> {
    if request_id.is_empty() {
        return Ok(None);
    }
    authorize::resume(auth, request_id, browser, session).await
}

/// Removes the session's user's TOTP authenticator and recovery codes.
pub async fn remove_totp<S: MfaStore>(auth: &Authority<S>, session: &Session) -> Result<bool> {
    let removed = auth.store.delete_totp(&session.user_id).await?;
    if removed {
        record(auth, &session.user_id, "totp removed");
    }
    Ok(removed)
}

/// The session's user's second factors, for the account page.
pub async fn factors<S: MfaStore>(auth: &Authority<S>, user_id: &UserId) -> Result<SecondFactors> {
    auth.store.second_factors(user_id).await
}

/// Removes every second factor of a user (`latchkey user reset-mfa`, for
/// someone who lost their device): TOTP, recovery codes, challenges under
/// way (and passkeys, through the store). Their next sign-in is with the
/// password alone, or enrols again under `mfa = "required"`. Returns
/// whether there was anything to remove.
pub async fn reset_mfa<S: MfaStore>(store: &S, user_id: &UserId) -> Result<bool> {
    store.reset_mfa(user_id).await
}

fn record<S>(auth: &Authority<S>, user_id: &UserId, what: &'static str) {
    auth.audit.record(
        AuditEvent::new(
            auth.clock.now(),
            audit::Kind::UserUpdate,
            format!("user:{user_id}"),
            audit::Outcome::Success,
        )
        .user(user_id.as_str())
        .detail(what),
    );
}
