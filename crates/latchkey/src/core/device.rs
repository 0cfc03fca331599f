//! The device authorization grant (RFC 8628): the device authorization
//! endpoint (§3.1, §3.2), the user's side on the `/device` page (§3.3), and
//! the storage of device codes. The token endpoint's polling (§3.4, §3.5) is
//! `grants::device_code`.
//!
//! ```text
//! +----------+                                +----------------+
//! |          |>---(A)-- Client Identifier --->|                |
//! |          |    POST /v1/oauth/             |                |
//! |          |    device_authorization        |                |
//! |          |    [`authorize`]               |                |
//! |          |<---(B)-- Device Code,      ---<|                |
//! |          |          User Code,            |                |
//! |  Device  |          & Verification URI    |                |
//! |  Client  |                                |                |
//! |          |  [polling]                     |                |
//! |          |>---(E)-- Device Code       --->|                |
//! |          |          & Client Identifier   |                |
//! |          |    POST /v1/oauth/token        |  Authorization |
//! |          |    grants::device_code         |     Server     |
//! |          |<---(F)-- Access Token      ---<|                |
//! +----------+   (& Optional Refresh Token)   |                |
//!       v                                     |                |
//!       :                                     |                |
//!      (C) User Code & Verification URI       |                |
//!       :                                     |                |
//!       v                                     |                |
//! +----------+                                |                |
//! | End User |                                |                |
//! |    at    |<---(D)-- End user reviews  --->|                |
//! |  Browser |          authorization request |                |
//! +----------+    GET, POST /device           +----------------+
//!                 [`lookup`], [`decide`]
//! ```
//!
//! Codes: the device code is 256 bits from the OS CSPRNG, stored as its
//! SHA-256. The user code is 8 characters of [`USER_CODE_ALPHABET`] (no
//! vowels, so no words, and no look-alikes such as 0/O or 1/I), about 34.6
//! bits: §6.1 "the user code SHOULD have enough entropy that when combined
//! with rate limiting and other mitigations makes a brute-force attack
//! infeasible". So wrong guesses on the page are limited per browser session
//! and per address ([`UserCodeLimiter`]), and the code is stored as an HMAC
//! under the server key, which an attacker with a copy of the database
//! cannot reverse by trying every code.
//!
//! **Invariant:** a device code yields tokens at most once: the redemption is
//! one conditional `UPDATE … WHERE status = <approved>` in the transaction
//! that stores the refresh family.

use std::future::Future;
use std::net::IpAddr;

use super::clients::ClientStore;
use super::clients::{self, ClientCredentials, ClientId, GrantType};
use super::clock::UnixTime;
use super::codes::Issued;
use super::decision::Decision;
use super::error::{Error, Result};
use super::params::Params;
use super::ratelimit::{self, AttemptCount, AttemptCounterStore};
use super::scope::Scope;
use super::secret::{self, Secret, SecretHash, ServerKey};
use super::sessions::Session;
use super::tokens;
use super::users::UserId;
use super::users::UserStore;
use super::{Authority, discovery::paths};

/// The characters of a user code: RFC 8628 §6.1's example alphabet, the
/// consonants without look-alikes.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code (dash excluded).
pub const USER_CODE_LEN: usize = 8;

/// RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and
/// all subsequent requests".
pub const SLOW_DOWN_STEP_SECONDS: i64 = 5;

/// HMAC purposes.
const USER_CODE_PURPOSE: &str = "device-user-code";
const LIMIT_PURPOSE: &str = "device-user-code-limit";

/// How many fresh user codes are tried when one collides with a live one.
const INSERT_ATTEMPTS: usize = 5;

/// Device codes longer than this are refused unhashed (ours are 43).
const MAX_DEVICE_CODE_LEN: usize = 512;

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user allowed it; the next poll gets the tokens.
    Approved,
    /// The user denied it.
    Denied,
    /// Its tokens were issued.
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Redeemed => "redeemed",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(DeviceStatus::Pending),
            "approved" => Ok(DeviceStatus::Approved),
            "denied" => Ok(DeviceStatus::Denied),
            "redeemed" => Ok(DeviceStatus::Redeemed),
            other => Err(Error::internal(format!("corrupt device status {other:?}"))),
        }
    }
}

/// A device authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    /// SHA-256 of the device code.
    pub hash: SecretHash,
    /// HMAC of the normalized user code.
    pub user_code_hash: String,
    pub client_id: ClientId,
    pub scope: Scope,
    pub audience: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub interval_seconds: i64,
    pub last_polled_at: Option<UnixTime>,
    pub status: DeviceStatus,
    pub user_id: Option<UserId>,
    pub auth_time: Option<UnixTime>,
}

/// Storage of device authorizations.
///
/// Contract: `redeem_device` succeeds at most once per device code, however
/// many callers race, and stores the issued refresh family in the same
/// transaction; `decide_device` changes only a pending, unexpired one.
pub trait DeviceStore: Send + Sync {
    /// Inserts a new authorization; `false` if its user code collides with
    /// a stored one (the caller retries with a fresh code).
    fn insert_device(&self, d: &StoredDevice) -> impl Future<Output = Result<bool>> + Send;
    fn find_device(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<StoredDevice>>> + Send;
    fn find_device_by_user_code(
        &self,
        user_code_hash: &str,
    ) -> impl Future<Output = Result<Option<StoredDevice>>> + Send;
    /// Records a poll at `now` with the interval the next poll must wait.
    fn record_device_poll(
        &self,
        hash: &SecretHash,
        interval_seconds: i64,
        now: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Approves (with the user) or denies a pending, unexpired
    /// authorization; returns whether it did.
    fn decide_device(
        &self,
        hash: &SecretHash,
        decision: DeviceDecision<'_>,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// In one transaction: marks an approved, unexpired authorization
    /// redeemed and inserts the refresh family. Returns whether it did.
    fn redeem_device(
        &self,
        hash: &SecretHash,
        issued: Issued<'_>,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Denies every authorization the user approved that no device has
    /// redeemed yet (`user revoke-sessions`, `user disable`); returns how many.
    fn deny_user_devices(&self, user_id: &UserId) -> impl Future<Output = Result<u64>> + Send;
    /// Deletes authorizations that expired before `before`; returns how many.
    fn purge_devices(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// The stores the `/device` page uses between them.
pub trait DevicePageStores: DeviceStore + ClientStore + UserStore + AttemptCounterStore {}

impl<T: DeviceStore + ClientStore + UserStore + AttemptCounterStore> DevicePageStores for T {}

/// A person's answer on the confirmation page, as the store records it.
#[derive(Debug, Clone, Copy)]
pub struct DeviceDecision<'a> {
    pub decision: Decision,
    /// Who answered.
    pub user_id: &'a UserId,
    /// When they last typed their password: the `auth_time` of the tokens
    /// an approval leads to.
    pub auth_time: UnixTime,
}

impl DeviceDecision<'_> {
    /// The status the authorization moves to.
    pub fn status(&self) -> DeviceStatus {
        match self.decision {
            Decision::Allow => DeviceStatus::Approved,
            Decision::Deny => DeviceStatus::Denied,
        }
    }

    /// The `auth_time` to record: only an approval issues tokens.
    pub fn recorded_auth_time(&self) -> Option<UnixTime> {
        (self.decision == Decision::Allow).then_some(self.auth_time)
    }
}

/// The device authorization response (RFC 8628 §3.2). No `Debug`: it holds
/// the device code, which must never reach a log.
#[derive(Clone, serde::Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(<redacted>)")
    }
}

/// A user code in normal form: 8 characters of the alphabet, upper case, no
/// dash.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh code from the OS CSPRNG. Each character is drawn without
    /// modulo bias (bytes ≥ 240 are rejected, 240 being 12 × 20).
    pub fn generate() -> Result<Self> {
        let mut code = String::with_capacity(USER_CODE_LEN);
        let mut buf = [0u8; 32];
        while code.len() < USER_CODE_LEN {
            secret::fill_random(&mut buf)?;
            for b in buf {
                if code.len() == USER_CODE_LEN {
                    break;
                }
                if b < 240 {
                    code.push(char::from(USER_CODE_ALPHABET[usize::from(b % 20)]));
                }
            }
        }
        Ok(UserCode(code))
    }

    /// What the user typed, in any case, with or without dashes and spaces;
    /// `None` unless it is 8 characters of the alphabet.
    pub fn normalize(typed: &str) -> Option<Self> {
        if typed.len() > 64 {
            return None;
        }
        let code: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid =
            code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        valid.then_some(UserCode(code))
    }

    /// The form shown to people: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    }

    /// What is stored: an HMAC under the server key.
    pub fn stored_hash(&self, key: &ServerKey) -> String {
        key.mac_token(USER_CODE_PURPOSE, self.0.as_bytes())
    }
}

/// Steps (A) and (B): authenticates the client as the token endpoint does,
/// checks that it is registered for the device grant and the scope, and
/// issues a device code and a user code.
pub async fn authorize<S: ClientStore + DeviceStore>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
) -> Result<DeviceAuthorization> {
    let scope = params.get("scope").map(Scope::parse).transpose()?;
    let client = clients::authenticate(auth, creds).await?;
    client.require_grant(GrantType::DeviceCode)?;
    let scope = Scope::grant(scope, &client.scopes)?;
    let audience = tokens::audience(&client, params.get_all("resource"), &auth.settings)?;
    let now = auth.clock.now();
    let settings = &auth.settings;
    for _ in 0..INSERT_ATTEMPTS {
        let device_code = Secret::new(secret::random_token()?);
        let user_code = UserCode::generate()?;
        let stored = StoredDevice {
            hash: SecretHash::of(device_code.expose()),
            user_code_hash: user_code.stored_hash(&auth.server_key),
            client_id: client.id.clone(),
            scope: scope.clone(),
            audience: audience.clone(),
            created_at: now,
            expires_at: now + settings.device_code_lifetime_seconds,
            interval_seconds: settings.device_poll_interval_seconds,
            last_polled_at: None,
            status: DeviceStatus::Pending,
            user_id: None,
            auth_time: None,
        };
        if !auth.store.insert_device(&stored).await? {
            metrics::counter!("latchkey_device_user_code_collisions_total").increment(1);
            continue;
        }
        let shown = user_code.display();
        let verification_uri = settings.url(paths::DEVICE_PAGE);
        let verification_uri_complete = format!("{verification_uri}?user_code={shown}");
        metrics::counter!("latchkey_device_authorizations_total").increment(1);
        return Ok(DeviceAuthorization {
            device_code: device_code.expose().to_owned(),
            user_code: shown,
            verification_uri,
            verification_uri_complete,
            expires_in: settings.device_code_lifetime_seconds,
            interval: settings.device_poll_interval_seconds,
        });
    }
    Err(Error::internal("no free user code after several attempts"))
}

/// The hash of a presented device code, or `None` when it is too long to be
/// ours.
pub fn device_code_hash(code: &Secret) -> Option<SecretHash> {
    (code.expose().len() <= MAX_DEVICE_CODE_LEN).then(|| SecretHash::of(code.expose()))
}

/// What the confirmation page shows.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    pub device: StoredDevice,
    pub client_name: String,
    pub user_code: UserCode,
}

/// Step (D), first half: finds the pending authorization a typed user code
/// names, charging the attempt to the limits first (429 once they are used
/// up) and giving it back when the code was right. `None`: not a code of
/// ours, or not any more (expired, decided).
pub async fn lookup<S: DevicePageStores>(
    auth: &Authority<S>,
    typed: &str,
    session: &Session,
    client_addr: Option<IpAddr>,
) -> Result<Option<PendingDevice>> {
    let now = auth.clock.now();
    let limiter = UserCodeLimiter::new(auth, session, client_addr);
    let charged = limiter.charge(&auth.store, now).await?;
    let Some(user_code) = UserCode::normalize(typed) else {
        return Ok(None);
    };
    let found = auth
        .store
        .find_device_by_user_code(&user_code.stored_hash(&auth.server_key))
        .await?
        .filter(|d| d.status == DeviceStatus::Pending && d.expires_at > now);
    let Some(device) = found else {
        return Ok(None);
    };
    let Some(client) = auth.clients.get(&auth.store, &device.client_id).await? else {
        return Ok(None);
    };
    limiter.forgive(&auth.store, &charged).await?;
    Ok(Some(PendingDevice {
        device,
        client_name: client.name.clone(),
        user_code,
    }))
}

/// Step (D), second half: the user allows or denies. `Ok(false)` when the
/// authorization is no longer pending (expired, or decided meanwhile).
pub async fn decide<S: DeviceStore>(
    auth: &Authority<S>,
    pending: &PendingDevice,
    session: &Session,
    decision: Decision,
) -> Result<bool> {
    let recorded = DeviceDecision {
        decision,
        user_id: &session.user_id,
        auth_time: session.auth_time,
    };
    let done = auth
        .store
        .decide_device(&pending.device.hash, recorded, auth.clock.now())
        .await?;
    if done {
        metrics::counter!("latchkey_device_decisions_total", "decision" => decision.as_str())
            .increment(1);
    }
    Ok(done)
}

/// The brute-force limits of user-code entry (RFC 8628 §5.1): wrong codes
/// per browser session and per client address, counted in the shared
/// attempt counters as sign-ins are (charged before the check, forgiven when
/// the code was right).
pub struct UserCodeLimiter {
    /// Each counter's key with its own maximum.
    keys: Vec<(String, i64)>,
    window: i64,
}

impl UserCodeLimiter {
    pub fn new<S>(auth: &Authority<S>, session: &Session, addr: Option<IpAddr>) -> Self {
        let key = |what: String| auth.server_key.mac_token(LIMIT_PURPOSE, what.as_bytes());
        let settings = &auth.settings;
        let mut keys = vec![(
            key(format!("session:{}", session.id_hash.as_str())),
            i64::from(settings.device_user_code_max_failures),
        )];
        if let Some(a) = addr {
            // Counted as sign-ins are: an IPv6 address by its /64.
            keys.push((
                key(format!("address:{}", ratelimit::address_bucket(a))),
                i64::from(settings.device_user_code_max_failures_per_address),
            ));
        }
        UserCodeLimiter {
            keys,
            window: settings.signin_failure_window_seconds,
        }
    }

    /// Charges one attempt to every key; `TooManyRequests` if one is over.
    async fn charge<S: AttemptCounterStore>(
        &self,
        store: &S,
        now: UnixTime,
    ) -> Result<Vec<AttemptCount>> {
        let mut counts = Vec::with_capacity(self.keys.len());
        for (key, max) in &self.keys {
            let count = store.charge_attempt(key, now, self.window).await?;
            if count.attempts > *max {
                metrics::counter!("latchkey_rate_limited_total").increment(1);
                let retry_after = (count.window_start + self.window - now).max(1);
                return Err(Error::TooManyRequests {
                    retry_after: u64::try_from(retry_after).unwrap_or(1),
                });
            }
            counts.push(count);
        }
        Ok(counts)
    }

    async fn forgive<S: AttemptCounterStore>(
        &self,
        store: &S,
        counts: &[AttemptCount],
    ) -> Result<()> {
        for ((key, _), count) in self.keys.iter().zip(counts) {
            store.forgive_attempt(key, count.window_start).await?;
        }
        Ok(())
    }
}

/// The `/device` page of a signed-in user: who they are (its "Signed in
/// as" line) and where their submission stands.
#[derive(Debug)]
pub struct DevicePage {
    pub user_email: String,
    pub step: DeviceStep,
}

/// Where a user on the `/device` page stands.
#[derive(Debug)]
pub enum DeviceStep {
    /// Nothing submitted yet: the code-entry form.
    Enter,
    /// The typed code is not one of ours, or no longer pending: the entry
    /// form again, with an error.
    UnknownCode,
    /// The code names this pending authorization: ask the user.
    Confirm(Box<PendingDevice>),
    /// The user allowed the device; its next poll gets tokens.
    Allowed { client_name: String },
    /// The user denied it.
    Denied,
    /// It stopped being pending between the confirmation page and the
    /// decision (expired, or decided in another tab).
    NoLongerPending,
}

/// Step (C) seen from the page: a signed-in user opens `/device`.
pub async fn open<S: UserStore>(auth: &Authority<S>, session: &Session) -> Result<DevicePage> {
    Ok(DevicePage {
        user_email: user_email(auth, session).await?,
        step: DeviceStep::Enter,
    })
}

/// Step (D): a signed-in user submits a code, with the decision or
/// without (then the confirmation page asks for it). Every code is charged
/// to the limits before it is looked up ([`lookup`]).
pub async fn submit<S: DevicePageStores>(
    auth: &Authority<S>,
    session: &Session,
    typed: &str,
    decision: Option<Decision>,
    client_addr: Option<IpAddr>,
) -> Result<DevicePage> {
    let user_email = user_email(auth, session).await?;
    let step = match lookup(auth, typed, session, client_addr).await? {
        None => DeviceStep::UnknownCode,
        Some(pending) => match decision {
            None => DeviceStep::Confirm(Box::new(pending)),
            Some(decision) => {
                if !decide(auth, &pending, session, decision).await? {
                    DeviceStep::NoLongerPending
                } else {
                    match decision {
                        Decision::Allow => DeviceStep::Allowed {
                            client_name: pending.client_name,
                        },
                        Decision::Deny => DeviceStep::Denied,
                    }
                }
            }
        },
    };
    Ok(DevicePage { user_email, step })
}

/// The signed-in user's email, for the page (empty if the user is gone).
async fn user_email<S: UserStore>(auth: &Authority<S>, session: &Session) -> Result<String> {
    Ok(auth
        .store
        .get_user(&session.user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn user_codes_normalize_case_and_dashes() {
        let code = UserCode::generate().unwrap();
        let shown = code.display();
        assert_eq!(shown.len(), 9);
        assert_eq!(&shown[4..5], "-");
        let typed = shown.to_ascii_lowercase().replace('-', "");
        assert_eq!(UserCode::normalize(&typed), Some(code.clone()));
        assert_eq!(UserCode::normalize(&shown), Some(code));
        assert_eq!(UserCode::normalize("WDJB-MJH"), None);
        assert_eq!(
            UserCode::normalize("WDJB-MJHA"),
            None,
            "A is not in the alphabet"
        );
        assert_eq!(
            UserCode::normalize("wdjb mjht").unwrap().display(),
            "WDJB-MJHT"
        );
    }

    #[test]
    fn generated_codes_use_the_alphabet_only() {
        for _ in 0..200 {
            let c = UserCode::generate().unwrap();
            assert!(c.0.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
            assert_eq!(c.0.len(), USER_CODE_LEN);
        }
    }
}
