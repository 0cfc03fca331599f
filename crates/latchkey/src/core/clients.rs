//! OAuth clients: their registration, and client authentication (RFC 6749 §2.3).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};

use super::clock::UnixTime;
use super::error::{Error, Result};
use super::generation::{Freshness, Generation};
use super::scope::Scope;
use super::secret::{self, Secret, SecretHash};

/// A client identifier. Public: it appears in URLs and tokens. A distinct
/// type so that a client id cannot be passed where a user id is meant (both
/// are UUID strings); `as_str` and `Display` give the text.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ClientId(String);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ClientId {
    fn from(id: &str) -> Self {
        ClientId(id.to_owned())
    }
}

impl From<String> for ClientId {
    fn from(id: String) -> Self {
        ClientId(id)
    }
}

impl ClientId {
    /// An id as presented or stored. Not validated: an unknown id simply
    /// finds no client.
    pub fn new(id: impl Into<String>) -> Self {
        ClientId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time (client ids are not secret, but comparing
    /// them so costs nothing and removes a question).
    pub fn matches(&self, other: &ClientId) -> bool {
        secret::constant_time_eq(&self.0, &other.0)
    }
}

/// The grant types a client may be registered for (`client create
/// --grant-type`; docs/endpoints.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Password,
    DeviceCode,
    /// RFC 8693 token exchange.
    TokenExchange,
}

impl GrantType {
    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::DeviceCode,
        GrantType::TokenExchange,
    ];

    /// The `grant_type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// How a client receives its refresh token (docs/first-party-apps.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenDelivery {
    /// In the JSON body, as RFC 6749 says.
    #[default]
    Body,
    /// In the `HttpOnly` cookie `latchkey_refresh`, for browser apps that should
    /// never hold their refresh token in script-readable memory.
    Cookie,
}

impl TokenDelivery {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenDelivery::Body => "body",
            TokenDelivery::Cookie => "cookie",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "body" => Some(TokenDelivery::Body),
            "cookie" => Some(TokenDelivery::Cookie),
            _ => None,
        }
    }
}

/// What a client must do beyond authenticating: the strict-client
/// settings of docs/sender-constrained.md. Stored as one JSON column so
/// that a new requirement is a field, not a migration; a member missing
/// from a stored row takes its default (nothing required).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ClientPolicy {
    /// Every token request must carry a DPoP proof (RFC 9449); its tokens
    /// are all bound to the proof's key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_dpop: bool,
    /// Authorization requests only by PAR (RFC 9126 §5).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_par: bool,
    /// The keys of a client that authenticates with `private_key_jwt`
    /// (RFC 7523; `core::client_assertion`). Such a client has no secret
    /// and is confidential all the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<ClientKeys>,
    /// The security profile the client follows (`client create --profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

pub use super::client_assertion::ClientKeys;

/// A security profile: a named set of requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The FAPI 2.0 Security Profile (final), docs/sender-constrained.md.
    Fapi2,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fapi2 => "fapi2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fapi2" => Some(Profile::Fapi2),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A secret, by HTTP Basic or in the body (both are accepted).
    ClientSecretBasic,
    /// A JWT signed by one of the client's keys (RFC 7523).
    PrivateKeyJwt,
    /// A public client names itself.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

impl ClientPolicy {
    /// The stored text.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads the stored text; anything unreadable is a corrupt row.
    pub fn from_stored(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::internal(format!("corrupt client policy: {e}")))
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    /// `None` for a public client, which cannot keep a secret (RFC 6749 §2.1).
    pub secret_hash: Option<SecretHash>,
    /// First-party clients are the organisation's own apps: they skip consent and
    /// may use the password grant.
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// The scopes this client may ask for.
    pub scopes: Scope,
    /// The audiences (RFC 8707 resources) this client may ask tokens for.
    pub audiences: Vec<String>,
    pub token_delivery: TokenDelivery,
    /// The web origins (`scheme://host[:port]`, normalised by
    /// [`normalize_origin`]) whose browser code may read this
    /// client's answers across origins (CORS; docs/cors-and-tls.md).
    pub allowed_origins: Vec<String>,
    /// What the client must do beyond authenticating (DPoP, ...).
    pub policy: ClientPolicy,
    /// Where latchkey POSTs a logout token when a browser session in which
    /// this client got an ID token ends (OIDC Back-Channel Logout 1.0;
    /// docs/logout-and-exchange.md).
    pub backchannel_logout_uri: Option<String>,
    pub created_at: UnixTime,
    /// The secret a rotation replaced, still accepted until its grace ends
    /// (`client rotate-secret --grace`; docs/admin.md).
    pub previous_secret: Option<PreviousSecret>,
}

/// A replaced client secret during its grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: SecretHash,
    /// Accepted while `now < expires_at`.
    pub expires_at: UnixTime,
}

impl Client {
    /// A client that cannot authenticate (RFC 6749 §2.1): no secret and no
    /// keys.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.policy.keys.is_none()
    }

    pub fn auth_method(&self) -> AuthMethod {
        if self.policy.keys.is_some() {
            AuthMethod::PrivateKeyJwt
        } else if self.secret_hash.is_some() {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::None
        }
    }

    /// Whether the client follows the FAPI 2.0 profile.
    pub fn is_fapi2(&self) -> bool {
        self.policy.profile == Some(Profile::Fapi2)
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// "The authenticated client is not authorized to use this authorization grant
    /// type" otherwise (RFC 6749 §5.2).
    pub fn require_grant(&self, grant: GrantType) -> Result<()> {
        if self.allows_grant(grant) {
            Ok(())
        } else {
            Err(Error::UnauthorizedClient(
                format!(
                    "the client is not registered for the {} grant",
                    grant.as_str()
                )
                .into(),
            ))
        }
    }
}

/// What an administrator asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Empty means the defaults of [`NewClient::build`].
    pub grant_types: Vec<GrantType>,
    /// `None` means the defaults of [`NewClient::build`].
    pub scopes: Option<Scope>,
    pub audiences: Vec<String>,
    pub token_delivery: TokenDelivery,
    /// Origins as given; [`NewClient::build`] validates and normalises them.
    pub allowed_origins: Vec<String>,
    /// What the client must do beyond authenticating.
    pub policy: ClientPolicy,
    /// OIDC Back-Channel Logout 1.0 §2.2: an absolute `http(s)` URI
    /// without a fragment.
    pub backchannel_logout_uri: Option<String>,
}

/// The scopes a client that signs people in gets when none are given.
pub const DEFAULT_USER_SCOPES: &str = "openid profile email offline_access";

impl NewClient {
    /// Validates the registration and builds the client with a fresh id and, for
    /// a confidential client, a fresh secret (returned once, stored only hashed).
    ///
    /// Defaults, chosen to match what Hydra and Keycloak users expect:
    /// - grant types: `authorization_code` + `refresh_token` for a client with
    ///   redirect URIs or a public client, `client_credentials` otherwise;
    /// - scopes: none for a client that only acts for itself
    ///   (`client_credentials`), the OpenID Connect scopes otherwise.
    pub fn build(self, now: UnixTime) -> Result<(Client, Option<Secret>)> {
        if let Some(uri) = &self.backchannel_logout_uri {
            validate_backchannel_logout_uri(uri)
                .map_err(|e| field_error("backchannel_logout_uri", e))?;
        }
        let allowed_origins = normalize_origins(&self.allowed_origins)?;
        let grant_types = if self.grant_types.is_empty() {
            if self.public || !self.redirect_uris.is_empty() {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                vec![GrantType::ClientCredentials]
            }
        } else {
            let mut g = self.grant_types;
            g.sort();
            g.dedup();
            g
        };
        let scopes = match self.scopes {
            Some(s) => s,
            None if grant_types == [GrantType::ClientCredentials] => Scope::default(),
            None => Scope::parse(DEFAULT_USER_SCOPES)?,
        };
        if let Some(keys) = &self.policy.keys {
            if self.public {
                return Err(Error::invalid_request(
                    "token_endpoint_auth_method: a public client has no keys to sign with",
                ));
            }
            match keys {
                ClientKeys::Jwks(set) => super::client_assertion::check_jwks(set)?,
                ClientKeys::JwksUri(uri) => super::client_assertion::check_jwks_uri(uri)?,
            }
        }
        let (secret_hash, secret) = if self.public || self.policy.keys.is_some() {
            (None, None)
        } else {
            let secret = secret::random_token()?;
            (Some(SecretHash::of(&secret)), Some(Secret::new(secret)))
        };
        let client = Client {
            id: ClientId::new(uuid::Uuid::new_v4().to_string()),
            name: self.name,
            secret_hash,
            first_party: self.first_party,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types,
            scopes,
            audiences: self.audiences,
            token_delivery: self.token_delivery,
            allowed_origins,
            policy: self.policy,
            backchannel_logout_uri: self.backchannel_logout_uri,
            created_at: now,
            previous_secret: None,
        };
        client.check_registration()?;
        Ok((client, secret))
    }
}

impl NewClient {
    /// Applies a security profile to the registration, refusing what the
    /// profile forbids rather than quietly dropping it.
    ///
    /// `fapi2`, the FAPI 2.0 Security Profile (final): authorization
    /// requests by PAR only (§5.3.2.2 "shall require pushed authorization
    /// requests"), DPoP-bound tokens (§5.3.2.1 "shall only issue
    /// sender-constrained access tokens"), `private_key_jwt` (§5.3.2.1
    /// "shall authenticate clients using [...] private_key_jwt"), no
    /// password grant (§5.3.2.2 resource owner password credentials "shall
    /// not" be supported), and tokens signed with PS256, ES256 or EdDSA
    /// (§5.4.1 "shall use PS256, ES256, or EdDSA"): on a deployment whose
    /// `signing_alg` is RS256 such a client cannot be served.
    pub fn apply_profile(
        &mut self,
        profile: Profile,
        signing_alg: super::keys::SigningAlg,
    ) -> Result<()> {
        match profile {
            Profile::Fapi2 => {
                if signing_alg == super::keys::SigningAlg::RS256 {
                    return Err(Error::invalid_request(
                        "profile fapi2: tokens must be signed with PS256, ES256 or EdDSA, and this deployment's signing_alg is RS256; set signing_alg first",
                    ));
                }
                if self.grant_types.contains(&GrantType::Password) {
                    return Err(Error::invalid_request(
                        "profile fapi2: the password grant is not allowed (FAPI 2.0 §5.3.2.2)",
                    ));
                }
                if self.public || self.policy.keys.is_none() {
                    return Err(Error::invalid_request(
                        "profile fapi2: the client must authenticate with private_key_jwt: give its keys (jwks or jwks_uri)",
                    ));
                }
                self.policy.require_par = true;
                self.policy.require_dpop = true;
                self.policy.profile = Some(Profile::Fapi2);
            }
        }
        Ok(())
    }
}

impl Client {
    /// The rules every registration obeys, at creation and after a change
    /// (`NewClient::build`, `core::admin`): a name, absolute redirect URIs
    /// without fragments, no `client_credentials` without a secret, and a
    /// redirect URI for the authorization code grant. The message names
    /// the field.
    pub fn check_registration(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid_request("name: a client needs a name"));
        }
        if self.name.len() > 200 {
            return Err(Error::invalid_request("name: at most 200 characters"));
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri).map_err(|e| field_error("redirect_uris", e))?;
        }
        for uri in &self.post_logout_redirect_uris {
            validate_redirect_uri(uri).map_err(|e| field_error("post_logout_redirect_uris", e))?;
        }
        if self.is_public() && self.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(Error::invalid_request(
                "grant_types: a public client cannot use client_credentials: it has no secret",
            ));
        }
        if self.is_fapi2() && self.grant_types.contains(&GrantType::Password) {
            return Err(Error::invalid_request(
                "grant_types: a fapi2 client cannot use the password grant",
            ));
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            return Err(Error::invalid_request(
                "redirect_uris: the authorization_code grant needs at least one redirect URI",
            ));
        }
        Ok(())
    }
}

/// Prefixes an error's description with the field it is about.
fn field_error(field: &str, e: Error) -> Error {
    match e.description().map(|d| d.into_owned()) {
        Some(d) => Error::invalid_request(format!("{field}: {d}")),
        None => e,
    }
}

/// Validates and normalises a list of allowed origins (see
/// [`normalize_origin`]), sorted, without duplicates.
pub fn normalize_origins(origins: &[String]) -> Result<Vec<String>> {
    let mut out = origins
        .iter()
        .map(|o| normalize_origin(o).map_err(|e| field_error("allowed_origins", e)))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// Validates an origin given at registration (`allowed_origins`, for CORS:
/// `core::origins`) and returns its normal form:
/// lowercase scheme and host, an IDN host in punycode, the port omitted when
/// it is the scheme's default (`https://a.example:443` is
/// `https://a.example`), as browsers serialize it (RFC 6454 §6.2).
///
/// Refused: anything with a path (even a lone trailing `/`), query,
/// fragment or user info; wildcards; the opaque origin `null` (any sandboxed
/// iframe or `data:` page sends it, so allowing it would allow everyone);
/// and schemes other than `http` and `https`.
pub fn normalize_origin(input: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid_request(format!("allowed origin {input:?} {why}"));
    let trimmed = input.trim();
    if trimmed.contains('*') {
        return Err(bad(
            "contains a wildcard; register each origin (scheme://host[:port]) exactly",
        ));
    }
    if trimmed.eq_ignore_ascii_case("null") {
        return Err(bad(
            "is the opaque origin, which any sandboxed page can send: it cannot be allowed",
        ));
    }
    let url = url::Url::parse(trimmed).map_err(|e| {
        bad(&format!(
            "is not an origin of the form scheme://host[:port]: {e}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user info"));
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || trimmed.ends_with('/')
    {
        return Err(bad(
            "must be scheme://host[:port] alone: no path (not even a trailing /), query or fragment",
        ));
    }
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(bad("is not a tuple origin"));
    }
    Ok(origin.ascii_serialization())
}

/// A redirect URI must be absolute and carry no fragment (RFC 6749 §3.1.2).
/// Plain `http` is allowed (for loopback and development, RFC 8252 §7.3); the
/// operator registering it is trusted to know what they register.
pub fn validate_redirect_uri(uri: &str) -> Result<()> {
    let parsed = url::Url::parse(uri).map_err(|e| {
        Error::invalid_request(format!("redirect URI {uri:?} is not absolute: {e}"))
    })?;
    if parsed.fragment().is_some() {
        return Err(Error::invalid_request(format!(
            "redirect URI {uri:?} must not contain a fragment"
        )));
    }
    Ok(())
}

/// "The RP's logout URI [...] MUST be an absolute URI [...] MAY contain
/// [a] query component [...] MUST NOT include a fragment component" (OIDC
/// Back-Channel Logout 1.0 §2.2). Only `http` and `https`: latchkey POSTs
/// to it.
pub fn validate_backchannel_logout_uri(uri: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid_request(format!("back-channel logout URI {uri:?} {why}"));
    let parsed = url::Url::parse(uri).map_err(|e| bad(&format!("is not absolute: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if parsed.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not contain user info"));
    }
    Ok(())
}

/// Storage of clients. Every client store records `private_key_jwt`
/// assertions' `jti`s too, since authenticating a client may need it.
pub trait ClientStore: super::client_assertion::AssertionReplayStore + Send + Sync {
    /// Inserts a new client; its id is fresh. Bumps the clients generation in
    /// the same transaction, so that every process's
    /// [`super::origins::OriginIndex`] sees the new client's origins.
    fn insert_client(&self, client: &Client) -> impl Future<Output = Result<()>> + Send;
    /// The client with this id, if any.
    fn get_client(&self, id: &ClientId) -> impl Future<Output = Result<Option<Client>>> + Send;
    /// All clients, oldest first.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>>> + Send;
    /// Deletes a client and, through the schema, everything issued to it, and
    /// bumps the clients generation in the same transaction. Returns whether it
    /// existed.
    fn delete_client(&self, id: &ClientId) -> impl Future<Output = Result<bool>> + Send;
    /// Replaces every stored field of the client with this id (but its id
    /// and `created_at`), and bumps the clients generation in the same
    /// transaction, so that every process's cache drops the old row within
    /// `client_cache_revalidate_ms`. Returns whether it existed.
    fn update_client(&self, client: &Client) -> impl Future<Output = Result<bool>> + Send;
    /// A counter that every insertion, change or removal of a client
    /// increases; caches
    /// compare it to know whether what they hold may be stale.
    fn clients_generation(&self) -> impl Future<Output = Result<i64>> + Send;
}

/// The credentials a request presented (RFC 6749 §2.3.1).
#[derive(Debug, Clone)]
pub enum ClientCredentials {
    /// `client_secret_basic`.
    Basic { client_id: ClientId, secret: Secret },
    /// `client_secret_post`.
    Post { client_id: ClientId, secret: Secret },
    /// `none`: a public client names itself.
    None { client_id: ClientId },
    /// `private_key_jwt` (RFC 7523 §2.2): `client_id` is the assertion's
    /// `sub`, not yet verified.
    Assertion {
        client_id: ClientId,
        assertion: Secret,
    },
}

impl ClientCredentials {
    pub fn client_id(&self) -> &ClientId {
        match self {
            ClientCredentials::Basic { client_id, .. }
            | ClientCredentials::Post { client_id, .. }
            | ClientCredentials::None { client_id }
            | ClientCredentials::Assertion { client_id, .. } => client_id,
        }
    }

    pub fn is_basic(&self) -> bool {
        matches!(self, ClientCredentials::Basic { .. })
    }
}

/// Authenticates a client. Every failure is the same `invalid_client`: the answer
/// does not tell an attacker whether the id exists.
pub async fn authenticate<S: ClientStore>(
    auth: &super::Authority<S>,
    creds: &ClientCredentials,
) -> Result<Arc<Client>> {
    let client = auth.clients.get(&auth.store, creds.client_id()).await?;
    let client = match creds {
        ClientCredentials::Assertion { assertion, .. } => {
            let client =
                client.ok_or_else(|| Error::invalid_client("client authentication failed"))?;
            let keys = client
                .policy
                .keys
                .as_ref()
                .ok_or_else(|| Error::invalid_client("client authentication failed"))?;
            super::client_assertion::verify(auth, client.id.as_str(), keys, assertion.expose())
                .await?;
            client
        }
        _ => check_credentials(client, creds, auth.clock.now())?,
    };
    // The request now acts for this client, whatever the flow decides next:
    // its app may read the answer across origins (core::origins).
    super::origins::note_acting_client(client.id.as_str());
    Ok(client)
}

/// The pure part of [`authenticate`]. During a rotation's grace the
/// previous secret works too (until `expires_at`, by `now`).
pub fn check_credentials(
    client: Option<Arc<Client>>,
    creds: &ClientCredentials,
    now: UnixTime,
) -> Result<Arc<Client>> {
    let fail = || Error::invalid_client("client authentication failed");
    let presented = match creds {
        ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. } => {
            Some(secret)
        }
        ClientCredentials::None { .. } => None,
        // Verified by `authenticate`, never here.
        ClientCredentials::Assertion { .. } => return Err(fail()),
    };
    let Some(client) = client else {
        // Hash anyway so that an unknown id costs the same as a wrong secret.
        if let Some(secret) = presented {
            let _ = SecretHash::of(secret.expose());
        }
        return Err(fail());
    };
    match (&client.secret_hash, presented) {
        (Some(hash), Some(secret)) => {
            // Both compared, each in constant time, whichever matches.
            let current = hash.matches(secret.expose());
            let previous = client
                .previous_secret
                .as_ref()
                .is_some_and(|p| now < p.expires_at && p.hash.matches(secret.expose()));
            if current || previous {
                Ok(client)
            } else {
                Err(fail())
            }
        }
        // A public client authenticates by naming itself, and only that way: a
        // secret it cannot have been issued means someone is confused or probing.
        // A client with keys must sign: naming itself is not enough.
        (None, None) if client.policy.keys.is_none() => Ok(client),
        _ => Err(fail()),
    }
}

/// Registered clients kept in memory, so that authenticating a client costs no
/// database round trip on the token path (with SQLite, a round trip is a hop to
/// sqlx's connection thread and back: two context switches, more CPU than the
/// rest of a client_credentials request besides the signature).
///
/// Staleness is bounded by a generation counter in the database, bumped in the
/// same transaction as every client removal: before using the cache, a request
/// re-reads the counter if it was last read more than `revalidate_ms` ago, and
/// empties the cache if it moved. Under load that is one small read every few
/// milliseconds for the whole process, and a client deleted by
/// `latchkey client delete` in another process stops authenticating within
/// `revalidate_ms` (10 ms by default).
/// `revalidate_ms = 0` reads the counter on every request. Unknown ids are not
/// cached, so guessing ids cannot grow it; it is emptied when it outgrows
/// `MAX_ENTRIES`.
pub struct ClientCache {
    entries: RwLock<HashMap<ClientId, Arc<Client>>>,
    generation: Generation,
}

impl ClientCache {
    pub const MAX_ENTRIES: usize = 10_000;

    pub fn new(revalidate_ms: u64) -> Self {
        ClientCache {
            entries: RwLock::new(HashMap::new()),
            generation: Generation::new(revalidate_ms),
        }
    }

    /// The client with this id, from memory when the cache is known fresh.
    pub async fn get<S: ClientStore>(
        &self,
        store: &S,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>> {
        let freshness = match self.generation.check(|| store.clients_generation()).await {
            Ok(f) => f,
            // The database is unreachable, but the cache was valid when it
            // went: clients change only through the database, so what the
            // cache holds is at most as old as the outage. Serving it keeps
            // client_credentials working through a failover; the
            // counter is read again as soon as the database answers. A miss
            // still needs the database and answers 503.
            Err(Error::TemporarilyUnavailable(_)) if self.generation.current() != i64::MIN => {
                tracing::debug!("database unavailable; serving clients from the cache");
                Freshness::Fresh
            }
            Err(e) => return Err(e),
        };
        if freshness == Freshness::Changed {
            self.write().clear();
        }
        if let Some(hit) = self.read().get(id) {
            return Ok(Some(hit.clone()));
        }
        let validated = self.generation.current();
        let Some(client) = store.get_client(id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        // A row read before a concurrent change must not outlive the clear
        // that change caused: cache it only if no change was seen meanwhile.
        if self.generation.current() != validated {
            return Ok(Some(client));
        }
        let mut entries = self.write();
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id.clone(), client.clone());
        Ok(Some(client))
    }

    /// Forgets one client (this process just changed it).
    pub fn forget(&self, id: &ClientId) {
        self.write().remove(id);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ClientId, Arc<Client>>> {
        // A poisoned lock means a panic mid-insert; the map is still valid.
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ClientId, Arc<Client>>> {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confidential() -> (Client, Secret) {
        let (c, s) = NewClient {
            name: "svc".into(),
            ..Default::default()
        }
        .build(0)
        .unwrap();
        (c, s.unwrap())
    }

    #[test]
    fn defaults_follow_the_kind_of_client() {
        let (c, _) = confidential();
        assert_eq!(c.grant_types, [GrantType::ClientCredentials]);
        assert!(c.scopes.is_empty());
        let (p, s) = NewClient {
            name: "spa".into(),
            public: true,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..Default::default()
        }
        .build(0)
        .unwrap();
        assert!(s.is_none());
        assert!(p.allows_grant(GrantType::AuthorizationCode));
        assert!(p.scopes.contains("openid"));
    }

    #[test]
    fn secret_check() {
        let (c, s) = confidential();
        let c = Arc::new(c);
        let id = c.id.clone();
        let ok = ClientCredentials::Basic {
            client_id: id.clone(),
            secret: s.clone(),
        };
        assert!(check_credentials(Some(c.clone()), &ok, 0).is_ok());
        let bad = ClientCredentials::Post {
            client_id: id.clone(),
            secret: Secret::new("x"),
        };
        assert_eq!(
            check_credentials(Some(c.clone()), &bad, 0)
                .unwrap_err()
                .code(),
            "invalid_client"
        );
        let none = ClientCredentials::None { client_id: id };
        assert_eq!(
            check_credentials(Some(c), &none, 0).unwrap_err().code(),
            "invalid_client"
        );
        assert_eq!(
            check_credentials(None, &ok, 0).unwrap_err().code(),
            "invalid_client"
        );
    }

    #[test]
    fn allowed_origins_are_normalised_and_deduplicated() {
        let (c, _) = NewClient {
            name: "spa".into(),
            public: true,
            redirect_uris: vec!["https://app.example.com/cb".into()],
            allowed_origins: vec![
                "https://App.example.com:443".into(),
                "https://app.example.com".into(),
                "http://localhost:5173".into(),
            ],
            ..Default::default()
        }
        .build(0)
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["http://localhost:5173", "https://app.example.com"]
        );
        let bad = NewClient {
            name: "spa".into(),
            allowed_origins: vec!["https://app.example.com/".into()],
            ..Default::default()
        };
        assert_eq!(bad.build(0).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn registration_is_validated() {
        let bad = NewClient {
            name: "x".into(),
            redirect_uris: vec!["/relative".into()],
            ..Default::default()
        };
        assert!(bad.build(0).is_err());
        let bad = NewClient {
            name: "x".into(),
            public: true,
            grant_types: vec![GrantType::ClientCredentials],
            ..Default::default()
        };
        assert!(bad.build(0).is_err());
    }
}
