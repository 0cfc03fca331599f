//! `latchkey keys list|rotate`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{open_store, output};
use crate::config::Settings;
use crate::core::audit::Kind;
use crate::core::clock::{Clock as _, SystemClock};
use crate::core::keys::{self, KeyStore as _, StoredKey};

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

#[derive(Debug, Serialize)]
struct KeyView {
    kid: String,
    alg: &'static str,
    state: &'static str,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    remove_after: Option<i64>,
}

impl From<&StoredKey> for KeyView {
    fn from(k: &StoredKey) -> Self {
        KeyView {
            kid: k.kid.clone(),
            alg: k.alg.as_str(),
            state: k.state.as_str(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            remove_after: k.remove_after,
        }
    }
}

pub async fn run(settings: Settings, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(&settings).await?;
    let alg = settings.signing_alg;
    let now = SystemClock.now();
    match cmd {
        KeysCommand::List(f) => {
            keys::ensure_keys(&store, alg, now).await?;
            let views: Vec<KeyView> = store.list_keys().await?.iter().map(KeyView::from).collect();
            if f.json {
                output::json(&views)?;
            } else {
                for v in &views {
                    println!("{}  {:6}  {}", v.kid, v.alg, v.state);
                }
            }
        }
        KeysCommand::Rotate(f) => {
            let retire_for = settings.retired_key_lifetime();
            let r = keys::rotate(&store, alg, now, retire_for).await?;
            super::audit_cli(&store, Kind::KeysRotate, |e| {
                e.detail(format!("current key {}", r.current))
            })
            .await?;
            if f.json {
                output::json(&serde_json::json!({
                    "retired": r.retired,
                    "current": r.current,
                    "next": r.next,
                }))?;
            } else {
                println!("current {}  (was next)", r.current);
                if let Some(old) = r.retired {
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
