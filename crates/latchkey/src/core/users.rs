//! Users: the people who sign in.

use std::fmt;
use std::future::Future;

use super::clock::UnixTime;
use super::error::{Error, Result};

/// A user id: a UUID, the `sub` of the user's tokens. A distinct type so
/// that a user id cannot be passed where a client id is meant; `as_str` and
/// `Display` give the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UserId {
    fn from(id: &str) -> Self {
        UserId(id.to_owned())
    }
}

impl From<String> for UserId {
    fn from(id: String) -> Self {
        UserId(id)
    }
}

impl UserId {
    /// An id as presented (a token's `sub`, a CLI argument) or stored. Not
    /// validated: an unknown id simply finds no user.
    pub fn new(id: impl Into<String>) -> Self {
        UserId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The role that makes a user an administrator: only such a user is granted
/// the admin API's scope and admitted to the console (docs/admin.md).
pub const ADMIN_ROLE: &str = "admin";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// As the user typed it; lookups go through [`normalize_email`].
    pub email: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    /// Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub password_hash: String,
    pub disabled: bool,
    /// Whether the user proved they read mail at `email` (the link of the
    /// verification e-mail), or an operator vouched for it. Under
    /// `email_verification = "required"` an unverified user cannot sign in.
    pub email_verified: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// The form of an email address that uniqueness and lookups use: trimmed and
/// lowercased, so that `Alice@Example.com` and `alice@example.com` are one user.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What an administrator gives to create a user (the password is hashed by the
/// caller, off the async runtime).
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    /// The address still needs verifying (self-registration). Users made by
    /// an operator start verified: the default.
    pub unverified: bool,
}

impl NewUser {
    pub fn build(self, password_hash: String, now: UnixTime) -> Result<User> {
        let email = self.email.trim().to_owned();
        // A light check: one '@' with something on both sides, no spaces, and the
        // RFC 5321 length limit. Deliverability is not latchkey's business.
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            });
        if !valid {
            return Err(Error::invalid_request(format!(
                "{email:?} is not an email address"
            )));
        }
        let mut roles = self.roles;
        roles.retain(|r| !r.trim().is_empty());
        roles.sort();
        roles.dedup();
        Ok(User {
            id: UserId::new(uuid::Uuid::new_v4().to_string()),
            email,
            name: self.name.filter(|n| !n.trim().is_empty()),
            roles,
            password_hash,
            disabled: false,
            email_verified: !self.unverified,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A page of users (the admin API's `GET /admin/v1/users`): oldest first,
/// after a cursor.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Matches a part of the email or the name, case-insensitively.
    pub q: Option<String>,
    /// Only users after this `(created_at, id)`, in that order.
    pub after: Option<(UnixTime, String)>,
    pub limit: i64,
}

/// Storage of users.
///
/// Contract: emails are unique case-insensitively (by [`normalize_email`]).
pub trait UserStore: Send + Sync {
    /// Inserts a new user; `invalid_request` if the email is taken.
    fn insert_user(&self, user: &User) -> impl Future<Output = Result<()>> + Send;
    fn get_user(&self, id: &UserId) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Looks a user up by email, case-insensitively.
    fn find_user_by_email(&self, email: &str) -> impl Future<Output = Result<Option<User>>> + Send;
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// The users `query` selects, ordered by `(created_at, id)`: a walk
    /// from cursor to cursor never sees a user twice, whatever is inserted
    /// meanwhile.
    fn search_users(&self, query: &UserQuery) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Sets the name and roles; returns whether the user exists.
    fn update_user_profile(
        &self,
        id: &UserId,
        name: Option<&str>,
        roles: &[String],
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Sets the disabled flag; returns whether the user exists.
    fn set_user_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Replaces the password hash (a rehash with stronger parameters, or a new
    /// password); returns whether the user exists.
    fn set_password_hash(
        &self,
        id: &UserId,
        hash: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Sets whether the address is verified; returns whether the user exists.
    fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes the user and, by the schema's cascades, every row that names
    /// it (sessions, refresh families and tokens, codes, consents, pending
    /// account tokens, device approvals), plus the e-mails still queued for
    /// it; returns whether the user existed.
    fn delete_user(&self, id: &UserId) -> impl Future<Output = Result<bool>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_normalized() {
        let u = NewUser {
            email: " Alice@Example.com ".into(),
            roles: vec!["b".into(), "a".into(), "a".into(), " ".into()],
            ..Default::default()
        }
        .build("h".into(), 1)
        .unwrap();
        assert_eq!(u.email, "Alice@Example.com");
        assert_eq!(normalize_email(&u.email), "alice@example.com");
        assert_eq!(u.roles, ["a", "b"]);
        for bad in ["", "alice", "@x", "a@", "a b@c", "a@b@c"] {
            let r = NewUser {
                email: bad.into(),
                ..Default::default()
            }
            .build("h".into(), 1);
            assert!(r.is_err(), "{bad:?}");
        }
    }
}
