//! Passkeys: WebAuthn Level 2 (W3C, "Web Authentication: An API for
//! accessing Public Key Credentials") with discoverable credentials, through
//! `webauthn-rs` (kanidm's relying-party library: audited by SUSE in 2020,
//! maintained, and the one Rust implementation that checks attestation
//! formats, the RP id hash, flags and counters as the specification's
//! §7.1 and §7.2 list them).
//!
//! The relying party is the issuer: its host is the RP id, its origin the
//! only origin accepted. Registration asks for a discoverable credential
//! (a "resident key") so that the login page can sign a user in with no
//! username at all; webauthn-rs's passkey profile requires user
//! verification, so a passkey is always two factors (something held, and
//! the PIN or biometric that unlocked it: RFC 8176 `hwk`/`swk`, `user`,
//! `mfa`).
//!
//! A ceremony's state (the challenge) lives in the database between its
//! start and its finish, bound to the browser that started it and taken
//! once: any process finishes what another started, and a finished
//! ceremony cannot be replayed.
//!
//! Sign counters (WebAuthn §7.2 step 21): an assertion whose counter does
//! not exceed the stored one comes from a clone of the authenticator and is
//! refused (webauthn-rs checks it; the store's conditional `UPDATE` makes
//! the check hold between processes too).

use std::future::Future;

use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::Authority;
use super::authorize::{self, AuthorizeStores};
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::login::{self, AfterLogin, LoginOutcome, MfaOutcome};
use super::mfa::{Amr, Method, MfaStore};
use super::secret::{self, Secret, SecretHash};
use super::sessions::{self, Session, SessionStore};
use super::settings::Settings;
use super::users::{User, UserId, UserStore};

/// How long a browser has between the start of a ceremony and its finish
/// (a person finds their key, types a PIN).
pub const CEREMONY_TTL_SECONDS: i64 = 300;

/// The longest name a passkey may be given.
pub const MAX_NAME_CHARS: usize = 64;

/// What a credential may be, at most, before it is parsed (an attestation
/// with certificates is a few kilobytes; the pages' bodies are limited to
/// 16 KiB before this).
const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// A registered passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// Our handle, for the account page's forms.
    pub id: String,
    pub user_id: UserId,
    /// The WebAuthn credential id, base64url.
    pub credential_id: String,
    /// webauthn-rs's `Passkey`, JSON (public key, counter, flags).
    pub passkey: String,
    pub name: String,
    pub sign_count: i64,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    Register,
    Authenticate,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Authenticate => "authenticate",
        }
    }

    pub fn parse(s: &str) -> Option<CeremonyKind> {
        match s {
            "register" => Some(CeremonyKind::Register),
            "authenticate" => Some(CeremonyKind::Authenticate),
            _ => None,
        }
    }
}

/// A ceremony between its start and its finish, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id_hash: SecretHash,
    /// The SHA-256 of the `latchkey_browser` cookie that started it.
    pub browser_hash: SecretHash,
    pub kind: CeremonyKind,
    /// The user registering; `None` for a sign-in.
    pub user_id: Option<UserId>,
    /// webauthn-rs's state, JSON. Never leaves the server: it holds the
    /// challenge the assertion must sign.
    pub state: String,
    pub expires_at: UnixTime,
}

/// Storage of passkeys and ceremonies.
///
/// Contract: a credential id is registered once, whoever registers it;
/// `take_ceremony` yields a ceremony at most once, and only to the browser
/// that started it; `record_passkey_use` moves a passkey's counter only
/// from the value it was read with, so that of two assertions checked
/// against one counter, one is recorded.
pub trait PasskeyStore: Send + Sync {
    /// Inserts a passkey; `false` if its credential id is registered already.
    fn insert_passkey(&self, p: &StoredPasskey) -> impl Future<Output = Result<bool>> + Send;
    /// The user's passkeys, oldest first.
    fn list_passkeys(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Vec<StoredPasskey>>> + Send;
    fn find_passkey(
        &self,
        credential_id: &str,
    ) -> impl Future<Output = Result<Option<StoredPasskey>>> + Send;
    /// Stores the passkey after a use (`passkey` its new JSON, `sign_count`
    /// its new counter) if its counter is still `previous`; returns whether
    /// it did.
    fn record_passkey_use(
        &self,
        id: &str,
        passkey: &str,
        sign_count: i64,
        previous: i64,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Removes one passkey if it is the user's; returns whether it did.
    fn delete_passkey(
        &self,
        user_id: &UserId,
        id: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Removes every passkey of the user (`user reset-mfa`); returns how
    /// many.
    fn delete_user_passkeys(&self, user_id: &UserId) -> impl Future<Output = Result<u64>> + Send;
    fn insert_ceremony(&self, c: &Ceremony) -> impl Future<Output = Result<()>> + Send;
    /// Takes (deletes and returns) the ceremony `id_hash` if `browser_hash`
    /// started it, expired or not (the caller checks the time).
    fn take_ceremony(
        &self,
        id_hash: &SecretHash,
        browser_hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<Ceremony>>> + Send;
    /// Deletes ceremonies that expired; returns how many.
    fn purge_ceremonies(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// The stores the passkey flows use.
pub trait PasskeyStores: PasskeyStore + UserStore {}
impl<T: PasskeyStore + UserStore> PasskeyStores for T {}

/// The relying party: the issuer's host is the RP id, its origin the one
/// origin whose ceremonies are accepted.
pub fn relying_party(issuer: &str, name: &str) -> Result<Webauthn> {
    let origin = Url::parse(issuer).map_err(Error::internal)?;
    let Some(host) = origin.host_str() else {
        return Err(Error::internal("the issuer has no host"));
    };
    WebauthnBuilder::new(host, &origin)
        .and_then(|b| b.rp_name(name).build())
        .map_err(|e| Error::internal(format!("webauthn relying party: {e:?}")))
}

/// Whether this deployment can offer passkeys: WebAuthn's RP id is a
/// domain, so an issuer whose host is an IP address (a test set-up) has
/// none, and the pages leave the passkey forms out.
pub fn available(settings: &Settings) -> bool {
    Url::parse(&settings.issuer)
        .ok()
        .is_some_and(|u| matches!(u.host(), Some(url::Host::Domain(_))))
}

fn webauthn<S>(auth: &Authority<S>) -> Result<Webauthn> {
    if !available(&auth.settings) {
        return Err(Error::NotFound(
            "passkeys need an issuer whose host is a domain name".into(),
        ));
    }
    relying_party(&auth.settings.issuer, &auth.settings.brand_name)
}

/// The WebAuthn user handle of a user: their id when it is a UUID (as
/// every user latchkey makes), else a hash of it. Not secret; it lets an
/// authenticator keep one credential per account.
pub fn user_handle(user_id: &UserId) -> Uuid {
    Uuid::parse_str(user_id.as_str()).unwrap_or_else(|_| {
        let digest = secret::sha256(format!("latchkey webauthn user\n{user_id}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.as_ref()[..16]);
        Uuid::from_bytes(bytes)
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A started ceremony: the id the page posts back, and the options for
/// `navigator.credentials.create` or `.get` (JSON, `{"publicKey": …}`).
#[derive(Debug)]
pub struct Started {
    pub ceremony: Secret,
    pub options: serde_json::Value,
}

async fn store_ceremony<S: PasskeyStore>(
    auth: &Authority<S>,
    browser: &str,
    kind: CeremonyKind,
    user_id: Option<UserId>,
    state: String,
    options: serde_json::Value,
) -> Result<Started> {
    if browser.is_empty() {
        return Err(Error::invalid_request("no browser cookie"));
    }
    let id = Secret::new(secret::random_token()?);
    auth.store
        .insert_ceremony(&Ceremony {
            id_hash: SecretHash::of(id.expose()),
            browser_hash: SecretHash::of(browser),
            kind,
            user_id,
            state,
            expires_at: auth.clock.now() + CEREMONY_TTL_SECONDS,
        })
        .await?;
    Ok(Started {
        ceremony: id,
        options,
    })
}

/// Takes the ceremony `ceremony` of `browser`, if it is live and of `kind`.
async fn take<S: PasskeyStore>(
    auth: &Authority<S>,
    browser: &str,
    ceremony: &str,
    kind: CeremonyKind,
) -> Result<Option<Ceremony>> {
    if browser.is_empty() || ceremony.is_empty() || ceremony.len() > 128 {
        return Ok(None);
    }
    let taken = auth
        .store
        .take_ceremony(&SecretHash::of(ceremony), &SecretHash::of(browser))
        .await?;
    Ok(taken.filter(|c| c.kind == kind && auth.clock.now() < c.expires_at))
}

/// Starts registering a passkey for `user` in `browser`: a discoverable
/// credential, none of the user's existing ones again.
pub async fn start_registration<S: PasskeyStores>(
    auth: &Authority<S>,
    session: &Session,
    browser: &str,
) -> Result<Started> {
    let user = session_user(auth, session).await?;
    let rp = webauthn(auth)?;
    let existing = auth.store.list_passkeys(&user.id).await?;
    let exclude: Vec<_> = existing
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.passkey).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let display = user.name.as_deref().unwrap_or(&user.email);
    let (options, state) = rp
        .start_passkey_registration(user_handle(&user.id), &user.email, display, Some(exclude))
        .map_err(|e| Error::internal(format!("webauthn: {e:?}")))?;
    let options: CreationChallengeResponse = options;
    let state = serde_json::to_string(&state).map_err(Error::internal)?;
    let mut options = serde_json::to_value(&options).map_err(Error::internal)?;
    require_resident_key(&mut options);
    store_ceremony(
        auth,
        browser,
        CeremonyKind::Register,
        Some(user.id.clone()),
        state,
        options,
    )
    .await
}

/// A discoverable credential (WebAuthn §5.4.4 `residentKey: "required"`):
/// what lets the login page ask for a passkey without a username. The
/// finish does not depend on it, so webauthn-rs's options are amended as
/// they go out.
fn require_resident_key(options: &mut serde_json::Value) {
    if let Some(selection) = options
        .get_mut("publicKey")
        .and_then(|pk| pk.get_mut("authenticatorSelection"))
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
}

/// What a registration's finish came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    Added,
    /// The ceremony is unknown, expired, used, another browser's or
    /// another user's; or the credential did not verify.
    Failed,
    /// This credential is registered already.
    Duplicate,
}

/// Finishes a registration started by [`start_registration`] in the same
/// session and `browser`: `credential` is the browser's
/// `PublicKeyCredential` as JSON, `name` what the user calls it.
pub async fn finish_registration<S: PasskeyStores>(
    auth: &Authority<S>,
    session: &Session,
    browser: &str,
    ceremony: &str,
    credential: &str,
    name: &str,
) -> Result<Registered> {
    let Some(ceremony) = take(auth, browser, ceremony, CeremonyKind::Register).await? else {
        return Ok(Registered::Failed);
    };
    if ceremony.user_id.as_ref() != Some(&session.user_id)
        || credential.len() > MAX_CREDENTIAL_BYTES
    {
        return Ok(Registered::Failed);
    }
    let Ok(reg) = serde_json::from_str::<RegisterPublicKeyCredential>(credential) else {
        return Ok(Registered::Failed);
    };
    let state: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(Error::internal)?;
    let passkey = match webauthn(auth)?.finish_passkey_registration(&reg, &state) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = ?e, "passkey registration refused");
            return Ok(Registered::Failed);
        }
    };
    let now = auth.clock.now();
    let stored = StoredPasskey {
        id: secret::random_id(12)?,
        user_id: session.user_id.clone(),
        credential_id: b64(passkey.cred_id().as_ref()),
        passkey: serde_json::to_string(&passkey).map_err(Error::internal)?,
        name: clean_name(name, now),
        sign_count: 0,
        created_at: now,
        last_used_at: None,
    };
    Ok(if auth.store.insert_passkey(&stored).await? {
        Registered::Added
    } else {
        Registered::Duplicate
    })
}

/// The name a passkey gets: what the user typed, trimmed, without control
/// characters, at most [`MAX_NAME_CHARS`]; or "Passkey" and the date.
pub fn clean_name(name: &str, now: UnixTime) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        let date = time::OffsetDateTime::from_unix_timestamp(now)
            .map(|d| format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
            .unwrap_or_default();
        format!("Passkey {date}").trim().to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// Starts a sign-in with a passkey in `browser`: no credential named, the
/// authenticator offers the discoverable ones it holds for this RP.
pub async fn start_authentication<S: PasskeyStore>(
    auth: &Authority<S>,
    browser: &str,
) -> Result<Started> {
    let (options, state) = webauthn(auth)?
        .start_discoverable_authentication()
        .map_err(|e| Error::internal(format!("webauthn: {e:?}")))?;
    let options: RequestChallengeResponse = options;
    let state = serde_json::to_string(&state).map_err(Error::internal)?;
    let options = serde_json::to_value(&options).map_err(Error::internal)?;
    store_ceremony(
        auth,
        browser,
        CeremonyKind::Authenticate,
        None,
        state,
        options,
    )
    .await
}

/// A verified assertion: whose passkey it was, and how the key is held
/// (RFC 8176: `hwk` for a key bound to its device, `swk` for one that may
/// be synchronised, the backup-eligible flag of WebAuthn §6.1).
#[derive(Debug, Clone)]
pub struct Asserted {
    pub user: User,
    pub method: &'static str,
}

/// Why an assertion was refused (logged; the browser is told only that
/// it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Unknown, expired, used or another browser's ceremony.
    Ceremony,
    /// Not a credential, or one no user registered.
    UnknownCredential,
    /// The signature, the challenge, the origin, the RP id or the user
    /// verification did not check out.
    Invalid,
    /// The counter did not increase: a cloned authenticator.
    Counter,
    /// The user is disabled.
    Disabled,
}

/// Finishes a sign-in started by [`start_authentication`] in `browser`.
pub async fn finish_authentication<S: PasskeyStores>(
    auth: &Authority<S>,
    browser: &str,
    ceremony: &str,
    credential: &str,
) -> Result<std::result::Result<Asserted, Refused>> {
    let Some(ceremony) = take(auth, browser, ceremony, CeremonyKind::Authenticate).await? else {
        return Ok(Err(Refused::Ceremony));
    };
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Ok(Err(Refused::UnknownCredential));
    }
    let Ok(assertion) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Ok(Err(Refused::UnknownCredential));
    };
    let rp = webauthn(auth)?;
    let Ok((handle, cred_id)) = rp.identify_discoverable_authentication(&assertion) else {
        return Ok(Err(Refused::UnknownCredential));
    };
    let Some(stored) = auth.store.find_passkey(&b64(cred_id)).await? else {
        return Ok(Err(Refused::UnknownCredential));
    };
    if user_handle(&stored.user_id) != handle {
        return Ok(Err(Refused::UnknownCredential));
    }
    let mut passkey: Passkey = serde_json::from_str(&stored.passkey).map_err(Error::internal)?;
    let state: DiscoverableAuthentication =
        serde_json::from_str(&ceremony.state).map_err(Error::internal)?;
    let result = match rp.finish_discoverable_authentication(
        &assertion,
        state,
        &[DiscoverableKey::from(&passkey)],
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = ?e, passkey = %stored.id, "passkey assertion refused");
            let counter = matches!(
                e,
                webauthn_rs::prelude::WebauthnError::CredentialPossibleCompromise
            );
            return Ok(Err(if counter {
                Refused::Counter
            } else {
                Refused::Invalid
            }));
        }
    };
    let counter = i64::from(result.counter());
    // WebAuthn §7.2 step 21, checked here as well as by webauthn-rs: a
    // counter that moves must move forward.
    if (counter != 0 || stored.sign_count != 0) && counter <= stored.sign_count {
        tracing::warn!(passkey = %stored.id, "passkey counter did not increase: a cloned authenticator?");
        return Ok(Err(Refused::Counter));
    }
    passkey.update_credential(&result);
    let json = serde_json::to_string(&passkey).map_err(Error::internal)?;
    if !auth
        .store
        .record_passkey_use(
            &stored.id,
            &json,
            counter,
            stored.sign_count,
            auth.clock.now(),
        )
        .await?
    {
        return Ok(Err(Refused::Counter));
    }
    let Some(user) = auth.store.get_user(&stored.user_id).await? else {
        return Ok(Err(Refused::UnknownCredential));
    };
    if user.disabled {
        return Ok(Err(Refused::Disabled));
    }
    let method = if result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    };
    Ok(Ok(Asserted { user, method }))
}

/// Whether the user has a passkey (the second step of a password sign-in,
/// `mfa_methods`).
pub async fn has_passkey<S: PasskeyStore>(auth: &Authority<S>, user_id: &UserId) -> Result<bool> {
    Ok(!auth.store.list_passkeys(user_id).await?.is_empty())
}

/// The user's passkeys, for the account page.
pub async fn list<S: PasskeyStore>(
    auth: &Authority<S>,
    user_id: &UserId,
) -> Result<Vec<StoredPasskey>> {
    auth.store.list_passkeys(user_id).await
}

/// Removes one of the session's user's passkeys; `false` if it is not
/// theirs.
pub async fn remove<S: PasskeyStore>(
    auth: &Authority<S>,
    session: &Session,
    id: &str,
) -> Result<bool> {
    auth.store.delete_passkey(&session.user_id, id).await
}

async fn session_user<S: UserStore>(auth: &Authority<S>, session: &Session) -> Result<User> {
    auth.store
        .get_user(&session.user_id)
        .await?
        .ok_or_else(|| Error::InvalidToken("the session's user is gone".into()))
}

/// A submitted "Sign in with a passkey" form.
#[derive(Debug)]
pub struct PasskeyLogin<'a> {
    /// The pending authorization request (empty: a login outside one).
    pub request_id: &'a str,
    pub ceremony: &'a str,
    /// The browser's `PublicKeyCredential`, JSON.
    pub credential: &'a str,
    /// Where to go afterwards outside an authorization request (see
    /// `login::return_to`).
    pub return_to: Option<&'a str>,
}

/// Signs in with a passkey alone, as `login::complete` does with a
/// password: the browser's old session ends, a new one starts, and the
/// pending request resumes. The passkey was unlocked by the user
/// (webauthn-rs requires user verification), so the session has two
/// factors.
pub async fn sign_in<S: AuthorizeStores + PasskeyStores + SessionStore>(
    auth: &Authority<S>,
    browser: &str,
    previous: Option<&str>,
    attempt: PasskeyLogin<'_>,
) -> Result<LoginOutcome> {
    let pending = if attempt.request_id.is_empty() {
        None
    } else {
        match authorize::load_pending(auth, attempt.request_id, Some(browser)).await? {
            Some(p) => Some(p),
            None => return Ok(LoginOutcome::Expired),
        }
    };
    let asserted =
        match finish_authentication(auth, browser, attempt.ceremony, attempt.credential).await? {
            Ok(a) => a,
            Err(why) => {
                tracing::info!(reason = ?why, "passkey sign-in refused");
                let client = match &pending {
                    Some(p) => authorize::client_for(auth, p).await?,
                    None => None,
                };
                return Ok(LoginOutcome::Refused {
                    client_name: client.map(|c| c.name.clone()),
                    unverified: false,
                });
            }
        };
    let user = asserted.user;
    // A new session id on every login (session fixation).
    sessions::end(auth, previous).await?;
    // A passkey with user verification is two factors in one gesture
    // (RFC 8176: the key, and the PIN or biometric that unlocked it).
    let key = Method::parse(asserted.method).unwrap_or(Method::Hwk);
    let amr = Amr::of([key, Method::User, Method::Mfa]);
    let (id, session) = sessions::start(&auth.settings, &user.id, auth.clock.now(), amr)?;
    auth.store.insert_session(&session).await?;
    let next = match pending {
        Some(_) => match authorize::resume(auth, attempt.request_id, browser, &session).await? {
            Some(outcome) => AfterLogin::Authorize(outcome),
            None => AfterLogin::Expired,
        },
        None => match login::return_to(attempt.return_to) {
            Some(back) => AfterLogin::ReturnTo(back.to_owned()),
            None => AfterLogin::Done,
        },
    };
    Ok(LoginOutcome::SignedIn { session: id, next })
}

/// A passkey as the second step of a sign-in (`/login/mfa`, docs/mfa.md):
/// the assertion must be by a passkey of the challenge's own user; then the
/// challenge is taken and the browser signed in with `pwd` and the key's
/// `hwk`/`swk`, `user` and `mfa`. Another user's passkey, or a failed
/// assertion, is refused like a wrong code (the form again).
pub async fn second_factor<S>(
    auth: &Authority<S>,
    browser: &str,
    previous: Option<&str>,
    challenge_id: &str,
    ceremony: &str,
    credential: &str,
) -> Result<MfaOutcome>
where
    S: PasskeyStores + AuthorizeStores + SessionStore + MfaStore,
{
    let Some((ch, user, client_name)) =
        login::load_challenge(auth, challenge_id, Some(browser)).await?
    else {
        return Ok(MfaOutcome::Expired);
    };
    let key = match finish_authentication(auth, browser, ceremony, credential).await? {
        Ok(a) if a.user.id == user.id => Method::parse(a.method).unwrap_or(Method::Hwk),
        other => {
            match other {
                Err(why) => tracing::info!(reason = ?why, "passkey second factor refused"),
                Ok(_) => tracing::info!("passkey second factor refused: another user's passkey"),
            }
            return Ok(MfaOutcome::Refused {
                client_name,
                factors: auth.store.second_factors(&user.id).await?,
            });
        }
    };
    Ok(
        match login::finish_challenge(
            auth,
            browser,
            previous,
            challenge_id,
            &ch,
            &[key, Method::User],
        )
        .await?
        {
            Some((session, next)) => MfaOutcome::SignedIn { session, next },
            None => MfaOutcome::Expired,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("  Laptop \u{7}", 0), "Laptop");
        assert_eq!(clean_name("", 0), "Passkey 1970-01-01");
        assert_eq!(
            clean_name(&"x".repeat(100), 0).chars().count(),
            MAX_NAME_CHARS
        );
    }

    #[test]
    fn user_handles_are_the_uuid_or_a_hash() {
        let id = "0b6f3c4e-8d2a-4f7e-9a51-2c3d4e5f6a7b";
        assert_eq!(user_handle(&UserId::from(id)).to_string(), id);
        let other = user_handle(&UserId::from("alice"));
        assert_eq!(other, user_handle(&UserId::from("alice")));
        assert_ne!(other, user_handle(&UserId::from("bob")));
    }

    #[test]
    fn the_relying_party_is_the_issuer() {
        assert!(relying_party("https://id.example.com", "x").is_ok());
        assert!(relying_party("http://localhost:8080", "x").is_ok());
        let with = |issuer: &str| Settings {
            issuer: issuer.into(),
            ..Settings::default()
        };
        assert!(available(&with("https://id.example.com/tenant")));
        assert!(!available(&with("http://127.0.0.1:8080")));
        assert!(!available(&with("http://[::1]:8080")));
    }
}
