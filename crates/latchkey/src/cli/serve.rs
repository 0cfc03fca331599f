//! `latchkey serve [--demo]`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::app::Server;
use crate::config::{Overrides, Settings};
use crate::core::clients::{ClientStore as _, GrantType, NewClient};
use crate::core::clock::SystemClock;
use crate::core::scope::Scope;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// On an empty database, create demo clients and print how to use them.
    #[arg(long)]
    demo: bool,
}

/// The flags of `serve` that override settings; `config check` takes them
/// too, so that it checks what `serve` would run with.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on (overrides `bind`).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Issuer URL (overrides `issuer`).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
}

impl ListenArgs {
    pub fn overrides(&self, out: &mut Overrides) {
        if let Some(b) = &self.bind {
            out.push(("bind", b.clone()));
        }
        if let Some(i) = &self.issuer {
            out.push(("issuer", i.clone()));
        }
    }
}

pub async fn run(mut settings: Settings, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.demo {
        // The demo shows self-service too; without `smtp_url` its e-mails
        // (and their links) are written to the log.
        settings.registration = crate::core::settings::Registration::Open;
    }
    let started = std::time::Instant::now();
    let server = Server::start(settings, Arc::new(SystemClock)).await?;
    let settings = server.app.settings().clone();
    tracing::info!(
        addr = %server.addr,
        https = server.tls.is_some(),
        issuer = %settings.issuer,
        database = server.app.store().kind(),
        startup_ms = started.elapsed().as_millis() as u64,
        "latchkey is listening"
    );
    if args.demo {
        demo(&server, &settings).await?;
    }
    wait_for_signal().await;
    tracing::info!("signal received");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Creates the demo data on an empty database and prints how to use it.
async fn demo(server: &Server, settings: &Settings) -> anyhow::Result<()> {
    let store = server.app.store();
    if !store.list_clients().await?.is_empty() {
        println!("--demo: the database already has clients; no demo data created.");
        return Ok(());
    }
    let (client, secret) = super::client::create(
        store,
        NewClient {
            name: "Demo service".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse("read write")?),
            ..NewClient::default()
        },
    )
    .await?;
    let secret = secret.unwrap_or_default();
    let token_url = settings.url(crate::core::discovery::paths::TOKEN);
    println!();
    println!("latchkey demo data (shown once):");
    println!(
        "  confidential client  client_id={}  client_secret={secret}",
        client.id
    );
    println!();
    println!("Get an access token:");
    println!(
        "  curl -s -u '{}:{secret}' -d grant_type=client_credentials -d 'scope=read' {token_url}",
        client.id
    );
    println!();
    println!(
        "Its signature verifies with the keys at {}",
        settings.url(crate::core::discovery::paths::JWKS)
    );
    println!();
    demo_browser(server, settings).await
}

/// The browser half of the demo: a public client for the authorization code
/// flow with PKCE, and a user to sign in as.
async fn demo_browser(server: &Server, settings: &Settings) -> anyhow::Result<()> {
    use crate::core::secret::{self, Secret};
    use crate::core::users::{NewUser, UserStore as _};

    let store = server.app.store();
    let redirect_uri = settings.url("/demo/callback");
    let (public, _) = super::client::create(
        store,
        NewClient {
            name: "Demo app".into(),
            public: true,
            redirect_uris: vec![redirect_uri.clone()],
            post_logout_redirect_uris: vec![settings.url("/demo/signed-out")],
            // The device grant too, so that the demo also shows the device
            // flow (README, "Device flow") with the same client.
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ],
            scopes: Some(Scope::parse("openid profile email offline_access")?),
            ..NewClient::default()
        },
    )
    .await?;
    let password = secret::random_token()?.chars().take(16).collect::<String>();
    let hash = server
        .app
        .passwords()
        .hash(&Secret::new(password.clone()))
        .await?;
    let user = NewUser {
        email: "demo@example.com".into(),
        name: Some("Demo User".into()),
        roles: vec!["demo".into()],
        unverified: false,
    }
    .build(hash, server.app.clock().now())?;
    store.insert_user(&user).await?;

    let verifier = secret::random_token()?;
    let challenge = crate::core::codes::s256_challenge(&verifier);
    let authorize = url::Url::parse_with_params(
        &settings.url(crate::core::discovery::paths::AUTHORIZE),
        &[
            ("response_type", "code"),
            ("client_id", public.id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", "openid profile email"),
            ("state", "demo"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )?;
    let token_url = settings.url(crate::core::discovery::paths::TOKEN);
    println!(
        "  public client        client_id={}  redirect_uri={redirect_uri}",
        public.id
    );
    println!(
        "  user                 email={}  password={password}",
        user.email
    );
    println!();
    println!("Sign in with a browser (authorization code + PKCE): open");
    println!("  {authorize}");
    println!("then take `code` from the address the browser lands on and run");
    println!(
        "  curl -s -d grant_type=authorization_code -d client_id={} -d 'redirect_uri={redirect_uri}' \\\n    -d code_verifier={verifier} -d code=CODE {token_url}",
        public.id
    );
    println!();
    println!("Or create an account of your own (registration is open in the demo):");
    println!(
        "  {}   (its e-mails, with their links, are written to the log unless smtp_url is set)",
        settings.url(crate::core::discovery::paths::REGISTER_PAGE)
    );
    println!();
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
