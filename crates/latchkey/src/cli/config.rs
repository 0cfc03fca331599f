//! `latchkey config check [--json]`: loads the configuration exactly as
//! `serve` does (file, then `LATCHKEY_*` variables, then flags), checks it
//! without touching the database, and prints the effective settings with
//! secrets masked (`config::masked`). Exits 1 naming every bad setting, not
//! only the first, so that one run fixes a whole file.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::serve::ListenArgs;
use crate::config::{self, Overrides, SettingError, Settings};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings (secrets
    /// masked); exit 1 naming every bad setting.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Print JSON: `{"valid", "errors": [{"setting", "message"}], "settings"}`.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    errors: Vec<SettingError>,
    /// The effective settings, masked; absent when some are bad.
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<serde_json::Map<String, serde_json::Value>>,
}

pub fn check(
    file: Option<&Path>,
    overrides: Overrides,
    args: &CheckArgs,
) -> anyhow::Result<ExitCode> {
    let report = match Settings::load_checked(file, overrides).and_then(check_files) {
        Ok(settings) => Report {
            valid: true,
            errors: Vec::new(),
            settings: Some(config::masked(&settings)),
        },
        Err(errors) => Report {
            valid: false,
            errors,
            settings: None,
        },
    };
    if args.json {
        super::output::json(&report)?;
    } else if let Some(settings) = &report.settings {
        println!("# The configuration is valid. Effective settings (secrets masked):");
        for (name, value) in settings {
            match value {
                serde_json::Value::Null => println!("# {name} is unset"),
                value => println!("{name} = {value}"),
            }
        }
    } else {
        let n = report.errors.len();
        eprintln!("error: {n} bad setting{}:", if n == 1 { "" } else { "s" });
        for e in &report.errors {
            eprintln!("  {e}");
        }
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What starting would read besides the settings themselves: the TLS
/// certificate and key must load and go together, and the pages (theme
/// and brand) must render.
fn check_files(settings: Settings) -> Result<Settings, Vec<SettingError>> {
    let mut errors = Vec::new();
    if let (Some(cert), Some(key)) = (&settings.tls_cert_file, &settings.tls_key_file)
        && let Err(e) = crate::http::tls::check_files(cert.as_ref(), key.as_ref())
    {
        errors.push(SettingError {
            setting: e.setting.to_owned(),
            message: format!("{}: {}", e.path.display(), e.message),
        });
    }
    if let Err(e) = crate::http::load_pages(&settings) {
        errors.push(SettingError {
            setting: "theme_dir".to_owned(),
            message: e.to_string(),
        });
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}
