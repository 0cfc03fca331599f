//! The token endpoint's grants (RFC 6749 §4, RFC 8628 §3.4).
//!
//! The request is parsed once into a [`Grant`]; the client is authenticated and
//! checked against the grant type it was registered for; then one module per
//! grant validates the grant and asks `tokens` to mint.

pub mod authorization_code;
mod client_credentials;
mod device_code;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;

use std::net::IpAddr;

use super::Authority;
use super::audit::AuditStore;
use super::clients::{self, ClientCredentials, ClientStore, GrantType};
use super::codes::CodeStore;
use super::deny_list::DenyListStore;
use super::device::DeviceStore;
use super::discovery::paths;
use super::dpop::{self, DpopReplayStore, ProofHeader, ProofTarget};
use super::error::{Error, Result};
use super::params::Params;
use super::refresh::RefreshTokenStore;
use super::scope::Scope;
use super::secret::Secret;
use super::sessions::SessionStore;
use super::signin::PasswordStores;
use super::tokens::IssuedTokens;
use super::users::UserStore;

/// The stores the token endpoint's grants use between them.
pub trait TokenStores:
    ClientStore
    + UserStore
    + RefreshTokenStore
    + CodeStore
    + DeviceStore
    + PasswordStores
    + DpopReplayStore
    + SessionStore
    + DenyListStore
    + AuditStore
{
}

impl<T> TokenStores for T where
    T: ClientStore
        + UserStore
        + RefreshTokenStore
        + CodeStore
        + DeviceStore
        + PasswordStores
        + DpopReplayStore
        + SessionStore
        + DenyListStore
        + AuditStore
{
}

/// A token request, parsed.
#[derive(Debug)]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials {
        scope: Option<Scope>,
        resources: Vec<String>,
    },
    /// RFC 6749 §4.3, for first-party clients.
    Password {
        username: String,
        password: Secret,
        scope: Option<Scope>,
        resources: Vec<String>,
    },
    /// RFC 6749 §4.1.3, RFC 7636 §4.5.
    AuthorizationCode {
        code: Secret,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        resources: Vec<String>,
    },
    /// RFC 8628 §3.4.
    DeviceCode { device_code: Secret },
    /// RFC 6749 §6, with rotation (RFC 9700 §4.14.2).
    RefreshToken {
        refresh_token: Secret,
        scope: Option<Scope>,
        resources: Vec<String>,
    },
    /// RFC 8693 §2.1.
    TokenExchange(token_exchange::ExchangeRequest),
}

/// What the token endpoint knows about the request beyond its parameters.
#[derive(Debug, Clone, Default)]
pub struct TokenContext {
    /// The client's network address, for the sign-in limits.
    pub client_addr: Option<IpAddr>,
    /// The request's `DPoP` header (RFC 9449 §5).
    pub dpop: ProofHeader,
}

impl Grant {
    /// Parses the grant-specific parameters. An unknown `grant_type` is
    /// `unsupported_grant_type`; a missing one `invalid_request`.
    pub fn parse(params: &Params) -> Result<Self> {
        let grant_type = params.require("grant_type")?;
        let scope = params.get("scope").map(Scope::parse).transpose()?;
        let resources = params.get_all("resource").map(str::to_owned).collect();
        match GrantType::parse(grant_type) {
            Some(GrantType::ClientCredentials) => Ok(Grant::ClientCredentials { scope, resources }),
            Some(GrantType::Password) => Ok(Grant::Password {
                username: params.require("username")?.to_owned(),
                password: Secret::new(params.require("password")?),
                scope,
                resources,
            }),
            Some(GrantType::AuthorizationCode) => Ok(Grant::AuthorizationCode {
                code: Secret::new(params.require("code")?),
                redirect_uri: params.get("redirect_uri").map(str::to_owned),
                code_verifier: params.get("code_verifier").map(str::to_owned),
                resources,
            }),
            Some(GrantType::RefreshToken) => Ok(Grant::RefreshToken {
                refresh_token: Secret::new(params.require("refresh_token")?),
                scope,
                resources,
            }),
            Some(GrantType::DeviceCode) => Ok(Grant::DeviceCode {
                device_code: Secret::new(params.require("device_code")?),
            }),
            Some(GrantType::TokenExchange) => {
                Ok(Grant::TokenExchange(token_exchange::ExchangeRequest {
                    subject_token: Secret::new(params.require("subject_token")?),
                    subject_token_type: params.require("subject_token_type")?.to_owned(),
                    actor_token: params.get("actor_token").map(Secret::new),
                    actor_token_type: params.get("actor_token_type").map(str::to_owned),
                    requested_token_type: params.get("requested_token_type").map(str::to_owned),
                    scope,
                    // RFC 8693 §2.1: `resource` and `audience` may each be
                    // repeated; both name where the token will be used.
                    targets: params
                        .get_all("resource")
                        .chain(params.get_all("audience"))
                        .map(str::to_owned)
                        .collect(),
                }))
            }
            None => Err(Error::UnsupportedGrantType(
                format!("grant_type {grant_type:?} is not supported").into(),
            )),
        }
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            Grant::ClientCredentials { .. } => GrantType::ClientCredentials,
            Grant::Password { .. } => GrantType::Password,
            Grant::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Grant::RefreshToken { .. } => GrantType::RefreshToken,
            Grant::DeviceCode { .. } => GrantType::DeviceCode,
            Grant::TokenExchange(_) => GrantType::TokenExchange,
        }
    }
}

/// Handles a token request: RFC 6749 §3.2 and §5.
pub async fn token<S: TokenStores>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
) -> Result<IssuedTokens> {
    token_with(auth, creds, params, &TokenContext::default()).await
}

/// [`token`], with what the HTTP layer knows about the request.
pub async fn token_with<S: TokenStores>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    ctx: &TokenContext,
) -> Result<IssuedTokens> {
    let grant = Grant::parse(params)?;
    let client = clients::authenticate(auth, creds).await?;
    client.require_grant(grant.grant_type())?;
    let token_url = auth.settings.url(paths::TOKEN);
    let target = ProofTarget {
        method: "POST",
        url: &token_url,
        access_token: None,
    };
    let dpop_jkt = dpop::optional_proof(auth, &ctx.dpop, target).await?;
    dpop::require_if_registered(&client, dpop_jkt.as_ref())?;
    let dpop_jkt = dpop_jkt.as_ref();
    match grant {
        Grant::ClientCredentials { scope, resources } => {
            client_credentials::issue(auth, &client, scope, &resources, dpop_jkt)
        }
        Grant::Password {
            username,
            password,
            scope,
            resources,
        } => {
            let request = password::PasswordSignin {
                username: &username,
                password,
                scope,
                resources,
                client_addr: ctx.client_addr,
                dpop_jkt: dpop_jkt.cloned(),
            };
            password::issue(auth, &client, request).await
        }
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resources,
        } => {
            authorization_code::issue(
                auth,
                &client,
                &code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                &resources,
                dpop_jkt,
            )
            .await
        }
        Grant::DeviceCode { device_code } => {
            device_code::issue(auth, &client, &device_code, dpop_jkt).await
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
            resources,
        } => {
            let request = refresh_token::RefreshRequest {
                presenter: refresh_token::Presenter::Client(&client),
                token: &refresh_token,
                scope: scope.as_ref(),
                resources: &resources,
                dpop_jkt,
            };
            refresh_token::rotate(auth, request).await
        }
        Grant::TokenExchange(request) => token_exchange::issue(auth, &client, request).await,
    }
}
