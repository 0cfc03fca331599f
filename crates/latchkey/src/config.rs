//! Configuration: a TOML file (`--config`), overridden by `LATCHKEY_*`
//! environment variables, overridden by command-line flags.
//!
//! What the settings are, their types and defaults, is
//! [`crate::core::settings`]; this module reads them and checks their
//! ranges (values of a closed set are checked by their types as they are
//! read).
//!
//! Every setting `some_name` in the file is the variable `LATCHKEY_SOME_NAME`.
//! docs/configuration.md is generated from the doc comments of
//! `core::settings::Settings` (tests/it/docs.rs fails when it is out of
//! date), so a field's `///` comment is its user documentation.

use std::path::Path;

pub use crate::core::settings::{LogFormat, Settings, TrustedProxies};

/// Values given on the command line, which win over everything else.
pub type Overrides = Vec<(&'static str, String)>;

impl Settings {
    /// Loads the file (if any), then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            check_file_keys(path)?;
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("LATCHKEY")
                .prefix_separator("_")
                .try_parsing(true),
        );
        for (key, value) in overrides {
            builder = builder.set_override(key, value)?;
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validated()
    }

    /// Normalizes and checks values that would otherwise fail later, at the first
    /// request.
    pub fn validated(mut self) -> anyhow::Result<Settings> {
        while self.issuer.ends_with('/') {
            self.issuer.pop();
        }
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| anyhow::anyhow!("issuer {:?} is not a URL: {e}", self.issuer))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            anyhow::bail!(
                "issuer must be an http(s) URL without query or fragment (OIDC Discovery §3)"
            );
        }
        for (name, v) in [
            ("access_token_ttl_seconds", self.access_token_ttl_seconds),
            ("id_token_ttl_seconds", self.id_token_ttl_seconds),
            (
                "refresh_token_idle_ttl_seconds",
                self.refresh_token_idle_ttl_seconds,
            ),
            (
                "refresh_token_absolute_ttl_seconds",
                self.refresh_token_absolute_ttl_seconds,
            ),
            (
                "authorization_code_ttl_seconds",
                self.authorization_code_ttl_seconds,
            ),
            ("session_idle_ttl_seconds", self.session_idle_ttl_seconds),
            (
                "session_absolute_ttl_seconds",
                self.session_absolute_ttl_seconds,
            ),
            (
                "device_code_lifetime_seconds",
                self.device_code_lifetime_seconds,
            ),
            (
                "device_poll_interval_seconds",
                self.device_poll_interval_seconds,
            ),
        ] {
            if v <= 0 {
                anyhow::bail!("{name} must be positive");
            }
        }
        if self.refresh_reuse_grace_seconds < 0 {
            anyhow::bail!("refresh_reuse_grace_seconds must not be negative");
        }
        if self.password_hash_memory_kib < crate::core::password::MIN_MEMORY_KIB
            || self.password_hash_iterations < crate::core::password::MIN_ITERATIONS
            || self.password_hash_parallelism == 0
        {
            anyhow::bail!(
                "Argon2id parameters below OWASP's minimum (m=19456 KiB, t=2, p=1) are refused"
            );
        }
        if self.audit_retention_days == 0 {
            anyhow::bail!("audit_retention_days must be positive");
        }
        if self.database_acquire_timeout_seconds == 0 {
            anyhow::bail!("database_acquire_timeout_seconds must be positive");
        }
        if self.key_refresh_seconds == 0 {
            anyhow::bail!("key_refresh_seconds must be positive");
        }
        if self.outbox_poll_interval_ms == 0 {
            anyhow::bail!("outbox_poll_interval_ms must be positive");
        }
        if self.signin_max_failures_per_username == 0
            || self.signin_max_failures_per_address == 0
            || self.device_user_code_max_failures == 0
            || self.device_user_code_max_failures_per_address == 0
            || self.signin_failure_window_seconds <= 0
        {
            anyhow::bail!(
                "signin_max_failures_per_username, signin_max_failures_per_address, \
                 device_user_code_max_failures, device_user_code_max_failures_per_address \
                 and signin_failure_window_seconds must be positive"
            );
        }
        Ok(self)
    }
}

/// Refuses a file with a key latchkey does not know: a typo in a setting name
/// would otherwise be silently ignored.
fn check_file_keys(path: &Path) -> anyhow::Result<()> {
    let known = serde_json::to_value(Settings::default())?;
    let file = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()?;
    let table: std::collections::HashMap<String, config::Value> = file.try_deserialize()?;
    for key in table.keys() {
        if known.get(key).is_none() {
            anyhow::bail!("{}: unknown setting {key:?}", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = Settings::default().validated().unwrap();
        assert_eq!(s.default_audience(), "http://127.0.0.1:8080");
        assert_eq!(s.access_token_ttl_seconds, 900);
    }

    #[test]
    fn trailing_slash_is_dropped_and_bad_issuers_refused() {
        let s = Settings {
            issuer: "https://id.example.com/".into(),
            ..Settings::default()
        };
        assert_eq!(s.validated().unwrap().issuer, "https://id.example.com");
        let bad = Settings {
            issuer: "ftp://x".into(),
            ..Settings::default()
        };
        assert!(bad.validated().is_err());
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.toml");
        std::fs::write(
            &path,
            "bind = \"0.0.0.0:9000\"\naccess_token_ttl_seconds = 60\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path), vec![("bind", "127.0.0.1:1".into())]).unwrap();
        assert_eq!(s.bind, "127.0.0.1:1");
        assert_eq!(s.access_token_ttl_seconds, 60);
        std::fs::write(&path, "acess_token_ttl_seconds = 60\n").unwrap();
        assert!(Settings::load(Some(&path), vec![]).is_err());
    }
}
