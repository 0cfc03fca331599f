//! Configuration: a TOML file (`--config`), overridden by `LATCHKEY_*`
//! environment variables, overridden by command-line flags (SPEC §1).
//!
//! Every setting `some_name` in the file is the variable `LATCHKEY_SOME_NAME`.
//! The table of settings in README.md is generated from the same names; keep
//! the two together.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::core::keys::SigningAlg;

/// Every setting, with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// The issuer URL: `iss` of every token and the base of every endpoint URL.
    pub issuer: String,
    /// `sqlite://FILE` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// `aud` of access tokens when the request names no `resource`; the issuer
    /// URL when unset.
    pub default_audience: Option<String>,
    /// Algorithm of newly generated signing keys: RS256, ES256 or EdDSA.
    pub signing_alg: String,
    pub access_token_ttl_seconds: i64,
    pub id_token_ttl_seconds: i64,
    pub refresh_token_idle_ttl_seconds: i64,
    pub refresh_token_absolute_ttl_seconds: i64,
    /// How long a rotated refresh token may be presented again and get the same
    /// successor (SPEC §4). 0 = never.
    pub refresh_reuse_grace_seconds: i64,
    pub authorization_code_ttl_seconds: i64,
    /// How often each process re-reads the signing keys (to see rotations made
    /// by another process).
    pub key_refresh_seconds: u64,
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before answering 503.
    pub database_acquire_timeout_seconds: u64,
    /// PostgreSQL: the server cancels a statement running longer than this
    /// (`statement_timeout`), so that a stuck query answers 503 instead of
    /// holding a connection. 0 disables it.
    pub database_statement_timeout_seconds: u64,
    /// SQLite only: `synchronous=FULL` instead of `NORMAL` (see ARCHITECTURE.md).
    pub sqlite_synchronous_full: bool,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `latchkey=debug,tower_http=info`.
    pub log_level: String,
    /// Requests taking longer are answered 503 and abandoned.
    pub request_timeout_seconds: u64,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace_seconds: u64,
    /// Argon2id memory per hash, KiB (at least 19456, OWASP).
    pub password_hash_memory_kib: u32,
    /// Argon2id iterations (at least 2).
    pub password_hash_iterations: u32,
    /// Argon2id lanes.
    pub password_hash_parallelism: u32,
    /// Hashes running at once; each holds `password_hash_memory_kib` of memory.
    /// 0 means one per CPU core.
    pub password_hash_concurrency: usize,
    /// Failed sign-ins for one username within the window after which that
    /// username is refused with 429, even with the right password (SPEC §5).
    pub signin_max_failures_per_username: u32,
    /// Failed sign-ins from one client address within the window after which
    /// that address is refused with 429.
    pub signin_max_failures_per_address: u32,
    /// The window of the failure counters, seconds: a counter starts with its
    /// first failure and is forgotten when the window has passed.
    pub signin_failure_window_seconds: i64,
    /// Once a username has half its allowed failures, each further attempt
    /// on it waits this long before its password is checked (the "slowed" of
    /// SPEC §5). 0 disables the slowdown.
    pub signin_slowdown_ms: u64,
    /// Comma-separated IP addresses of reverse proxies whose
    /// `X-Forwarded-For` is believed. Empty (the default): the client address
    /// is the TCP peer, and `X-Forwarded-For` is ignored.
    pub trusted_proxies: String,
    /// How stale the in-memory client cache may get under load: the clients
    /// generation is re-read when older than this (0 = on every request).
    pub client_cache_revalidate_ms: u64,
    /// Audit events older than this many days are purged.
    pub audit_retention_days: u32,
    /// Require PKCE (S256) from confidential clients too; public clients
    /// always need it (SPEC §6).
    pub require_pkce: bool,
    /// A browser session unused this long ends (pushed forward on use).
    pub session_idle_ttl_seconds: i64,
    /// A browser session ends this long after its sign-in, used or not.
    pub session_absolute_ttl_seconds: i64,
    /// How long a device code and its user code live (RFC 8628 §3.2
    /// `expires_in`).
    pub device_code_lifetime_seconds: i64,
    /// The minimum seconds between a device's token polls (RFC 8628 §3.2
    /// `interval`); a device polling faster gets `slow_down` and 5 s more.
    pub device_poll_interval_seconds: i64,
    /// Wrong user codes one browser session may type on `/device` within
    /// `signin_failure_window_seconds` before it is refused with 429
    /// (RFC 8628 §5.1).
    pub device_user_code_max_failures: u32,
    /// The same for one client address: higher, since many people may sit
    /// behind one NAT, and one of them must not lock the others out. At
    /// 20⁸ possible codes, 100 guesses per window stay negligible.
    pub device_user_code_max_failures_per_address: u32,

    // --- HTTPS (docs/cors-and-tls.md) ---
    /// PEM file with the server's certificate, then its intermediates. With
    /// `tls_key_file`, `serve` speaks HTTPS (TLS 1.2 and 1.3, HTTP/2 by
    /// ALPN) and SIGHUP reloads both files. Unset: plain HTTP, for a
    /// TLS-ending proxy in front.
    pub tls_cert_file: Option<String>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<String>,

    // --- Outbox (durable e-mails and notifications) ---
    /// How often each process's outbox worker looks for messages due for
    /// delivery, in milliseconds (a message committed by the same process is
    /// picked up at once).
    pub outbox_poll_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            database_url: "sqlite://latchkey.db".into(),
            default_audience: None,
            signing_alg: "RS256".into(),
            access_token_ttl_seconds: 15 * 60,
            id_token_ttl_seconds: 15 * 60,
            refresh_token_idle_ttl_seconds: 7 * 24 * 3600,
            refresh_token_absolute_ttl_seconds: 30 * 24 * 3600,
            refresh_reuse_grace_seconds: 0,
            authorization_code_ttl_seconds: 60,
            key_refresh_seconds: 30,
            database_max_connections: 10,
            database_acquire_timeout_seconds: 5,
            database_statement_timeout_seconds: 10,
            sqlite_synchronous_full: false,
            log_format: "text".into(),
            log_level: "info".into(),
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 10,
            password_hash_memory_kib: crate::core::password::MIN_MEMORY_KIB,
            password_hash_iterations: crate::core::password::MIN_ITERATIONS,
            password_hash_parallelism: 1,
            password_hash_concurrency: 0,
            signin_max_failures_per_username: 10,
            signin_max_failures_per_address: 100,
            signin_failure_window_seconds: 15 * 60,
            signin_slowdown_ms: 500,
            trusted_proxies: String::new(),
            client_cache_revalidate_ms: 10,
            audit_retention_days: 90,
            require_pkce: true,
            session_idle_ttl_seconds: 24 * 3600,
            session_absolute_ttl_seconds: 14 * 24 * 3600,
            device_code_lifetime_seconds: 600,
            device_poll_interval_seconds: 5,
            device_user_code_max_failures: 5,
            device_user_code_max_failures_per_address: 100,
            outbox_poll_interval_ms: 1000,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

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
        if self.signing_alg().is_err() {
            problems.add("signing_alg", "must be RS256, ES256 or EdDSA");
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
        if !matches!(self.log_format.as_str(), "text" | "json") {
            problems.add("log_format", "must be text or json");
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
        if let Err(e) = self.trusted_proxies() {
            let message = e.to_string();
            let message = message.trim_start_matches("trusted_proxies: ");
            problems.add("trusted_proxies", message);
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
        if problems.0.is_empty() {
            Ok(self)
        } else {
            Err(problems.0)
        }
    }

    pub fn signing_alg(&self) -> anyhow::Result<SigningAlg> {
        SigningAlg::parse(&self.signing_alg)
            .ok_or_else(|| anyhow::anyhow!("signing_alg must be RS256, ES256 or EdDSA"))
    }

    /// How many password hashes may run at once.
    pub fn max_concurrent_password_hashes(&self) -> usize {
        if self.password_hash_concurrency > 0 {
            self.password_hash_concurrency
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    pub fn default_audience(&self) -> &str {
        self.default_audience.as_deref().unwrap_or(&self.issuer)
    }

    /// How long a retired signing key stays published: the longest lifetime of a
    /// token it can have signed, plus the time other processes may keep signing
    /// with it before they notice the rotation, plus a minute of clock skew.
    pub fn retired_key_lifetime(&self) -> i64 {
        self.access_token_ttl_seconds.max(self.id_token_ttl_seconds)
            + self.key_refresh_seconds as i64
            + 60
    }

    /// The parsed `trusted_proxies`.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| anyhow::anyhow!("trusted_proxies: {s:?} is not an IP address"))
            })
            .collect()
    }

    /// An endpoint's absolute URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Whether cookies get `Secure`: it follows the issuer's scheme, not the
    /// listener's, because TLS is often ended by a proxy in front (SPEC §5).
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
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
            message.contains("log_format: must be text or json"),
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
            trusted_proxies: "10.0.0.1".into(),
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
