//! Clients: list, show, create, change, delete, rotate the secret.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Page, PageRequest};
use crate::core::audit::{AuditStore, Kind};
use crate::core::clients::{
    Client, ClientId, ClientPolicy, ClientStore, GrantType, NewClient, PreviousSecret,
    TokenDelivery, normalize_origins,
};
use crate::core::error::{Error, Result};
use crate::core::scope::Scope;
use crate::core::secret::{self, SecretHash};

/// A client as the CLI's `--json` and the admin API show it: never its
/// secret or its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// A public client has no secret.
    pub public: bool,
    /// One of the organisation's own apps: skips consent.
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantTypeName>,
    /// Space-separated scopes the client may ask for.
    pub scope: String,
    pub audiences: Vec<String>,
    pub token_delivery: Delivery,
    pub allowed_origins: Vec<String>,
    pub require_dpop: bool,
    pub require_par: bool,
    /// Authorization requests are granted only to sessions with two
    /// factors (docs/mfa.md).
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// While a rotated secret still works: until when (Unix seconds).
    pub previous_secret_expires_at: Option<i64>,
}

/// A grant type's wire name (RFC 6749, RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum GrantTypeName {
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    #[serde(rename = "refresh_token")]
    RefreshToken,
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl From<GrantType> for GrantTypeName {
    fn from(g: GrantType) -> Self {
        match g {
            GrantType::AuthorizationCode => GrantTypeName::AuthorizationCode,
            GrantType::RefreshToken => GrantTypeName::RefreshToken,
            GrantType::ClientCredentials => GrantTypeName::ClientCredentials,
            GrantType::Password => GrantTypeName::Password,
            GrantType::DeviceCode => GrantTypeName::DeviceCode,
            GrantType::TokenExchange => GrantTypeName::TokenExchange,
        }
    }
}

impl From<GrantTypeName> for GrantType {
    fn from(g: GrantTypeName) -> Self {
        match g {
            GrantTypeName::AuthorizationCode => GrantType::AuthorizationCode,
            GrantTypeName::RefreshToken => GrantType::RefreshToken,
            GrantTypeName::ClientCredentials => GrantType::ClientCredentials,
            GrantTypeName::Password => GrantType::Password,
            GrantTypeName::DeviceCode => GrantType::DeviceCode,
            GrantTypeName::TokenExchange => GrantType::TokenExchange,
        }
    }
}

/// Where the refresh token goes: the JSON body, or an `HttpOnly` cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    Body,
    Cookie,
}

impl From<TokenDelivery> for Delivery {
    fn from(d: TokenDelivery) -> Self {
        match d {
            TokenDelivery::Body => Delivery::Body,
            TokenDelivery::Cookie => Delivery::Cookie,
        }
    }
}

impl From<Delivery> for TokenDelivery {
    fn from(d: Delivery) -> Self {
        match d {
            Delivery::Body => TokenDelivery::Body,
            Delivery::Cookie => TokenDelivery::Cookie,
        }
    }
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        ClientView {
            client_id: c.id.to_string(),
            name: c.name.clone(),
            public: c.is_public(),
            first_party: c.first_party,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.iter().map(|&g| g.into()).collect(),
            scope: c.scopes.to_string(),
            audiences: c.audiences.clone(),
            token_delivery: c.token_delivery.into(),
            allowed_origins: c.allowed_origins.clone(),
            require_dpop: c.policy.require_dpop,
            require_par: c.policy.require_par,
            require_mfa: c.policy.require_mfa,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            created_at: c.created_at,
            previous_secret_expires_at: c.previous_secret.as_ref().map(|p| p.expires_at),
        }
    }
}

/// A new client: its view and, for a confidential client, the secret,
/// shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientCreated {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown once; stored only hashed. Absent for a public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A client to register (`POST /admin/v1/clients`, `client create`).
/// Defaults as `client create` has them (docs/admin.md).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty: `authorization_code` and `refresh_token` for a client with
    /// redirect URIs or a public one, `client_credentials` otherwise.
    #[serde(default)]
    pub grant_types: Vec<GrantTypeName>,
    /// Space-separated. Absent: none for a `client_credentials`-only
    /// client, the OpenID Connect scopes otherwise.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub token_delivery: Option<Delivery>,
    /// Every token request must carry a DPoP proof (RFC 9449).
    #[serde(default)]
    pub require_dpop: bool,
    /// Authorization requests only by PAR (RFC 9126).
    #[serde(default)]
    pub require_par: bool,
    /// Sign-ins for this client need two factors (docs/mfa.md).
    #[serde(default)]
    pub require_mfa: bool,
    /// Where logout tokens go (OIDC Back-Channel Logout 1.0).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

/// A change to a client (`PATCH /admin/v1/clients/{id}`): each field
/// given replaces the stored one; the result must be a valid registration.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub first_party: Option<bool>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantTypeName>>,
    pub scope: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub token_delivery: Option<Delivery>,
    /// Sign-ins for this client need two factors (docs/mfa.md).
    pub require_mfa: Option<bool>,
}

/// A rotated secret: the new one, shown once, and until when the old one
/// still works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretRotated {
    pub client_id: String,
    pub client_secret: String,
    /// Unix seconds; `null` when the old secret stopped working at once.
    pub previous_secret_expires_at: Option<i64>,
}

/// A deletion's answer, as `client delete --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientDeleted {
    pub client_id: String,
    pub deleted: bool,
}

fn parse_scope(s: &str) -> Result<Scope> {
    Scope::parse(s).map_err(|_| {
        Error::invalid_request("scope: a scope token has a character RFC 6749 §3.3 forbids")
    })
}

/// The longest grace a rotation may give an old secret: 30 days.
pub const MAX_GRACE_SECONDS: i64 = 30 * 86_400;

impl<S: ClientStore + AuditStore> Admin<'_, S> {
    /// Clients, oldest first (`GET /admin/v1/clients`, `client list`).
    pub async fn list_clients(&self, page: &PageRequest) -> Result<Page<ClientView>> {
        let limit = page.limit()?;
        let after = page.after()?;
        // Few clients exist (they are registered by people): filtered in
        // memory, by the same key as the SQL pages of users and events.
        let mut rows: Vec<Client> = self
            .store
            .list_clients()
            .await?
            .into_iter()
            .filter(|c| match &after {
                Some((at, id)) => (c.created_at, c.id.as_str()) > (*at, id.as_str()),
                None => true,
            })
            .collect();
        rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        rows.truncate(usize::try_from(limit + 1).unwrap_or(usize::MAX));
        Ok(
            Page::from_rows(rows, limit, |c| (c.created_at, c.id.to_string()))
                .map(|c| ClientView::from(&c)),
        )
    }

    pub async fn get_client(&self, id: &str) -> Result<ClientView> {
        Ok(ClientView::from(&self.client(id).await?))
    }

    async fn client(&self, id: &str) -> Result<Client> {
        self.store
            .get_client(&ClientId::new(id))
            .await?
            .ok_or_else(|| Error::NotFound(format!("no client with id {id:?}").into()))
    }

    pub async fn create_client(&self, input: ClientInput) -> Result<ClientCreated> {
        let scopes = input.scope.as_deref().map(parse_scope).transpose()?;
        let new = NewClient {
            name: input.name,
            public: input.public,
            first_party: input.first_party,
            redirect_uris: input.redirect_uris,
            post_logout_redirect_uris: input.post_logout_redirect_uris,
            grant_types: input.grant_types.into_iter().map(Into::into).collect(),
            scopes,
            audiences: input.audiences,
            token_delivery: input.token_delivery.map(Into::into).unwrap_or_default(),
            allowed_origins: input.allowed_origins,
            policy: ClientPolicy {
                require_dpop: input.require_dpop,
                require_par: input.require_par,
                require_mfa: input.require_mfa,
            },
            backchannel_logout_uri: input.backchannel_logout_uri,
        };
        let (client, secret) = new.build(self.now)?;
        self.store.insert_client(&client).await?;
        self.audit(Kind::ClientCreate, |e| e.client(client.id.as_str()))
            .await?;
        Ok(ClientCreated {
            client: ClientView::from(&client),
            client_secret: secret.map(|s| s.expose().to_owned()),
        })
    }

    pub async fn update_client(&self, id: &str, patch: ClientPatch) -> Result<ClientView> {
        let mut c = self.client(id).await?;
        let mut changed = Vec::new();
        if let Some(v) = patch.name {
            c.name = v;
            changed.push("name");
        }
        if let Some(v) = patch.first_party {
            c.first_party = v;
            changed.push("first_party");
        }
        if let Some(v) = patch.redirect_uris {
            c.redirect_uris = v;
            changed.push("redirect_uris");
        }
        if let Some(v) = patch.post_logout_redirect_uris {
            c.post_logout_redirect_uris = v;
            changed.push("post_logout_redirect_uris");
        }
        if let Some(v) = patch.grant_types {
            let mut g: Vec<GrantType> = v.into_iter().map(Into::into).collect();
            g.sort();
            g.dedup();
            if g.is_empty() {
                return Err(Error::invalid_request(
                    "grant_types: a client needs at least one grant type",
                ));
            }
            c.grant_types = g;
            changed.push("grant_types");
        }
        if let Some(v) = patch.scope {
            c.scopes = parse_scope(&v)?;
            changed.push("scope");
        }
        if let Some(v) = patch.audiences {
            c.audiences = v;
            changed.push("audiences");
        }
        if let Some(v) = patch.allowed_origins {
            c.allowed_origins = normalize_origins(&v)?;
            changed.push("allowed_origins");
        }
        if let Some(v) = patch.token_delivery {
            c.token_delivery = v.into();
            changed.push("token_delivery");
        }
        if let Some(v) = patch.require_mfa {
            c.policy.require_mfa = v;
            changed.push("require_mfa");
        }
        c.check_registration()?;
        if !self.store.update_client(&c).await? {
            return Err(Error::NotFound(format!("no client with id {id:?}").into()));
        }
        self.audit(Kind::ClientUpdate, |e| {
            e.client(c.id.as_str()).detail(changed.join(" "))
        })
        .await?;
        Ok(ClientView::from(&c))
    }

    pub async fn delete_client(&self, id: &str) -> Result<ClientDeleted> {
        if !self.store.delete_client(&ClientId::new(id)).await? {
            return Err(Error::NotFound(format!("no client with id {id:?}").into()));
        }
        self.audit(Kind::ClientDelete, |e| e.client(id)).await?;
        Ok(ClientDeleted {
            client_id: id.to_owned(),
            deleted: true,
        })
    }

    /// A new secret for a confidential client. The old one keeps working
    /// for `grace_seconds` (0: it stops at once); a secret replaced by an
    /// earlier rotation stops now.
    pub async fn rotate_secret(&self, id: &str, grace_seconds: i64) -> Result<SecretRotated> {
        if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
            return Err(Error::invalid_request(format!(
                "grace_seconds: must be between 0 and {MAX_GRACE_SECONDS}"
            )));
        }
        let mut c = self.client(id).await?;
        let Some(old) = c.secret_hash.take() else {
            return Err(Error::invalid_request(
                "id: a public client has no secret to rotate",
            ));
        };
        let secret = secret::random_token()?;
        c.secret_hash = Some(SecretHash::of(&secret));
        c.previous_secret = (grace_seconds > 0).then(|| PreviousSecret {
            hash: old,
            expires_at: self.now + grace_seconds,
        });
        if !self.store.update_client(&c).await? {
            return Err(Error::NotFound(format!("no client with id {id:?}").into()));
        }
        self.audit(Kind::ClientRotateSecret, |e| {
            e.client(c.id.as_str())
                .detail(format!("grace {grace_seconds} s"))
        })
        .await?;
        Ok(SecretRotated {
            client_id: c.id.to_string(),
            client_secret: secret,
            previous_secret_expires_at: c.previous_secret.as_ref().map(|p| p.expires_at),
        })
    }
}
