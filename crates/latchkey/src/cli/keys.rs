//! `latchkey keys list|rotate`.

use std::process::ExitCode;

use super::{open_store, output};
use crate::config::Settings;
use crate::core::admin::{Actor, Admin};
use crate::core::clock::{Clock as _, SystemClock};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their states.
    List(JsonFlag),
    /// Rotate: the next key starts signing, the current one is retired (and stays
    /// published until its tokens have expired), and a new next key is published.
    Rotate(JsonFlag),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    #[arg(long)]
    json: bool,
}

pub async fn run(settings: Settings, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(&settings).await?;
    let admin = Admin::new(&store, &settings, SystemClock.now(), Actor::Cli);
    match cmd {
        KeysCommand::List(f) => {
            let views = admin.list_keys().await?.items;
            if f.json {
                output::json(&views)?;
            } else {
                for v in &views {
                    println!("{}  {:6}  {}", v.kid, v.alg, v.state);
                }
            }
        }
        KeysCommand::Rotate(f) => {
            let r = admin.rotate_keys().await?;
            if f.json {
                output::json(&r)?;
            } else {
                println!("current {}  (was next)", r.current);
                if let Some(old) = &r.retired {
                    println!("retired {old}  (published until its tokens expire)");
                }
                println!("next    {}  (published, not yet signing)", r.next);
                eprintln!(
                    "Running servers switch within key_refresh_seconds ({} s).",
                    settings.key_refresh_seconds
                );
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
