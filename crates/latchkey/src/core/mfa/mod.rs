//! Second factors (docs/mfa.md): how a user signed in ([`Amr`], RFC 8176,
//! and the `acr` it makes), what they have enrolled ([`SecondFactors`]),
//! whether a sign-in needs a second step ([`after_password`],
//! [`Requirement`]), and the half-done sign-ins that wait for it
//! ([`Challenge`], stored by [`MfaStore`]).
//!
//! A sign-in with a password by a user who has a second factor does not
//! make a session or tokens: it makes a *challenge*, a random id stored as
//! its SHA-256 with the user, the methods proved so far and what to continue
//! with, bound to the browser (`/login/mfa`) or to the client (`/v1/signin`'s
//! `mfa_token`). The request that proves the second factor takes the
//! challenge (one `DELETE`, so once) and gets the session or the tokens,
//! with `amr` naming both methods and `mfa`.
//!
//! The methods themselves live beside this: TOTP and recovery codes in
//! [`totp`] and [`recovery`]; passkeys (WebAuthn) in their own module, which
//! finishes a challenge with [`Method::Hwk`]/[`Method::Swk`] as TOTP
//! finishes it with [`Method::Otp`].

pub mod challenge;
pub mod recovery;
pub mod seal;
pub mod totp;

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::clock::UnixTime;
use super::error::{Error, Result};
use super::secret::SecretHash;
use super::users::UserId;

/// An authentication method reference (RFC 8176 §2): the values latchkey
/// puts in `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// "Password-based authentication".
    Pwd,
    /// "One-time password" (TOTP, and a recovery code).
    Otp,
    /// "Proof-of-Possession (PoP) of a hardware-secured key" (a passkey
    /// on a security key or a platform authenticator).
    Hwk,
    /// "Proof-of-Possession (PoP) of a software-secured key" (a synced
    /// passkey).
    Swk,
    /// "User presence test" / user verification by the authenticator
    /// (WebAuthn UV: a PIN or biometric unlocked the key).
    User,
    /// "Multiple-factor authentication": two factors were used.
    Mfa,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Pwd,
        Method::Otp,
        Method::Hwk,
        Method::Swk,
        Method::User,
        Method::Mfa,
    ];

    /// The RFC 8176 value: the one place each is spelled.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pwd => "pwd",
            Method::Otp => "otp",
            Method::Hwk => "hwk",
            Method::Swk => "swk",
            Method::User => "user",
            Method::Mfa => "mfa",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// How a user signed in: the set of [`Method`]s, in a fixed order. Stored
/// space-separated (`to_stored`) on sessions, codes and challenges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Amr(Vec<Method>);

/// `acr` "1": one factor.
pub const ACR_ONE_FACTOR: &str = "1";
/// `acr` "2": two factors.
pub const ACR_TWO_FACTORS: &str = "2";
/// The `acr` values latchkey knows, for discovery's `acr_values_supported`.
pub const ACR_VALUES: [&str; 2] = [ACR_ONE_FACTOR, ACR_TWO_FACTORS];

impl Amr {
    pub fn of(methods: impl IntoIterator<Item = Method>) -> Amr {
        let mut v: Vec<Method> = methods.into_iter().collect();
        v.sort();
        v.dedup();
        Amr(v)
    }

    /// A password sign-in.
    pub fn password() -> Amr {
        Amr::of([Method::Pwd])
    }

    /// These methods and `more`, and `mfa` (the second factor proved).
    pub fn with_second(&self, more: impl IntoIterator<Item = Method>) -> Amr {
        Amr::of(
            self.0
                .iter()
                .copied()
                .chain(more)
                .chain(std::iter::once(Method::Mfa)),
        )
    }

    pub fn contains(&self, m: Method) -> bool {
        self.0.contains(&m)
    }

    pub fn methods(&self) -> &[Method] {
        &self.0
    }

    /// The `amr` claim.
    pub fn values(&self) -> Vec<&'static str> {
        self.0.iter().map(|m| m.as_str()).collect()
    }

    /// Whether two factors were used. `mfa` is only ever added by a
    /// second step (or a passkey with user verification), so it says so.
    pub fn is_multi_factor(&self) -> bool {
        self.contains(Method::Mfa)
    }

    /// The `acr` claim: "2" for two factors, "1" for one.
    pub fn acr(&self) -> &'static str {
        if self.is_multi_factor() {
            ACR_TWO_FACTORS
        } else {
            ACR_ONE_FACTOR
        }
    }

    pub fn to_stored(&self) -> String {
        self.values().join(" ")
    }

    /// Reads the stored text; an unknown word is a corrupt row.
    pub fn from_stored(s: &str) -> Result<Amr> {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| {
                Method::parse(w).ok_or_else(|| Error::internal(format!("corrupt amr word {w:?}")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Amr::of)
    }
}

impl fmt::Display for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

/// A second factor as `mfa_methods` names it (the `/v1/signin` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    /// TOTP, or a recovery code in its place.
    Otp,
    /// A passkey.
    Webauthn,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Otp => "otp",
            FactorKind::Webauthn => "webauthn",
        }
    }
}

/// What second factors a user has enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecondFactors {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// Unused recovery codes left.
    pub recovery_codes: u32,
    /// Registered passkeys (filled by the passkeys' store, see
    /// [`MfaStore::second_factors`]).
    pub passkeys: u32,
}

impl SecondFactors {
    /// Whether the user has any second factor (a recovery code alone is
    /// not one: it stands in for TOTP).
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// The `mfa_methods` of a challenge for this user.
    pub fn kinds(&self) -> Vec<FactorKind> {
        let mut v = Vec::new();
        if self.totp || self.recovery_codes > 0 {
            v.push(FactorKind::Otp);
        }
        if self.passkeys > 0 {
            v.push(FactorKind::Webauthn);
        }
        v
    }
}

/// What a sign-in whose first factor just passed does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing more: the sign-in is done with one factor.
    None,
    /// The user has a second factor: ask for it (always, whatever the
    /// client wants: a factor enrolled is a factor used).
    SecondFactor,
    /// Two factors are required but the user has none: enrol one.
    Enrol,
}

/// The decision after a password: a user with a second factor always takes
/// the second step; one without takes it only when `required` (the
/// `mfa = "required"` setting, `acr_values=2`, a `--require-mfa` client),
/// by enrolling.
pub fn after_password(factors: &SecondFactors, required: bool) -> Requirement {
    if factors.any() {
        Requirement::SecondFactor
    } else if required {
        Requirement::Enrol
    } else {
        Requirement::None
    }
}

/// Whether `acr_values` (OIDC Core §3.1.2.1: "in order of preference")
/// asks for two factors: its first value latchkey knows is "2".
pub fn acr_values_require_mfa(acr_values: Option<&str>) -> bool {
    acr_values
        .unwrap_or("")
        .split(' ')
        .find(|v| ACR_VALUES.contains(v))
        == Some(ACR_TWO_FACTORS)
}

/// Who may continue a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `/login/mfa`: the browser whose `latchkey_browser` hash it names.
    Browser,
    /// `/v1/signin/mfa`: the client it names.
    Api,
}

impl ChallengeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Browser => "browser",
            ChallengeKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Result<ChallengeKind> {
        match s {
            "browser" => Ok(ChallengeKind::Browser),
            "api" => Ok(ChallengeKind::Api),
            other => Err(Error::internal(format!("corrupt challenge kind {other:?}"))),
        }
    }
}

/// What a challenge continues with once its second factor is proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum ChallengeContext {
    /// The login page: the pending authorization request (empty: none) and
    /// where to go outside one.
    Login {
        #[serde(default)]
        request_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        return_to: Option<String>,
    },
    /// `/v1/signin`: the token request to finish.
    Signin {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        resources: Vec<String>,
    },
}

/// A challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub user_id: UserId,
    pub kind: ChallengeKind,
    /// The browser's hash, or the client id.
    pub bound_to: String,
    /// The methods proved so far.
    pub amr: Amr,
    /// When the first factor was proved.
    pub auth_time: UnixTime,
    pub context: ChallengeContext,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A TOTP authenticator as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTotp {
    /// The sealed secret (`seal::Sealed::to_stored`).
    pub sealed: String,
    pub confirmed: bool,
    pub last_step: Option<i64>,
    pub created_at: UnixTime,
}

/// Storage of second factors and challenges.
///
/// Contracts (checked on both backends by `tests/it/mfa_store.rs`):
/// `take_challenge` succeeds at most once per challenge, and only before
/// it expires; `accept_totp_step` accepts a step at most once and never one
/// at or before the last accepted, however many callers race in however
/// many processes; `use_recovery_code` succeeds at most once per code.
pub trait MfaStore: Send + Sync {
    /// What the user has enrolled. The passkeys' store adds its count here
    /// (one query, so that a sign-in costs one read).
    fn second_factors(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<SecondFactors>> + Send;

    fn insert_challenge(
        &self,
        id_hash: &SecretHash,
        challenge: &Challenge,
    ) -> impl Future<Output = Result<()>> + Send;
    fn find_challenge(
        &self,
        id_hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<Challenge>>> + Send;
    /// Deletes the challenge if it has not expired at `now`; returns whether
    /// it did (only then may the caller continue it).
    fn take_challenge(
        &self,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn purge_challenges(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;

    fn find_totp(
        &self,
        user_id: &UserId,
    ) -> impl Future<Output = Result<Option<StoredTotp>>> + Send;
    /// Stores a new, unconfirmed secret for the user, replacing an
    /// unconfirmed one; returns `false` (and changes nothing) when the user
    /// has a confirmed one.
    fn begin_totp(
        &self,
        user_id: &UserId,
        sealed: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Confirms the user's unconfirmed secret, accepting `step`, and stores
    /// the recovery codes' hashes (replacing any) in one transaction;
    /// returns whether it did.
    fn confirm_totp(
        &self,
        user_id: &UserId,
        step: i64,
        recovery_hashes: &[String],
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Accepts `step` for the user's confirmed secret if it is later than
    /// the last accepted one (one conditional `UPDATE`); returns whether it
    /// did.
    fn accept_totp_step(
        &self,
        user_id: &UserId,
        step: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Replaces the sealed secret `old` by `new` (the same secret under the
    /// current key); nothing if the row changed meanwhile.
    fn reseal_totp(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes the user's TOTP secret and recovery codes; returns whether
    /// there was a secret.
    fn delete_totp(&self, user_id: &UserId) -> impl Future<Output = Result<bool>> + Send;
    /// Marks the user's unused recovery code with this hash used; returns
    /// whether it did.
    fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Removes every second factor of the user (TOTP, recovery codes,
    /// challenges; the passkeys' store adds its table) in one transaction
    /// (`user reset-mfa`). Returns whether there was anything.
    fn reset_mfa(&self, user_id: &UserId) -> impl Future<Output = Result<bool>> + Send;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn methods_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("PWD"), None);
    }

    #[test]
    fn amr_orders_dedups_and_says_acr() {
        let one = Amr::password();
        assert_eq!(one.values(), ["pwd"]);
        assert_eq!(one.acr(), "1");
        let two = one.with_second([Method::Otp]);
        assert_eq!(two.values(), ["pwd", "otp", "mfa"]);
        assert_eq!(two.acr(), "2");
        assert_eq!(Amr::from_stored(&two.to_stored()).unwrap(), two);
        assert_eq!(two.with_second([Method::Otp]), two);
        assert!(Amr::from_stored("pwd bogus").is_err());
        assert_eq!(Amr::from_stored("").unwrap(), Amr::default());
    }

    #[test]
    fn second_step_decision() {
        let none = SecondFactors::default();
        let totp = SecondFactors {
            totp: true,
            ..Default::default()
        };
        let passkey = SecondFactors {
            passkeys: 1,
            ..Default::default()
        };
        assert_eq!(after_password(&none, false), Requirement::None);
        assert_eq!(after_password(&none, true), Requirement::Enrol);
        assert_eq!(after_password(&totp, false), Requirement::SecondFactor);
        assert_eq!(after_password(&passkey, true), Requirement::SecondFactor);
        assert_eq!(passkey.kinds(), [FactorKind::Webauthn]);
        // Recovery codes left without TOTP still offer `otp`, but are no
        // factor of their own.
        let codes_only = SecondFactors {
            recovery_codes: 3,
            ..Default::default()
        };
        assert!(!codes_only.any());
        assert_eq!(codes_only.kinds(), [FactorKind::Otp]);
    }

    #[test]
    fn acr_values_in_order_of_preference() {
        assert!(acr_values_require_mfa(Some("2")));
        assert!(acr_values_require_mfa(Some("urn:x 2 1")));
        assert!(!acr_values_require_mfa(Some("1 2")));
        assert!(!acr_values_require_mfa(Some("urn:x")));
        assert!(!acr_values_require_mfa(None));
    }

    #[test]
    fn challenge_kinds_round_trip() {
        for k in [ChallengeKind::Browser, ChallengeKind::Api] {
            assert_eq!(ChallengeKind::parse(k.as_str()).unwrap(), k);
        }
    }
}
