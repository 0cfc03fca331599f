//! Configuration: a TOML file (`--config`), overridden by `LATCHKEY_*`
//! environment variables, overridden by command-line flags (docs/configuration.md).
//!
//! Every setting `some_name` in the file is the variable `LATCHKEY_SOME_NAME`.
//! docs/configuration.md is generated from the doc comments of `Settings`
//! (tests/it/docs.rs fails when it is out of date), so a field's `///`
//! comment is its user documentation.

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
    /// Lifetime of access tokens (`expires_in`), seconds.
    pub access_token_ttl_seconds: i64,
    /// Lifetime of ID tokens, seconds.
    pub id_token_ttl_seconds: i64,
    /// A refresh token unused this long expires (7 days); each rotation
    /// starts a new idle period, capped by the absolute lifetime.
    pub refresh_token_idle_ttl_seconds: i64,
    /// A refresh-token family ends this long after its sign-in, however
    /// often it was rotated (30 days).
    pub refresh_token_absolute_ttl_seconds: i64,
    /// How long a rotated refresh token may be presented again and get the same
    /// successor (for clients that race themselves; see docs/first-party-apps.md). 0 = never.
    pub refresh_reuse_grace_seconds: i64,
    /// Lifetime of authorization codes, seconds (RFC 6749 §4.1.2 recommends
    /// at most 10 minutes; 60 s is enough for any client).
    pub authorization_code_ttl_seconds: i64,
    /// How often each process re-reads the signing keys (to see rotations made
    /// by another process).
    pub key_refresh_seconds: u64,
    /// Size of the database connection pool of each process.
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
    /// username is refused with 429, even with the right password (the answer carries `Retry-After`).
    pub signin_max_failures_per_username: u32,
    /// Failed sign-ins from one client address within the window after which
    /// that address is refused with 429.
    pub signin_max_failures_per_address: u32,
    /// The window of the failure counters, seconds: a counter starts with its
    /// first failure and is forgotten when the window has passed.
    pub signin_failure_window_seconds: i64,
    /// Once a username has half its allowed failures, each further attempt
    /// on it waits this long before its password is checked (the "slowed" of
    /// docs/first-party-apps.md). 0 disables the slowdown.
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
    /// always need it (RFC 9700 §2.1.1).
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
        }
    }
}

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
        self.signing_alg()?;
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
        if !matches!(self.log_format.as_str(), "text" | "json") {
            anyhow::bail!("log_format must be text or json");
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
        self.trusted_proxies()?;
        Ok(self)
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
    /// listener's, because TLS is often ended by a proxy in front (docs/first-party-apps.md).
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
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
