//! Refresh tokens (RFC 6749 §1.5, §6): what is stored, and the families
//! they form.
//!
//! A refresh token is 256 bits from the OS CSPRNG, base64url; only its
//! SHA-256 is stored. The tokens descending from one grant form a *family*
//! ([`RefreshFamily`]): started by the grant that issues to a user
//! ([`family::start`], from `tokens::prepare_user_tokens`), revoked as a
//! whole ([`family::revoke_by_token`], `user disable`, a replayed code), and
//! never outliving its absolute lifetime. Every use *rotates* the token and
//! a reused one revokes its family: that is the refresh token grant,
//! `grants::refresh_token`, the one place rotation lives.
//!
//! **Invariant:** a token is live only while its family is: unused,
//! unexpired, in a family neither revoked nor past its absolute expiry.

pub mod family;

use std::future::Future;

use super::clients::ClientId;
use super::clock::UnixTime;
use super::dpop::Jkt;
use super::error::{Error, Result};
use super::scope::Scope;
use super::secret::SecretHash;
use super::users::UserId;

/// Presented refresh tokens longer than this are refused unhashed (ours are
/// 43 characters).
pub const MAX_TOKEN_LEN: usize = 512;

/// The one answer to a refresh token that cannot be used, whatever the
/// reason: unknown, another client's, expired, revoked, reused.
pub fn invalid_refresh() -> Error {
    Error::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// What a family of refresh tokens was issued from, so that the grant can
/// be undone: a replayed authorization code revokes what it issued
/// (RFC 6749 §4.1.2) through [`RefreshTokenStore::revoke_families_by_origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FamilyOrigin {
    /// A password sign-in: `/v1/signin` or `grant_type=password`.
    Password,
    /// An authorization code, named by its SHA-256.
    Code(SecretHash),
    /// A device authorization, named by the SHA-256 of its device code.
    Device(SecretHash),
}

impl FamilyOrigin {
    /// The column's text: `password`, `code:<hash>`, `device:<hash>`. The
    /// one place these prefixes are spelled.
    pub fn to_stored(&self) -> String {
        match self {
            FamilyOrigin::Password => "password".to_owned(),
            FamilyOrigin::Code(h) => format!("code:{}", h.as_str()),
            FamilyOrigin::Device(h) => format!("device:{}", h.as_str()),
        }
    }

    /// Reads the column back; anything else is a corrupt row.
    pub fn from_stored(s: &str) -> Result<Self> {
        let hash = |h: &str| SecretHash::from_stored(h.to_owned());
        match s.split_once(':') {
            None if s == "password" => Ok(FamilyOrigin::Password),
            Some(("code", h)) if !h.is_empty() => Ok(FamilyOrigin::Code(hash(h))),
            Some(("device", h)) if !h.is_empty() => Ok(FamilyOrigin::Device(hash(h))),
            _ => Err(Error::internal(format!(
                "corrupt refresh family origin {s:?}"
            ))),
        }
    }
}

/// The tokens descending from one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// The scope the resource owner granted; a refresh may narrow it for one
    /// access token, never widen it.
    pub scope: Scope,
    pub auth_time: Option<UnixTime>,
    /// `None` only for families stored before origins were recorded.
    pub origin: Option<FamilyOrigin>,
    pub created_at: UnixTime,
    /// The absolute lifetime (`refresh_token_absolute_ttl_seconds` from
    /// creation): no token of the family outlives it.
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// For a public client that used DPoP: the key every refresh must prove
    /// possession of (RFC 9449 §5).
    pub dpop_jkt: Option<Jkt>,
}

impl RefreshFamily {
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// One refresh token as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: SecretHash,
    pub family_id: String,
    pub issued_at: UnixTime,
    /// The idle lifetime, capped by the family's absolute one.
    pub expires_at: UnixTime,
}

/// A family about to be stored together with its first token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    pub family: RefreshFamily,
    pub first_token: RefreshTokenRecord,
}

/// What an access token minted from a refresh needs to know about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub email: String,
    pub roles: Vec<String>,
    pub disabled: bool,
}

/// A stored refresh token with its family and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub record: RefreshTokenRecord,
    /// When a rotation consumed it.
    pub used_at: Option<UnixTime>,
    /// The hash of the token that rotation issued.
    pub successor_hash: Option<SecretHash>,
    pub family: RefreshFamily,
    pub owner: TokenOwner,
}

impl StoredRefreshToken {
    /// Unused, unexpired, in a live family.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.used_at.is_none() && now < self.record.expires_at && self.family.is_live(now)
    }
}

/// A refresh grant's read and rotation in one step: rotate `used` into
/// `successor` if the token is unused, unexpired, in a live family issued to
/// `client_id` whose user is enabled, and bound to no DPoP key or to
/// `dpop_jkt` — every check the grant makes before consuming a token that
/// the database can make.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub used: &'a SecretHash,
    pub successor: &'a SecretHash,
    pub client_id: &'a ClientId,
    pub dpop_jkt: Option<&'a Jkt>,
    pub now: UnixTime,
    /// The successor's idle expiry; the family's absolute expiry caps it.
    pub expires_at: UnixTime,
}

/// What a [`Claim`] found, and whether it rotated the token. The token is as
/// it stood before or after the claim, depending on the backend: with
/// `claimed` it was unused and is now used; without, its `used_at` says
/// whether someone else had rotated it (if `None`, look again).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub token: StoredRefreshToken,
    pub claimed: bool,
}

/// Storage of refresh tokens.
///
/// Contracts (checked by `tests/it/store.rs` on both backends):
/// - `rotate_refresh_token` yields a successor at most once per token, however
///   many callers race, in however many processes;
/// - a token is live only while its family is: revoking a family kills every
///   token of it, including one inserted concurrently with the revocation.
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a new family and its first token, atomically.
    fn insert_family(&self, new: &NewFamily) -> impl Future<Output = Result<()>> + Send;

    /// The token with this hash, with its family and user; `None` if unknown
    /// (or purged).
    fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<StoredRefreshToken>>> + Send;

    /// In one transaction: marks `used` as used at `now` (recording
    /// `successor`'s hash) and inserts `successor`, if and only if `used` is
    /// unused, unexpired and in a live family. Returns whether it did; `false`
    /// means another call consumed the token first, or it died meanwhile.
    fn rotate_refresh_token(
        &self,
        used: &SecretHash,
        successor: &RefreshTokenRecord,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Reads the token and, in the same transaction, rotates it if
    /// [`Claim`] holds; `None` if the token is unknown. The same contract as
    /// `rotate_refresh_token`: at most one caller is told `claimed`.
    fn claim_refresh_token(
        &self,
        claim: &Claim<'_>,
    ) -> impl Future<Output = Result<Option<Claimed>>> + Send;

    /// Revokes a family. Returns whether it was live.
    fn revoke_family(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Revokes one family if it is the user's and live; returns whether it
    /// did (the account page's sign-out of an app).
    fn revoke_user_family(
        &self,
        user_id: &UserId,
        family_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Revokes every live family of a user. Returns how many.
    fn revoke_user_families(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Revokes every live family issued from `origin`. Returns how many.
    fn revoke_families_by_origin(
        &self,
        origin: &FamilyOrigin,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes tokens past their idle expiry and families past their absolute
    /// expiry or revoked. Returns how many rows went.
    fn purge_refresh_tokens(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn origins_round_trip_through_their_stored_text() {
        let h = SecretHash::of("c");
        for o in [
            FamilyOrigin::Password,
            FamilyOrigin::Code(h.clone()),
            FamilyOrigin::Device(h.clone()),
        ] {
            assert_eq!(FamilyOrigin::from_stored(&o.to_stored()).unwrap(), o);
        }
        assert_eq!(
            FamilyOrigin::Code(h.clone()).to_stored(),
            format!("code:{}", h.as_str())
        );
        for bad in ["", "code:", "pass", "token:x", "password:x"] {
            assert!(FamilyOrigin::from_stored(bad).is_err(), "{bad:?}");
        }
    }
}
