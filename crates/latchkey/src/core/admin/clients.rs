//! Clients: list, show, create, change, delete, rotate the secret.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Admin, Page, PageRequest};
use crate::core::audit::{AuditStore, Kind};
use crate::core::clients::{
    Client, ClientId, ClientKeys, ClientPolicy, ClientStore, GrantType, NewClient, PreviousSecret,
    Profile, TokenDelivery, normalize_origins, validate_backchannel_logout_uri,
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
    /// `client_secret_basic` (a secret, by Basic or in the body),
    /// `private_key_jwt` or `none`.
    pub token_endpoint_auth_method: String,
    /// Where a `private_key_jwt` client's keys are fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The security profile the client follows (`fapi2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
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
            token_endpoint_auth_method: c.auth_method().as_str().to_owned(),
            jwks_uri: match &c.policy.keys {
                Some(ClientKeys::JwksUri(uri)) => Some(uri.clone()),
                _ => None,
            },
            profile: c.policy.profile.map(|p| p.as_str().to_owned()),
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
    /// Where logout tokens go (OIDC Back-Channel Logout 1.0).
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// `client_secret_basic` (the default for a confidential client),
    /// `private_key_jwt` (with `jwks` or `jwks_uri`) or `none` (a public
    /// client).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys, a JWK Set (RFC 7517 §5), for
    /// `private_key_jwt`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Where latchkey fetches the client's JWK Set, for `private_key_jwt`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A security profile: `fapi2` (docs/sender-constrained.md).
    #[serde(default)]
    pub profile: Option<String>,
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
    /// Every token request must carry a DPoP proof (RFC 9449).
    pub require_dpop: Option<bool>,
    /// Authorization requests only by PAR (RFC 9126).
    pub require_par: Option<bool>,
    /// Where logout tokens go (OIDC Back-Channel Logout 1.0); the empty
    /// string removes it.
    #[schema(max_length = 2000)]
    pub backchannel_logout_uri: Option<String>,
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

/// The keys of a registration from its `token_endpoint_auth_method`,
/// `jwks` and `jwks_uri` (RFC 7591 §2): `private_key_jwt` needs exactly one
/// of the two, and the other methods neither.
pub fn client_keys(
    method: Option<&str>,
    public: bool,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
) -> Result<Option<ClientKeys>> {
    let private_key_jwt = match method {
        Some("private_key_jwt") => true,
        None => jwks.is_some() || jwks_uri.is_some(),
        Some("client_secret_basic" | "client_secret_post") if !public => false,
        Some("none") if public => false,
        Some(_) => {
            return Err(Error::invalid_request(
                "token_endpoint_auth_method: client_secret_basic, client_secret_post or private_key_jwt for a confidential client, none for a public one",
            ));
        }
    };
    match (private_key_jwt, jwks, jwks_uri) {
        (false, None, None) => Ok(None),
        (false, _, _) => Err(Error::invalid_request(
            "jwks: keys are for token_endpoint_auth_method private_key_jwt",
        )),
        (true, Some(set), None) => Ok(Some(ClientKeys::Jwks(set))),
        (true, None, Some(uri)) => Ok(Some(ClientKeys::JwksUri(uri))),
        (true, _, _) => Err(Error::invalid_request(
            "jwks: private_key_jwt needs the client's keys: a jwks or a jwks_uri, not both",
        )),
    }
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
        let keys = client_keys(
            input.token_endpoint_auth_method.as_deref(),
            input.public,
            input.jwks,
            input.jwks_uri,
        )?;
        let profile = input
            .profile
            .as_deref()
            .map(|p| {
                Profile::parse(p)
                    .ok_or_else(|| Error::invalid_request("profile: the one profile is fapi2"))
            })
            .transpose()?;
        let mut new = NewClient {
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
                keys,
                profile: None,
            },
            backchannel_logout_uri: input.backchannel_logout_uri,
        };
        if let Some(profile) = profile {
            new.apply_profile(profile, self.settings.signing_alg)?;
        }
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
        if let Some(v) = patch.require_dpop {
            c.policy.require_dpop = v;
            changed.push("require_dpop");
        }
        if let Some(v) = patch.require_par {
            c.policy.require_par = v;
            changed.push("require_par");
        }
        if let Some(v) = patch.backchannel_logout_uri {
            // Characters, as the document's maxLength counts them.
            if v.chars().count() > 2000 {
                return Err(Error::invalid_request(
                    "backchannel_logout_uri: at most 2000 characters",
                ));
            }
            let v = v.trim();
            c.backchannel_logout_uri = if v.is_empty() {
                None
            } else {
                validate_backchannel_logout_uri(v)
                    .map_err(|e| prefixed("backchannel_logout_uri", e))?;
                Some(v.to_owned())
            };
            changed.push("backchannel_logout_uri");
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

/// Names the field an `invalid_request` is about.
fn prefixed(field: &str, e: Error) -> Error {
    match e.description().map(|d| d.into_owned()) {
        Some(d) => Error::invalid_request(format!("{field}: {d}")),
        None => e,
    }
}
