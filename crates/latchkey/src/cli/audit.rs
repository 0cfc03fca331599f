//! `latchkey audit list [--user ID] [--since WHEN] [--limit N] [--json]`.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{open_store, output};
use crate::config::Settings;
use crate::core::audit::{self, AuditFilter, AuditStore as _};
use crate::core::clock::{Clock as _, SystemClock};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, oldest first.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only events about this user id.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// Only events at or after this time: RFC 3339 (`2026-11-24T01:00:00Z`)
    /// or a duration ago (`30s`, `15m`, `1h`, `7d`).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    limit: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(settings: Settings, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(&settings).await?;
    match cmd {
        AuditCommand::List(a) => {
            let since = match &a.since {
                Some(s) => Some(audit::parse_since(s, SystemClock.now()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--since {s:?}: expected an RFC 3339 time or a duration like 30m, 1h, 7d"
                    )
                })?),
                None => None,
            };
            let events = store
                .list_audit_events(&AuditFilter {
                    user_id: a.user,
                    since,
                    limit: a.limit.max(1),
                })
                .await?;
            if a.json {
                output::json(&events)?;
            } else {
                for e in &events {
                    println!(
                        "{}  {:20}  {:8}  actor={}  user={}  client={}  address={}  {}",
                        e.at,
                        e.kind,
                        e.outcome,
                        e.actor,
                        e.user_id.as_deref().unwrap_or("-"),
                        e.client_id.as_deref().unwrap_or("-"),
                        e.address.as_deref().unwrap_or("-"),
                        e.detail.as_deref().unwrap_or(""),
                    );
                }
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
