//! `latchkey client create|list|show|delete`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{open_store, output};
use crate::config::Settings;
use crate::core::audit::Kind;
use crate::core::clients::{
    Client, ClientId, ClientPolicy, ClientStore as _, GrantType, NewClient, TokenDelivery,
};
use crate::core::clock::{Clock as _, SystemClock};
use crate::core::scope::Scope;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. The secret is printed once and stored only hashed.
    Create(CreateArgs),
    /// List clients.
    List(JsonFlag),
    /// Show one client.
    Show(IdArgs),
    /// Delete a client and everything issued to it.
    Delete(IdArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    id: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// A public client (no secret): SPAs, mobile and CLI apps.
    #[arg(long)]
    public: bool,
    /// One of the organisation's own apps: skips consent, may use the password grant.
    #[arg(long)]
    first_party: bool,
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Where to POST a logout token when a browser session in which the
    /// client got an ID token ends (OIDC Back-Channel Logout 1.0).
    #[arg(long = "backchannel-logout-uri", value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// authorization_code, refresh_token, client_credentials, password,
    /// urn:ietf:params:oauth:grant-type:device_code or
    /// urn:ietf:params:oauth:grant-type:token-exchange (repeatable).
    #[arg(long = "grant-type", value_name = "TYPE", value_parser = parse_grant)]
    grant_types: Vec<GrantType>,
    /// A scope the client may request (repeatable; space-separated lists work too).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// An audience (RFC 8707 resource) the client may request (repeatable).
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// A web origin (scheme://host[:port]) whose browser code may read this
    /// client's answers across origins (CORS; repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Where the refresh token goes: the JSON body, or an HttpOnly cookie.
    #[arg(long, value_name = "body|cookie", default_value = "body", value_parser = parse_delivery)]
    token_delivery: TokenDelivery,
    /// Every token request must carry a DPoP proof (RFC 9449); every token
    /// is bound to the proof's key.
    #[arg(long)]
    require_dpop: bool,
    /// Authorization requests only by PAR (RFC 9126): the authorization
    /// endpoint refuses any without a request_uri from /v1/oauth/par.
    #[arg(long)]
    require_par: bool,
    #[arg(long)]
    json: bool,
}

fn parse_grant(s: &str) -> Result<GrantType, String> {
    // The short name of the device grant is accepted too.
    if s == "device_code" {
        return Ok(GrantType::DeviceCode);
    }
    if s == "token_exchange" {
        return Ok(GrantType::TokenExchange);
    }
    GrantType::parse(s).ok_or_else(|| {
        let all: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
        format!("unknown grant type; expected one of: {}", all.join(", "))
    })
}

fn parse_delivery(s: &str) -> Result<TokenDelivery, String> {
    TokenDelivery::parse(s).ok_or_else(|| "expected body or cookie".to_owned())
}

/// A client as the CLI shows it: never its secret hash.
#[derive(Debug, Serialize)]
pub struct ClientView {
    client_id: String,
    name: String,
    public: bool,
    first_party: bool,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<&'static str>,
    scope: String,
    audiences: Vec<String>,
    token_delivery: &'static str,
    allowed_origins: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    require_dpop: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    require_par: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    backchannel_logout_uri: Option<String>,
    created_at: i64,
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
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            scope: c.scopes.to_string(),
            audiences: c.audiences.clone(),
            token_delivery: c.token_delivery.as_str(),
            allowed_origins: c.allowed_origins.clone(),
            require_dpop: c.policy.require_dpop,
            require_par: c.policy.require_par,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct Created {
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

/// Registers a client and returns its id and (for a confidential one) secret.
pub async fn create(
    store: &crate::store::Store,
    new: NewClient,
) -> anyhow::Result<(Client, Option<String>)> {
    let (client, secret) = new.build(SystemClock.now())?;
    store.insert_client(&client).await?;
    Ok((client, secret.map(|s| s.expose().to_owned())))
}

pub async fn run(settings: Settings, cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(&settings).await?;
    match cmd {
        ClientCommand::Create(a) => {
            let scopes = if a.scopes.is_empty() {
                None
            } else {
                Some(Scope::parse(&a.scopes.join(" "))?)
            };
            let new = NewClient {
                name: a.name,
                public: a.public,
                first_party: a.first_party,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                grant_types: a.grant_types,
                scopes,
                audiences: a.audiences,
                token_delivery: a.token_delivery,
                allowed_origins: a.allowed_origins,
                policy: ClientPolicy {
                    require_dpop: a.require_dpop,
                    require_par: a.require_par,
                },
                backchannel_logout_uri: a.backchannel_logout_uri,
            };
            let (client, secret) = create(&store, new).await?;
            super::audit_cli(&store, Kind::ClientCreate, |e| e.client(client.id.as_str())).await?;
            if a.json {
                output::json(&Created {
                    client_id: client.id.to_string(),
                    client_secret: secret,
                })?;
            } else {
                let mut rows = vec![("client_id", client.id.to_string())];
                if let Some(s) = secret {
                    rows.push(("client_secret", s));
                }
                output::fields(&rows);
                if !client.is_public() {
                    eprintln!("The secret is shown only this once; store it now.");
                }
            }
        }
        ClientCommand::List(f) => {
            let clients = store.list_clients().await?;
            let views: Vec<ClientView> = clients.iter().map(ClientView::from).collect();
            if f.json {
                output::json(&views)?;
            } else {
                for v in &views {
                    println!("{}  {}  [{}]", v.client_id, v.name, v.grant_types.join(" "));
                }
            }
        }
        ClientCommand::Show(a) => {
            let Some(client) = store.get_client(&ClientId::new(a.id.as_str())).await? else {
                eprintln!("error: no client with id {:?}", a.id);
                return Ok(ExitCode::FAILURE);
            };
            let view = ClientView::from(&client);
            if a.json {
                output::json(&view)?;
            } else {
                output::fields(&[
                    ("client_id", view.client_id),
                    ("name", view.name),
                    ("public", view.public.to_string()),
                    ("first_party", view.first_party.to_string()),
                    ("grant_types", view.grant_types.join(" ")),
                    ("scope", view.scope),
                    ("redirect_uris", view.redirect_uris.join(" ")),
                    (
                        "post_logout_redirect_uris",
                        view.post_logout_redirect_uris.join(" "),
                    ),
                    ("audiences", view.audiences.join(" ")),
                    ("token_delivery", view.token_delivery.to_owned()),
                    ("allowed_origins", view.allowed_origins.join(" ")),
                    (
                        "backchannel_logout_uri",
                        view.backchannel_logout_uri.unwrap_or_default(),
                    ),
                ]);
            }
        }
        ClientCommand::Delete(a) => {
            let deleted = store.delete_client(&ClientId::new(a.id.as_str())).await?;
            if deleted {
                super::audit_cli(&store, Kind::ClientDelete, |e| e.client(a.id.as_str())).await?;
            }
            if a.json {
                output::json(&serde_json::json!({"client_id": a.id, "deleted": deleted}))?;
            } else if deleted {
                println!("deleted {}", a.id);
            }
            if !deleted {
                eprintln!("error: no client with id {:?}", a.id);
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
