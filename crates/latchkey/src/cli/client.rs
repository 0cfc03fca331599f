//! `latchkey client create|list|show|delete`.

use std::process::ExitCode;

use super::{open_store, output};
use crate::config::Settings;
use crate::core::admin::{Actor, Admin, ClientInput, ClientView, PageRequest};
use crate::core::clients::{Client, ClientStore as _, GrantType, NewClient, TokenDelivery};
use crate::core::clock::{Clock as _, SystemClock};
use crate::core::error::Error;
use crate::core::registration;
use clap::{Args, Subcommand};

// Parsed once per process from the command line: the size of the
// largest variant (`client create`'s flags) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. The secret is printed once and stored only hashed.
    Create(Box<CreateArgs>),
    /// List clients.
    List(JsonFlag),
    /// Show one client.
    Show(IdArgs),
    /// Delete a client and everything issued to it.
    Delete(IdArgs),
    /// Give a confidential client a new secret (printed once). With
    /// `--grace`, the old secret keeps working for that many seconds.
    RotateSecret(RotateArgs),
    /// Make an initial access token for dynamic client registration
    /// (RFC 7591, `POST /v1/oauth/register`). Printed once.
    InitialToken(InitialTokenArgs),
}

#[derive(Debug, Args)]
pub struct InitialTokenArgs {
    /// Seconds until it expires (default: never).
    #[arg(long, value_name = "SECONDS")]
    expires_in: Option<i64>,
    /// How many registrations it allows (default: any number).
    #[arg(long, value_name = "N")]
    uses: Option<i64>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    id: String,
    /// Seconds during which the old secret keeps working (default 0).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    grace: i64,
    #[arg(long)]
    json: bool,
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
    /// client_secret_basic (the default), private_key_jwt (with --jwks or
    /// --jwks-uri; RFC 7523) or none (implied by --public).
    #[arg(long, value_name = "METHOD")]
    token_endpoint_auth_method: Option<String>,
    /// A file holding the client's public keys as a JWK Set, for
    /// private_key_jwt.
    #[arg(long, value_name = "FILE")]
    jwks: Option<std::path::PathBuf>,
    /// Where latchkey fetches the client's JWK Set, for private_key_jwt.
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// A security profile: fapi2 (the FAPI 2.0 Security Profile; needs
    /// signing_alg PS256, ES256 or EdDSA).
    #[arg(long, value_name = "PROFILE")]
    profile: Option<String>,
    /// Sign-ins for this client need two factors: a one-factor session
    /// steps up, a user without a second factor enrols one (docs/mfa.md).
    #[arg(long)]
    require_mfa: bool,
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
    let admin = Admin::new(&store, &settings, SystemClock.now(), Actor::Cli);
    let code = match cmd {
        ClientCommand::Create(a) => {
            let jwks = match &a.jwks {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        anyhow::anyhow!("--jwks: cannot read {}: {e}", path.display())
                    })?;
                    Some(serde_json::from_str(&text).map_err(|e| {
                        anyhow::anyhow!("--jwks: {} is not JSON: {e}", path.display())
                    })?)
                }
                None => None,
            };
            let input = ClientInput {
                name: a.name,
                public: a.public,
                first_party: a.first_party,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                grant_types: a.grant_types.into_iter().map(Into::into).collect(),
                scope: (!a.scopes.is_empty()).then(|| a.scopes.join(" ")),
                audiences: a.audiences,
                allowed_origins: a.allowed_origins,
                token_delivery: Some(a.token_delivery.into()),
                require_dpop: a.require_dpop,
                require_par: a.require_par,
                require_mfa: a.require_mfa,
                backchannel_logout_uri: a.backchannel_logout_uri,
                token_endpoint_auth_method: a.token_endpoint_auth_method,
                jwks,
                jwks_uri: a.jwks_uri,
                profile: a.profile,
            };
            let created = admin.create_client(input).await?;
            if a.json {
                output::json(&created)?;
            } else {
                let mut rows = vec![("client_id", created.client.client_id.clone())];
                if let Some(s) = &created.client_secret {
                    rows.push(("client_secret", s.clone()));
                }
                output::fields(&rows);
                if created.client_secret.is_some() {
                    eprintln!("The secret is shown only this once; store it now.");
                }
            }
            ExitCode::SUCCESS
        }
        ClientCommand::List(f) => {
            let mut views: Vec<ClientView> = Vec::new();
            let mut page = PageRequest {
                cursor: None,
                limit: Some(crate::core::admin::MAX_LIMIT),
            };
            loop {
                let p = admin.list_clients(&page).await?;
                views.extend(p.items);
                match p.next_cursor {
                    Some(c) => page.cursor = Some(c),
                    None => break,
                }
            }
            if f.json {
                output::json(&views)?;
            } else {
                for v in &views {
                    let grants: Vec<&str> = v
                        .grant_types
                        .iter()
                        .map(|&g| GrantType::from(g).as_str())
                        .collect();
                    println!("{}  {}  [{}]", v.client_id, v.name, grants.join(" "));
                }
            }
            ExitCode::SUCCESS
        }
        ClientCommand::Show(a) => match admin.get_client(&a.id).await {
            Ok(view) => {
                if a.json {
                    output::json(&view)?;
                } else {
                    let grants: Vec<&str> = view
                        .grant_types
                        .iter()
                        .map(|&g| GrantType::from(g).as_str())
                        .collect();
                    output::fields(&[
                        ("client_id", view.client_id.clone()),
                        ("name", view.name.clone()),
                        ("public", view.public.to_string()),
                        ("first_party", view.first_party.to_string()),
                        ("grant_types", grants.join(" ")),
                        ("scope", view.scope.clone()),
                        ("redirect_uris", view.redirect_uris.join(" ")),
                        (
                            "post_logout_redirect_uris",
                            view.post_logout_redirect_uris.join(" "),
                        ),
                        ("audiences", view.audiences.join(" ")),
                        (
                            "token_delivery",
                            TokenDelivery::from(view.token_delivery).as_str().to_owned(),
                        ),
                        ("allowed_origins", view.allowed_origins.join(" ")),
                    ]);
                }
                ExitCode::SUCCESS
            }
            Err(Error::NotFound(_)) => {
                eprintln!("error: no client with id {:?}", a.id);
                ExitCode::FAILURE
            }
            Err(e) => return Err(e.into()),
        },
        ClientCommand::Delete(a) => match admin.delete_client(&a.id).await {
            Ok(done) => {
                if a.json {
                    output::json(&done)?;
                } else {
                    println!("deleted {}", a.id);
                }
                ExitCode::SUCCESS
            }
            Err(Error::NotFound(_)) => {
                if a.json {
                    output::json(&serde_json::json!({"client_id": a.id, "deleted": false}))?;
                }
                eprintln!("error: no client with id {:?}", a.id);
                ExitCode::FAILURE
            }
            Err(e) => return Err(e.into()),
        },
        ClientCommand::InitialToken(a) => {
            let t =
                registration::create_initial_token(&store, SystemClock.now(), a.expires_in, a.uses)
                    .await?;
            crate::core::audit::write_now(
                &store,
                crate::core::audit::AuditEvent::new(
                    SystemClock.now(),
                    crate::core::audit::Kind::InitialTokenCreate,
                    "cli",
                    crate::core::audit::Outcome::Success,
                ),
            )
            .await?;
            if a.json {
                output::json(&t)?;
            } else {
                output::fields(&[("initial_access_token", t.initial_access_token.clone())]);
                eprintln!("The token is shown only this once.");
            }
            ExitCode::SUCCESS
        }
        ClientCommand::RotateSecret(a) => {
            let rotated = admin.rotate_secret(&a.id, a.grace).await?;
            if a.json {
                output::json(&rotated)?;
            } else {
                output::fields(&[
                    ("client_id", rotated.client_id.clone()),
                    ("client_secret", rotated.client_secret.clone()),
                ]);
                match rotated.previous_secret_expires_at {
                    Some(t) => eprintln!(
                        "The new secret is shown only this once. The old one works until {t} (Unix time)."
                    ),
                    None => eprintln!(
                        "The new secret is shown only this once. The old one no longer works."
                    ),
                }
            }
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}
