//! The `latchkey` binary's subcommands.
//!
//! Every subcommand reads the same configuration (file, then `LATCHKEY_*`
//! variables, then flags). Admin commands print JSON on stdout with `--json`;
//! logs always go to stderr so that stdout stays parseable.

mod audit;
mod client;
mod config;
mod keys;
mod output;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Overrides, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "An OAuth 2.0 and OpenID Connect authorization server"
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (overrides `database_url` and LATCHKEY_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log format, `text` or `json` (overrides `log_format` and
    /// LATCHKEY_LOG_FORMAT).
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process from the command line: the size of the
// largest variant (`client create`'s flags) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides: Overrides = Vec::new();
    if let Some(url) = &cli.database_url {
        overrides.push(("database_url", url.clone()));
    }
    if let Some(format) = &cli.log_format {
        overrides.push(("log_format", format.clone()));
    }
    match &cli.command {
        Command::Serve(args) => args.listen.overrides(&mut overrides),
        // Checks the configuration rather than refusing to start on it.
        Command::Config(config::ConfigCommand::Check(args)) => {
            args.listen.overrides(&mut overrides);
            return config::check(cli.config.as_deref(), overrides, args);
        }
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref(), overrides)?;
    init_logging(&settings, matches!(cli.command, Command::Serve(_)));
    match cli.command {
        Command::Serve(args) => serve::run(settings, args).await,
        Command::Migrate => {
            let store = crate::store::Store::connect(&settings).await?;
            store.migrate().await?;
            eprintln!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(cmd) => client::run(settings, cmd).await,
        Command::Keys(cmd) => keys::run(settings, cmd).await,
        Command::User(cmd) => user::run(settings, cmd).await,
        Command::Audit(cmd) => audit::run(settings, cmd).await,
        Command::Config(_) => Ok(ExitCode::SUCCESS),
    }
}

/// Logs go to stderr. Admin commands log warnings only, unless configured
/// otherwise, so that their output stays readable.
fn init_logging(settings: &Settings, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let level = if serving || std::env::var_os("LATCHKEY_LOG_LEVEL").is_some() {
        settings.log_level.clone()
    } else {
        "warn".to_owned()
    };
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if settings.log_format == crate::config::LogFormat::Json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Connects and migrates, for the admin commands: they work on a fresh database
/// just as `serve` does.
async fn open_store(settings: &Settings) -> anyhow::Result<crate::store::Store> {
    let store = crate::store::Store::connect(settings).await?;
    store.migrate().await?;
    Ok(store)
}

/// Records an admin change made from the command line in the audit trail
/// (actor `cli`), logged and stored before the command exits.
async fn audit_cli(
    store: &crate::store::Store,
    kind: crate::core::audit::Kind,
    fill: impl FnOnce(crate::core::audit::AuditEvent) -> crate::core::audit::AuditEvent,
) -> anyhow::Result<()> {
    use crate::core::audit::{AuditEvent, Outcome, write_now};
    use crate::core::clock::{Clock as _, SystemClock};
    let event = fill(AuditEvent::new(
        SystemClock.now(),
        kind,
        "cli",
        Outcome::Success,
    ));
    write_now(store, event).await?;
    Ok(())
}
