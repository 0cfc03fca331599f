//! Users: list and search, show, create, change, delete, end sessions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Page, PageRequest};
use crate::core::accounts::{self, AccountStore};
use crate::core::audit::{AuditStore, Kind};
use crate::core::device::DeviceStore;
use crate::core::error::{Error, Result};
use crate::core::password::PasswordHasher;
use crate::core::refresh::RefreshTokenStore;
use crate::core::secret::Secret;
use crate::core::sessions::SessionStore;
use crate::core::users::{NewUser, User, UserId, UserQuery, UserStore};

/// A user as the CLI's `--json` and the admin API show it: never the
/// password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub email_verified: bool,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.to_string(),
            email: u.email.clone(),
            name: u.name.clone(),
            roles: u.roles.clone(),
            disabled: u.disabled,
            email_verified: u.email_verified,
            created_at: u.created_at,
        }
    }
}

/// A user to create (`POST /admin/v1/users`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// One `@` with something on both sides, no spaces.
    #[schema(min_length = 3, max_length = 254, pattern = r"^[^\s@]+@[^\s@]+$")]
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Hashed with Argon2id; never stored or shown as given. 8 characters
    /// at least, 1024 bytes at most.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// A change to a user (`PATCH /admin/v1/users/{id}`). Disabling revokes
/// every refresh token and browser session of the user, as `user disable`
/// does.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// An empty name removes it.
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
    /// Whether the address is known to be the user's.
    pub email_verified: Option<bool>,
}

/// What ending a user's sessions did, as `user revoke-sessions --json`
/// prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevokedSessions {
    pub id: String,
    pub email: String,
    pub revoked_refresh_token_families: u64,
    pub ended_browser_sessions: u64,
}

/// A deletion's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserDeleted {
    pub id: String,
    pub deleted: bool,
}

fn check_roles(roles: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for r in roles {
        let r = r.trim();
        if r.is_empty() || r.len() > 100 || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid_request(
                "roles: a role is 1 to 100 characters without spaces",
            ));
        }
        out.push(r.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn check_name(name: Option<String>) -> Result<Option<String>> {
    match name {
        Some(n) if n.len() > 200 => Err(Error::invalid_request("name: at most 200 characters")),
        Some(n) if n.trim().is_empty() => Ok(None),
        n => Ok(n),
    }
}

impl<S> Admin<'_, S>
where
    S: UserStore + RefreshTokenStore + SessionStore + DeviceStore + AccountStore + AuditStore,
{
    /// Users, oldest first; `q` matches a part of the email or the name.
    pub async fn list_users(&self, q: Option<&str>, page: &PageRequest) -> Result<Page<UserView>> {
        let limit = page.limit()?;
        let q = q.map(str::trim).filter(|q| !q.is_empty());
        if q.is_some_and(|q| q.len() > 254) {
            return Err(Error::invalid_request("q: at most 254 characters"));
        }
        let rows = self
            .store
            .search_users(&UserQuery {
                q: q.map(str::to_owned),
                after: page.after()?,
                limit: limit + 1,
            })
            .await?;
        Ok(
            Page::from_rows(rows, limit, |u| (u.created_at, u.id.to_string()))
                .map(|u| UserView::from(&u)),
        )
    }

    pub async fn get_user(&self, id: &str) -> Result<UserView> {
        Ok(UserView::from(&self.user(id).await?))
    }

    async fn user(&self, id: &str) -> Result<User> {
        self.store
            .get_user(&UserId::new(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user with id {id:?}").into()))
    }

    /// Creates a user; the password is hashed by `hasher` (off the async
    /// runtime).
    pub async fn create_user(&self, input: UserInput, hasher: &PasswordHasher) -> Result<UserView> {
        let roles = check_roles(&input.roles)?;
        let name = check_name(input.name)?;
        let password = Secret::new(input.password);
        if password.expose().is_empty() {
            return Err(Error::invalid_request("password: must not be empty"));
        }
        // Characters, as the document's minLength counts them (the
        // hasher's own bound counts bytes).
        if password.expose().chars().count() < crate::core::password::MIN_PASSWORD_LEN {
            return Err(Error::invalid_request(format!(
                "password: at least {} characters",
                crate::core::password::MIN_PASSWORD_LEN
            )));
        }
        // Made by an administrator, as `user create` makes one: the
        // address counts as verified (PATCH `email_verified` changes it).
        let new = NewUser {
            email: input.email,
            name,
            roles,
            unverified: false,
        };
        // Validate before the slow hash.
        new.clone()
            .build(String::new(), self.now)
            .map_err(|e| prefixed("email", e))?;
        let hash = hasher
            .hash(&password)
            .await
            .map_err(|e| prefixed("password", e))?;
        let user = new.build(hash, self.now)?;
        self.store
            .insert_user(&user)
            .await
            .map_err(|e| prefixed("email", e))?;
        self.audit(Kind::UserCreate, |e| e.user(user.id.as_str()))
            .await?;
        Ok(UserView::from(&user))
    }

    pub async fn update_user(&self, id: &str, patch: UserPatch) -> Result<UserView> {
        let user = self.user(id).await?;
        let mut changed = Vec::new();
        if patch.name.is_some() || patch.roles.is_some() {
            let name = match patch.name {
                Some(n) => {
                    changed.push("name");
                    check_name(Some(n))?
                }
                None => user.name.clone(),
            };
            let roles = match &patch.roles {
                Some(r) => {
                    changed.push("roles");
                    check_roles(r)?
                }
                None => user.roles.clone(),
            };
            self.store
                .update_user_profile(&user.id, name.as_deref(), &roles, self.now)
                .await?;
            self.audit(Kind::UserUpdate, |e| {
                e.user(user.id.as_str()).detail(changed.join(" "))
            })
            .await?;
        }
        match patch.disabled {
            Some(true) if !user.disabled => {
                let revoked = accounts::disable(self.store, &user.id, self.now)
                    .await?
                    .unwrap_or_default();
                self.audit(Kind::UserDisable, |e| {
                    e.user(user.id.as_str()).detail(format!(
                        "{} refresh-token families revoked",
                        revoked.refresh_families
                    ))
                })
                .await?;
            }
            Some(false) if user.disabled => {
                accounts::enable(self.store, &user.id, self.now).await?;
                self.audit(Kind::UserEnable, |e| e.user(user.id.as_str()))
                    .await?;
            }
            _ => {}
        }
        if let Some(verified) = patch.email_verified
            && verified != user.email_verified
        {
            self.store
                .set_email_verified(&user.id, verified, self.now)
                .await?;
            self.audit(Kind::UserVerifyEmail, |e| {
                e.user(user.id.as_str())
                    .detail(format!("email_verified {verified}"))
            })
            .await?;
        }
        self.get_user(id).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<UserDeleted> {
        // Its refresh families go with it (the schema cascades); its access
        // tokens expire on their own, and a deleted user's token is refused
        // by latchkey's own endpoints.
        if !accounts::delete(self.store, &UserId::new(id)).await? {
            return Err(Error::NotFound(format!("no user with id {id:?}").into()));
        }
        self.audit(Kind::UserDelete, |e| e.user(id)).await?;
        Ok(UserDeleted {
            id: id.to_owned(),
            deleted: true,
        })
    }

    /// Revokes every refresh token and browser session of the user.
    pub async fn revoke_sessions(&self, id: &str) -> Result<RevokedSessions> {
        let user = self.user(id).await?;
        let revoked = accounts::revoke_sessions(self.store, &user.id, self.now).await?;
        self.audit(Kind::UserRevokeSessions, |e| {
            e.user(user.id.as_str()).detail(format!(
                "{} refresh-token families revoked",
                revoked.refresh_families
            ))
        })
        .await?;
        Ok(RevokedSessions {
            id: user.id.to_string(),
            email: user.email,
            revoked_refresh_token_families: revoked.refresh_families,
            ended_browser_sessions: revoked.browser_sessions,
        })
    }
}

/// Names the field an `invalid_request` is about.
fn prefixed(field: &str, e: Error) -> Error {
    match &e {
        Error::InvalidRequest(d) => Error::invalid_request(format!("{field}: {d}")),
        _ => e,
    }
}
