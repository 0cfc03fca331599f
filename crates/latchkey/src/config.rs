//! Configuration: a TOML file (`--config`), overridden by `LATCHKEY_*`
//! environment variables, overridden by command-line flags.
//!
//! What the settings are, their types and defaults, is
//! [`crate::core::settings`]; this module reads them and checks their
//! ranges (values of a closed set are checked by their types as they are
//! read), naming every bad setting rather than the first
//! (`latchkey config check`).
//!
//! Every setting `some_name` in the file is the variable `LATCHKEY_SOME_NAME`.
//! docs/configuration.md is generated from the doc comments of
//! `core::settings::Settings` (tests/it/docs.rs fails when it is out of
//! date), so a field's `///` comment is its user documentation.

use std::path::Path;

use serde::Serialize;

pub use crate::core::settings::{LogFormat, Settings, TrustedProxies};

/// Values given on the command line, which win over everything else.
pub type Overrides = Vec<(&'static str, String)>;

/// A bad setting and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingError {
    /// The setting's name, as in the file (or `config` for the file itself).
    pub setting: String,
    pub message: String,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

/// Every bad setting, one per line, for an error message.
fn describe(errors: &[SettingError]) -> anyhow::Error {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    anyhow::anyhow!("{}", lines.join("\n"))
}

/// Collects the settings' problems, so that a check names every bad setting
/// and not only the first.
#[derive(Default)]
struct Problems(Vec<SettingError>);

impl Problems {
    fn add(&mut self, setting: &str, message: impl Into<String>) {
        self.0.push(SettingError {
            setting: setting.to_owned(),
            message: message.into(),
        });
    }
}

impl Settings {
    /// Loads the file (if any), then the environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Settings> {
        Settings::load_checked(file, overrides).map_err(|errors| describe(&errors))
    }

    /// [`Settings::load`], naming every bad setting rather than the first:
    /// unknown names in the file, values of the wrong type, and values that
    /// [`Settings::checked`] refuses (`latchkey config check`).
    pub fn load_checked(
        file: Option<&Path>,
        overrides: Overrides,
    ) -> Result<Settings, Vec<SettingError>> {
        let mut problems = Problems::default();
        let config_error = |e: &dyn std::fmt::Display| {
            vec![SettingError {
                setting: "config".to_owned(),
                message: e.to_string(),
            }]
        };
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            for key in unknown_file_keys(path).map_err(|e| config_error(&e))? {
                problems.add(&key, format!("{}: unknown setting", path.display()));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("LATCHKEY")
                .prefix_separator("_")
                .try_parsing(true),
        );
        for (key, value) in overrides {
            builder = builder
                .set_override(key, value)
                .map_err(|e| config_error(&e))?;
        }
        let merged = builder.build().map_err(|e| config_error(&e))?;
        let settings = match merged.clone().try_deserialize::<Settings>() {
            Ok(settings) => settings,
            // Find each value of the wrong type, and go on with the defaults
            // in their place so that the other values are checked too.
            Err(_) => well_typed(&merged, &mut problems).map_err(|e| config_error(&e))?,
        };
        match settings.checked() {
            Ok(settings) if problems.0.is_empty() => Ok(settings),
            Ok(_) => Err(problems.0),
            Err(more) => {
                problems.0.extend(more);
                Err(problems.0)
            }
        }
    }

    /// Normalizes and checks values that would otherwise fail later, at the first
    /// request.
    pub fn validated(self) -> anyhow::Result<Settings> {
        self.checked().map_err(|errors| describe(&errors))
    }

    /// [`Settings::validated`], naming every bad setting.
    pub fn checked(mut self) -> Result<Settings, Vec<SettingError>> {
        let mut problems = Problems::default();
        while self.issuer.ends_with('/') {
            self.issuer.pop();
        }
        match url::Url::parse(&self.issuer) {
            Err(e) => problems.add("issuer", format!("{:?} is not a URL: {e}", self.issuer)),
            Ok(issuer)
                if !matches!(issuer.scheme(), "http" | "https")
                    || issuer.query().is_some()
                    || issuer.fragment().is_some() =>
            {
                problems.add(
                    "issuer",
                    "must be an http(s) URL without query or fragment (OIDC Discovery §3)",
                )
            }
            Ok(_) => {}
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres:")
            || self.database_url.starts_with("postgresql:"))
        {
            problems.add(
                "database_url",
                "must start with sqlite:, postgres: or postgresql:",
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
            (
                "signin_failure_window_seconds",
                self.signin_failure_window_seconds,
            ),
        ] {
            if v <= 0 {
                problems.add(name, "must be positive");
            }
        }
        if self.refresh_reuse_grace_seconds < 0 {
            problems.add("refresh_reuse_grace_seconds", "must not be negative");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            problems.add("log_level", format!("is not a tracing filter: {e}"));
        }
        let argon2 = "is below OWASP's minimum for Argon2id (m=19456 KiB, t=2, p=1)";
        if self.password_hash_memory_kib < crate::core::password::MIN_MEMORY_KIB {
            problems.add("password_hash_memory_kib", argon2);
        }
        if self.password_hash_iterations < crate::core::password::MIN_ITERATIONS {
            problems.add("password_hash_iterations", argon2);
        }
        if self.password_hash_parallelism == 0 {
            problems.add("password_hash_parallelism", argon2);
        }
        for (name, v) in [
            ("audit_retention_days", u64::from(self.audit_retention_days)),
            (
                "database_acquire_timeout_seconds",
                self.database_acquire_timeout_seconds,
            ),
            ("key_refresh_seconds", self.key_refresh_seconds),
            ("outbox_poll_interval_ms", self.outbox_poll_interval_ms),
            ("outbox_lease_seconds", self.outbox_lease_seconds),
            (
                "signin_max_failures_per_username",
                u64::from(self.signin_max_failures_per_username),
            ),
            (
                "signin_max_failures_per_address",
                u64::from(self.signin_max_failures_per_address),
            ),
            (
                "device_user_code_max_failures",
                u64::from(self.device_user_code_max_failures),
            ),
            (
                "device_user_code_max_failures_per_address",
                u64::from(self.device_user_code_max_failures_per_address),
            ),
        ] {
            if v == 0 {
                problems.add(name, "must be positive");
            }
        }
        // An empty variable (LATCHKEY_TLS_CERT_FILE=) means unset.
        self.tls_cert_file = self.tls_cert_file.take().filter(|f| !f.trim().is_empty());
        self.tls_key_file = self.tls_key_file.take().filter(|f| !f.trim().is_empty());
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => problems.add(
                "tls_key_file",
                "must be set with tls_cert_file (HTTPS needs both)",
            ),
            (None, Some(_)) => problems.add(
                "tls_cert_file",
                "must be set with tls_key_file (HTTPS needs both)",
            ),
            _ => {}
        }
        self.check_brand(&mut problems);
        self.check_accounts(&mut problems);
        self.check_mfa(&mut problems);
        if problems.0.is_empty() {
            Ok(self)
        } else {
            Err(problems.0)
        }
    }
}

impl Settings {
    /// The branding settings: a name that fits a heading, a logo URL that
    /// the pages' CSP can name (docs/theming.md). The theme's files are
    /// checked when they are loaded (`serve`, `config check`).
    fn check_brand(&mut self, problems: &mut Problems) {
        self.brand_name = self.brand_name.trim().to_owned();
        if self.brand_name.is_empty() || self.brand_name.chars().count() > 64 {
            problems.add("brand_name", "must be 1 to 64 characters");
        }
        self.brand_logo_url = self.brand_logo_url.take().filter(|u| !u.trim().is_empty());
        self.theme_dir = self.theme_dir.take().filter(|d| !d.trim().is_empty());
        if let Some(logo) = &self.brand_logo_url
            && let Err(e) = crate::core::settings::logo_origin(logo, &self.issuer)
        {
            problems.add("brand_logo_url", e);
        }
    }
}

impl Settings {
    /// The accounts' settings (docs/accounts.md): a password rule that can
    /// be met, a mail server URL the mailer understands, a `From` address.
    fn check_accounts(&mut self, problems: &mut Problems) {
        if !(8..=crate::core::password_rules::MAX_LENGTH).contains(&self.password_min_length) {
            problems.add(
                "password_min_length",
                format!(
                    "must be 8 (NIST SP 800-63B's minimum) to {} characters",
                    crate::core::password_rules::MAX_LENGTH
                ),
            );
        }
        self.smtp_url = self.smtp_url.take().filter(|u| !u.trim().is_empty());
        if let Some(url) = &self.smtp_url
            && let Err(e) = crate::core::mail::SmtpTarget::parse(url)
        {
            problems.add("smtp_url", e);
        }
        if let Err(e) = crate::core::mail::check_from(&self.email_from) {
            problems.add("email_from", e);
        }
    }
}

impl Settings {
    /// The second factors' keys (docs/mfa.md): base64 of 32 bytes each.
    /// The errors never quote a key.
    fn check_mfa(&mut self, problems: &mut Problems) {
        self.mfa_encryption_key = self
            .mfa_encryption_key
            .take()
            .filter(|k| !k.trim().is_empty());
        self.mfa_encryption_previous_keys = self
            .mfa_encryption_previous_keys
            .take()
            .filter(|k| !k.trim().is_empty());
        if let Err(e) = crate::core::mfa::seal::keys_from_settings(self) {
            problems.add(e.0, e.1);
        }
    }
}

/// The names in the file that latchkey does not know: a typo in a setting
/// name would otherwise be silently ignored.
fn unknown_file_keys(path: &Path) -> anyhow::Result<Vec<String>> {
    let known = serde_json::to_value(Settings::default())?;
    let file = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()?;
    let table: std::collections::HashMap<String, config::Value> = file.try_deserialize()?;
    let mut unknown: Vec<String> = table
        .into_keys()
        .filter(|key| known.get(key).is_none())
        .collect();
    unknown.sort();
    Ok(unknown)
}

/// The settings from `merged` with every value that does not deserialize
/// into its setting's type reported and replaced by the default, each
/// value tried alone so that one bad value does not hide another.
fn well_typed(merged: &config::Config, problems: &mut Problems) -> anyhow::Result<Settings> {
    let known = serde_json::to_value(Settings::default())?;
    let names = known
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let mut good = config::Config::builder();
    for name in names {
        let Ok(value) = merged.get::<config::Value>(&name) else {
            continue;
        };
        let alone = config::Config::builder()
            .set_override(name.as_str(), value.clone())?
            .build()?
            .try_deserialize::<Settings>();
        match alone {
            Ok(_) => good = good.set_override(name.as_str(), value)?,
            Err(e) => problems.add(&name, plain_config_error(&e, &name)),
        }
    }
    Ok(good.build()?.try_deserialize()?)
}

/// `config`'s message without the trailing "for key `name`", which the
/// report already says.
fn plain_config_error(e: &config::ConfigError, name: &str) -> String {
    let text = e.to_string();
    let suffix = format!(" for key `{name}`");
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// What `latchkey config check` prints: every setting, with secrets masked.
///
/// Masked: any string setting whose name says it holds a secret (`secret`,
/// `password`, `token`, or `key` other than a file or directory path), and
/// the password of any URL (`postgres://user:****@host/db`, a `password=`
/// query parameter too). Numbers and booleans are never secret.
pub fn masked(settings: &Settings) -> serde_json::Map<String, serde_json::Value> {
    let Ok(serde_json::Value::Object(mut all)) = serde_json::to_value(settings) else {
        return serde_json::Map::new();
    };
    for (name, value) in all.iter_mut() {
        let serde_json::Value::String(text) = value else {
            continue;
        };
        let secret_name = ["secret", "password", "token", "key"]
            .iter()
            .any(|w| name.contains(w))
            && !name.ends_with("_file")
            && !name.ends_with("_dir");
        if secret_name && !text.is_empty() {
            *text = MASK.to_owned();
        } else if let Some(url) = mask_url(text) {
            *text = url;
        }
    }
    all
}

const MASK: &str = "****";

/// `text` with its URL password masked, if it is a URL with one.
fn mask_url(text: &str) -> Option<String> {
    let mut url = url::Url::parse(text).ok()?;
    let mut changed = false;
    if url.password().is_some() {
        url.set_password(Some(MASK)).ok()?;
        changed = true;
    }
    if url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    changed.then(|| url.to_string())
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

    #[test]
    fn every_bad_setting_is_reported_not_only_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.toml");
        std::fs::write(
            &path,
            "id_token_ttl_seconds = \"long\"\nkey_refresh_seconds = -5\n\
             log_format = \"xml\"\naudit_retention_days = 0\nbogus = 1\n",
        )
        .unwrap();
        let errors =
            Settings::load_checked(Some(&path), vec![("issuer", "nope".into())]).unwrap_err();
        let mut named: Vec<&str> = errors.iter().map(|e| e.setting.as_str()).collect();
        named.sort();
        assert_eq!(
            named,
            [
                "audit_retention_days",
                "bogus",
                "id_token_ttl_seconds",
                "issuer",
                "key_refresh_seconds",
                "log_format",
            ],
            "{errors:?}"
        );
        let message = Settings::load(Some(&path), vec![]).unwrap_err().to_string();
        assert!(
            message.contains("log_format") && message.contains("text or json"),
            "{message}"
        );
        assert!(
            message.contains("audit_retention_days: must be positive"),
            "{message}"
        );
    }

    #[test]
    fn tls_files_go_together_and_empty_means_unset() {
        let one = Settings {
            tls_cert_file: Some("/c.pem".into()),
            ..Settings::default()
        };
        let errors = one.checked().unwrap_err();
        assert_eq!(errors[0].setting, "tls_key_file");
        let empty = Settings {
            tls_cert_file: Some(String::new()),
            tls_key_file: Some(" ".into()),
            ..Settings::default()
        };
        let s = empty.checked().unwrap();
        assert_eq!((s.tls_cert_file, s.tls_key_file), (None, None));
    }

    #[test]
    fn secrets_are_masked_and_nothing_else() {
        let s = Settings {
            database_url: "postgres://lk:hunter2@db:5432/lk?sslmode=require".into(),
            trusted_proxies: "10.0.0.1".parse().unwrap(),
            tls_key_file: Some("/etc/latchkey/key.pem".into()),
            ..Settings::default()
        };
        let m = masked(&s);
        assert_eq!(
            m["database_url"],
            "postgres://lk:****@db:5432/lk?sslmode=require"
        );
        assert_eq!(m["tls_key_file"], "/etc/latchkey/key.pem");
        assert_eq!(m["password_hash_memory_kib"], 19456);
        assert_eq!(m["trusted_proxies"], "10.0.0.1");
        assert_eq!(m["issuer"], "http://127.0.0.1:8080");
        let url = mask_url("postgres://db/lk?user=lk&password=hunter2").unwrap();
        assert!(!url.contains("hunter2") && url.contains("user=lk"), "{url}");
        assert_eq!(mask_url("sqlite://latchkey.db"), None);
    }
}
