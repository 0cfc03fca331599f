//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592): `POST /v1/oauth/register` with an initial access token
//! (`latchkey client initial-token`), or without one when
//! `registration_open_dcr` is set; `GET`, `PUT`, `DELETE` of the
//! `registration_client_uri` with the registration access token.
//!
//! Tokens of both kinds are 256 bits from the OS's CSPRNG, stored as
//! SHA-256, compared in constant time. An initial token's use is one
//! conditional `UPDATE`: of two registrations racing for its last use,
//! one wins.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::Authority;
use super::audit::{AuditEvent, AuditStore, Kind, Outcome, write_now};
use super::clients::{
    Client, ClientId, ClientKeys, ClientPolicy, ClientStore, GrantType, NewClient, TokenDelivery,
    validate_backchannel_logout_uri, validate_redirect_uri,
};
use super::clock::UnixTime;
use super::error::{Error, Result};
use super::scope::{self, Scope};
use super::secret::{self, SecretHash};

/// Storage of initial access tokens and registration access tokens.
pub trait RegistrationStore: Send + Sync {
    /// Stores a new initial access token (its hash).
    fn insert_initial_token(
        &self,
        hash: &SecretHash,
        expires_at: Option<UnixTime>,
        uses: Option<i64>,
        now: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Spends one use of the initial token with this hash if it is live (not
    /// expired, uses left): one conditional update. Returns whether it was.
    fn spend_initial_token(
        &self,
        hash: &SecretHash,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Sets the registration access token of a client; returns whether the
    /// client exists.
    fn set_registration_token(
        &self,
        client: &ClientId,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The registration access token's hash of a client, if it has one.
    fn registration_token(
        &self,
        client: &ClientId,
    ) -> impl Future<Output = Result<Option<SecretHash>>> + Send;
}

/// An initial access token as `client initial-token --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct InitialToken {
    pub initial_access_token: String,
    /// Unix seconds; `null`: never.
    pub expires_at: Option<UnixTime>,
    /// Registrations it allows; `null`: any number.
    pub uses: Option<i64>,
}

/// Makes an initial access token (`latchkey client initial-token`).
pub async fn create_initial_token<S: RegistrationStore + AuditStore>(
    store: &S,
    now: UnixTime,
    expires_in: Option<i64>,
    uses: Option<i64>,
) -> Result<InitialToken> {
    if expires_in.is_some_and(|s| s <= 0) {
        return Err(Error::invalid_request("--expires-in must be positive"));
    }
    if uses.is_some_and(|n| n <= 0) {
        return Err(Error::invalid_request("--uses must be positive"));
    }
    let token = secret::random_token()?;
    let expires_at = expires_in.map(|s| now.saturating_add(s));
    store
        .insert_initial_token(&SecretHash::of(&token), expires_at, uses, now)
        .await?;
    Ok(InitialToken {
        initial_access_token: token,
        expires_at,
        uses,
    })
}

/// Client metadata (RFC 7591 §2), as sent. Members latchkey does not know
/// are ignored, as §2 says.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// RFC 7592 §2.2: a PUT names the client it updates.
    pub client_id: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.2: where logout tokens go.
    pub backchannel_logout_uri: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.2: latchkey always sends `sid`, so
    /// either value is accepted.
    pub backchannel_logout_session_required: Option<bool>,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: Option<bool>,
    /// RFC 9126 §6: authorization requests only by PAR.
    pub require_pushed_authorization_requests: Option<bool>,
}

/// A registered client's metadata as answered (RFC 7591 §3.2.1).
#[derive(Debug, Clone, Serialize)]
pub struct RegisteredClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: UnixTime,
    /// 0: the secret does not expire (present when a secret was issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    pub registration_client_uri: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub response_types: Vec<&'static str>,
    pub token_endpoint_auth_method: &'static str,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Present with a back-channel logout URI: logout tokens carry `sid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
    pub dpop_bound_access_tokens: bool,
    pub require_pushed_authorization_requests: bool,
}

/// The methods a registration may ask for (docs/admin.md).
const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

fn metadata_error(d: impl Into<String>) -> Error {
    Error::InvalidClientMetadata(d.into().into())
}

/// What a registration asks for, checked: the new client's registration.
fn to_new_client(m: &ClientMetadata) -> Result<NewClient> {
    for uri in m.redirect_uris.iter().chain(&m.post_logout_redirect_uris) {
        validate_redirect_uri(uri).map_err(|e| {
            Error::InvalidRedirectUri(
                e.description()
                    .map(|d| d.into_owned())
                    .unwrap_or_default()
                    .into(),
            )
        })?;
    }
    let method = m
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    if !AUTH_METHODS.contains(&method) {
        return Err(metadata_error(format!(
            "token_endpoint_auth_method {method:?} is not supported; use one of {}",
            AUTH_METHODS.join(", ")
        )));
    }
    let public = method == "none";
    let grant_names = m
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    let mut grant_types = Vec::new();
    for g in &grant_names {
        let grant = GrantType::parse(g)
            .ok_or_else(|| metadata_error(format!("grant_types: {g:?} is not supported")))?;
        // The password grant is for the organisation's own apps, which are
        // registered by an administrator, never by themselves.
        if grant == GrantType::Password {
            return Err(metadata_error(
                "grant_types: the password grant is for first-party clients only",
            ));
        }
        if public && grant == GrantType::ClientCredentials {
            return Err(metadata_error(
                "grant_types: client_credentials needs a secret (token_endpoint_auth_method none)",
            ));
        }
        grant_types.push(grant);
    }
    if grant_types.is_empty() {
        return Err(metadata_error("grant_types: at least one is needed"));
    }
    // RFC 7591 §2.1: response_types and grant_types must agree.
    let wants_code = grant_types.contains(&GrantType::AuthorizationCode);
    if let Some(rt) = &m.response_types {
        if rt.iter().any(|r| r != "code") {
            return Err(metadata_error("response_types: only \"code\" is supported"));
        }
        if !rt.is_empty() && !wants_code {
            return Err(metadata_error(
                "response_types: \"code\" needs the authorization_code grant",
            ));
        }
    }
    if wants_code && m.redirect_uris.is_empty() {
        return Err(Error::InvalidRedirectUri(
            "redirect_uris: the authorization_code grant needs at least one".into(),
        ));
    }
    if m.jwks.is_some() && m.jwks_uri.is_some() {
        return Err(metadata_error("jwks and jwks_uri must not both be present"));
    }
    // RFC 7591 §2: keys only with `private_key_jwt`, which needs them.
    let keys = match (method, &m.jwks, &m.jwks_uri) {
        ("private_key_jwt", Some(set), None) => Some(ClientKeys::Jwks(set.clone())),
        ("private_key_jwt", None, Some(uri)) => Some(ClientKeys::JwksUri(uri.clone())),
        ("private_key_jwt", _, _) => {
            return Err(metadata_error(
                "private_key_jwt needs the client's keys: jwks or jwks_uri",
            ));
        }
        _ => None,
    };
    let scopes = match &m.scope {
        Some(s) => {
            let s = Scope::parse(s).map_err(|_| metadata_error("scope: malformed"))?;
            if s.contains(scope::ADMIN) {
                return Err(metadata_error(
                    "scope: latchkey:admin is granted to registered administrators only",
                ));
            }
            Some(s)
        }
        None => None,
    };
    let name = m
        .client_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "dynamically registered client".to_owned());
    if name.len() > 200 {
        return Err(metadata_error("client_name: at most 200 characters"));
    }
    if let Some(uri) = &m.backchannel_logout_uri {
        validate_backchannel_logout_uri(uri).map_err(|e| {
            metadata_error(format!(
                "backchannel_logout_uri: {}",
                e.description().map(|d| d.into_owned()).unwrap_or_default()
            ))
        })?;
    }
    Ok(NewClient {
        name,
        public,
        first_party: false,
        redirect_uris: m.redirect_uris.clone(),
        post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
        grant_types,
        scopes,
        audiences: Vec::new(),
        token_delivery: TokenDelivery::Body,
        allowed_origins: Vec::new(),
        policy: ClientPolicy {
            require_dpop: m.dpop_bound_access_tokens.unwrap_or(false),
            require_par: m.require_pushed_authorization_requests.unwrap_or(false),
            keys,
            ..ClientPolicy::default()
        },
        backchannel_logout_uri: m.backchannel_logout_uri.clone(),
    })
}

fn answer(
    auth_issuer_url: String,
    client: &Client,
    secret: Option<String>,
    registration_access_token: Option<String>,
) -> RegisteredClient {
    let method = client.auth_method().as_str();
    RegisteredClient {
        client_id: client.id.to_string(),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: client.created_at,
        registration_access_token,
        registration_client_uri: auth_issuer_url,
        client_name: client.name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
        response_types: if client.allows_grant(GrantType::AuthorizationCode) {
            vec!["code"]
        } else {
            Vec::new()
        },
        token_endpoint_auth_method: method,
        scope: client.scopes.to_string(),
        backchannel_logout_uri: client.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: client.backchannel_logout_uri.as_ref().map(|_| true),
        dpop_bound_access_tokens: client.policy.require_dpop,
        require_pushed_authorization_requests: client.policy.require_par,
    }
}

fn client_uri<S>(auth: &Authority<S>, id: &ClientId) -> String {
    auth.settings
        .url(&format!("{}/{id}", super::discovery::paths::REGISTRATION))
}

/// RFC 7591 §3: registers a client. `bearer` is the initial access token
/// (required unless `registration_open_dcr`; expired, used up, unknown or
/// missing: `invalid_token`).
pub async fn register<S: ClientStore + RegistrationStore + AuditStore>(
    auth: &Authority<S>,
    bearer: Option<&str>,
    metadata: &ClientMetadata,
) -> Result<RegisteredClient> {
    let now = auth.clock.now();
    // The token is checked before the metadata is, and spent only when the
    // registration is valid: a typo in the metadata does not cost a use.
    let new = match bearer {
        None if auth.settings.registration_open_dcr => to_new_client(metadata)?,
        None => {
            return Err(Error::InvalidToken(
                "registration needs an initial access token".into(),
            ));
        }
        Some(token) => {
            let new = to_new_client(metadata)?;
            if !auth
                .store
                .spend_initial_token(&SecretHash::of(token), now)
                .await?
            {
                return Err(Error::InvalidToken(
                    "the initial access token is unknown, expired or used up".into(),
                ));
            }
            new
        }
    };
    let (client, secret) = new.build(now).map_err(as_metadata_error)?;
    auth.store.insert_client(&client).await?;
    let reg_token = secret::random_token()?;
    auth.store
        .set_registration_token(&client.id, &SecretHash::of(&reg_token))
        .await?;
    write_now(
        &auth.store,
        AuditEvent::new(now, Kind::ClientCreate, "anonymous", Outcome::Success)
            .client(client.id.as_str())
            .detail("dynamic client registration"),
    )
    .await?;
    Ok(answer(
        client_uri(auth, &client.id),
        &client,
        secret.map(|s| s.expose().to_owned()),
        Some(reg_token),
    ))
}

/// A validation error of `NewClient::build` as RFC 7591 names it.
fn as_metadata_error(e: Error) -> Error {
    match e {
        Error::InvalidRequest(d)
            if d.starts_with("redirect_uris") || d.starts_with("post_logout") =>
        {
            Error::InvalidRedirectUri(d)
        }
        Error::InvalidRequest(d) => Error::InvalidClientMetadata(d),
        e => e,
    }
}

/// RFC 7592 §2: the client the registration access token manages. Any
/// failure, an unknown client included, is `invalid_token` (§2.1, §2.2,
/// §2.3: 401).
async fn managed<S: ClientStore + RegistrationStore>(
    auth: &Authority<S>,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<Client> {
    let invalid =
        || Error::InvalidToken("the registration access token is not valid for this client".into());
    let token = bearer.ok_or_else(invalid)?;
    let id = ClientId::new(client_id);
    let stored = auth.store.registration_token(&id).await?;
    let ok = stored.is_some_and(|h| h.matches(token));
    if !ok {
        return Err(invalid());
    }
    auth.store.get_client(&id).await?.ok_or_else(invalid)
}

/// RFC 7592 §2.1: reads a registration.
pub async fn read<S: ClientStore + RegistrationStore>(
    auth: &Authority<S>,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<RegisteredClient> {
    let client = managed(auth, client_id, bearer).await?;
    Ok(answer(client_uri(auth, &client.id), &client, None, None))
}

/// RFC 7592 §2.2: replaces a registration's metadata. The body names the
/// client (`client_id`); a field left out is reset to its default, as a
/// PUT does.
pub async fn update<S: ClientStore + RegistrationStore + AuditStore>(
    auth: &Authority<S>,
    client_id: &str,
    bearer: Option<&str>,
    metadata: &ClientMetadata,
) -> Result<RegisteredClient> {
    let mut client = managed(auth, client_id, bearer).await?;
    if metadata.client_id.as_deref() != Some(client_id) {
        return Err(metadata_error("client_id: must be the client's id"));
    }
    let new = to_new_client(metadata)?;
    if new.public != client.is_public() {
        return Err(metadata_error(
            "token_endpoint_auth_method: a client cannot change between public and confidential",
        ));
    }
    if new.policy.keys.is_some() != client.policy.keys.is_some() {
        return Err(metadata_error(
            "token_endpoint_auth_method: a client cannot change between a secret and private_key_jwt",
        ));
    }
    let (rebuilt, _) = new.build(client.created_at).map_err(as_metadata_error)?;
    client.policy.keys = rebuilt.policy.keys;
    client.name = rebuilt.name;
    client.redirect_uris = rebuilt.redirect_uris;
    client.post_logout_redirect_uris = rebuilt.post_logout_redirect_uris;
    client.grant_types = rebuilt.grant_types;
    client.scopes = rebuilt.scopes;
    client.policy.require_dpop = rebuilt.policy.require_dpop;
    client.policy.require_par = rebuilt.policy.require_par;
    client.backchannel_logout_uri = rebuilt.backchannel_logout_uri;
    client.check_registration().map_err(as_metadata_error)?;
    auth.store.update_client(&client).await?;
    write_now(
        &auth.store,
        AuditEvent::new(
            auth.clock.now(),
            Kind::ClientUpdate,
            format!("client:{}", client.id),
            Outcome::Success,
        )
        .client(client.id.as_str())
        .detail("dynamic client registration"),
    )
    .await?;
    Ok(answer(client_uri(auth, &client.id), &client, None, None))
}

/// RFC 7592 §2.3: deletes a registration.
pub async fn delete<S: ClientStore + RegistrationStore + AuditStore>(
    auth: &Authority<S>,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<()> {
    let client = managed(auth, client_id, bearer).await?;
    auth.store.delete_client(&client.id).await?;
    write_now(
        &auth.store,
        AuditEvent::new(
            auth.clock.now(),
            Kind::ClientDelete,
            format!("client:{}", client.id),
            Outcome::Success,
        )
        .client(client.id.as_str())
        .detail("dynamic client registration"),
    )
    .await?;
    Ok(())
}
