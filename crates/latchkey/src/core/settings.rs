//! The settings the server runs by, with their defaults and their types.
//!
//! They live in the core because the core runs by them; `crate::config`
//! reads them from the TOML file, the `LATCHKEY_*` environment and the
//! flags, and checks their ranges. A setting with a closed set of values is
//! a type here ([`SigningAlg`], [`LogFormat`], [`TrustedProxies`]), parsed
//! when the configuration is loaded, so that a bad value stops the start
//! instead of failing at the first request. The field names are the
//! settings' names in the file and the environment: renaming one is a
//! breaking change.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::keys::SigningAlg;
use super::password;

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
    /// Algorithm of newly generated signing keys: RS256, PS256 (RSASSA-PSS,
    /// which the FAPI 2.0 profile needs of RSA), ES256 or EdDSA.
    pub signing_alg: SigningAlg,
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
    /// successor, for clients that race themselves (two tabs, a retry after a
    /// lost response). 0 = never: any repeat revokes the family.
    pub refresh_reuse_grace_seconds: i64,
    /// Lifetime of authorization codes, seconds (RFC 6749 §4.1.2 recommends
    /// at most 10 minutes; 60 s is enough for any client).
    pub authorization_code_ttl_seconds: i64,
    /// How often each process re-reads the signing keys (to see rotations made
    /// by another process).
    pub key_refresh_seconds: u64,
    /// Size of the database connection pool of each process. On PostgreSQL
    /// each process also opens, on first use, up to 6 connections of its own
    /// for refresh-token reads and rotations (planned once, with index
    /// lookups only); count them in the server's `max_connections`.
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
    pub log_format: LogFormat,
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
    /// Allow dynamic client registration (RFC 7591, `POST
    /// /v1/oauth/register`) without an initial access token. Off by
    /// default: registration then needs a token made by `latchkey client
    /// initial-token`.
    pub registration_open_dcr: bool,
    /// Failed sign-ins for one username within the window after which that
    /// username is refused with 429, even with the right password.
    pub signin_max_failures_per_username: u32,
    /// Failed sign-ins from one client address within the window after which
    /// that address is refused with 429.
    pub signin_max_failures_per_address: u32,
    /// The window of the failure counters, seconds: a counter starts with its
    /// first failure and is forgotten when the window has passed.
    pub signin_failure_window_seconds: i64,
    /// Once a username has half its allowed failures, each further attempt
    /// on it waits this long before its password is checked. 0 disables the
    /// slowdown.
    pub signin_slowdown_ms: u64,
    /// Comma-separated IP addresses of reverse proxies whose
    /// `X-Forwarded-For` is believed. Empty (the default): the client address
    /// is the TCP peer, and `X-Forwarded-For` is ignored.
    pub trusted_proxies: TrustedProxies,
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

    // --- HTTPS (docs/cors-and-tls.md) ---
    /// PEM file with the server's certificate, then its intermediates. With
    /// `tls_key_file`, `serve` speaks HTTPS (TLS 1.2 and 1.3, HTTP/2 by
    /// ALPN) and SIGHUP reloads both files. Unset: plain HTTP, for a
    /// TLS-ending proxy in front.
    pub tls_cert_file: Option<String>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<String>,

    // --- Branding and languages (docs/theming.md) ---
    /// The product name the pages show (title, heading, logo's alt text).
    pub brand_name: String,
    /// The logo the pages show instead of the built-in mark: an `https://`
    /// (or `http://`) URL, or a path on this server. A logo on another origin
    /// is allowed by the pages' `Content-Security-Policy` (`img-src`), that
    /// origin only.
    pub brand_logo_url: Option<String>,
    /// The colour of buttons, links and accents, as `#RRGGBB` or `#RGB`.
    /// Text on it is white or near-black, whichever reads better. Unset: the
    /// built-in blue.
    pub brand_color: Option<CssColor>,
    /// A directory whose files replace the built-in ones by name: page
    /// templates (`login.html`, `consent.html`, …), the stylesheet
    /// (`latchkey.css`), and `locales/<tag>.toml` catalogues that override
    /// strings or add languages. Every template is rendered in every
    /// language at start: a theme that fails is refused, naming the file.
    pub theme_dir: Option<String>,

    // --- Outbox (durable e-mails and notifications) ---
    /// How often each process's outbox worker looks for messages due for
    /// delivery, in milliseconds (a message committed by the same process is
    /// picked up at once).
    pub outbox_poll_interval_ms: u64,
    /// How long a process holds a message it is delivering, in seconds: if it
    /// dies meanwhile, another process tries the message again once this has
    /// passed. Keep it well above the deliverers' own timeouts (20 s for
    /// SMTP), or a slow delivery may be repeated by a second process.
    pub outbox_lease_seconds: u64,

    // --- Sender-constrained tokens (docs/sender-constrained.md) ---
    /// Require a server nonce in every DPoP proof (RFC 9449 §8): a proof
    /// without a current one is answered `use_dpop_nonce` with a fresh
    /// nonce in the `DPoP-Nonce` header.
    pub dpop_require_nonce: bool,
    /// Every authorization request must come by PAR (RFC 9126): the
    /// authorization endpoint takes only a `request_uri` from
    /// `/v1/oauth/par`. Per client: `client create --require-par`.
    pub require_pushed_authorization_requests: bool,
    /// Let `private_key_jwt` clients' `jwks_uri` be plain `http` and point
    /// at loopback, private or link-local addresses. Off, latchkey fetches
    /// only `https` URLs whose host resolves to public addresses, so that a
    /// registration cannot aim it at the internal network. For tests and
    /// closed deployments.
    pub jwks_uri_allow_private: bool,
    // --- Accounts (docs/accounts.md) ---
    /// `closed`: users come from the CLI or the admin API. `open`: anyone may
    /// create an account on `/register` or with `POST /v1/signup`.
    pub registration: Registration,
    /// `required`: a user who registered cannot sign in until they followed
    /// the link of the verification e-mail. `optional`: they can at once.
    pub email_verification: EmailVerification,
    /// The mail server e-mails go through: `smtp://host:port` (plain),
    /// `smtp+starttls://user:pass@host:port` (STARTTLS required) or
    /// `smtps://user:pass@host:port` (TLS from the start). Unset: e-mails are
    /// written to the log at `info`, links included (for `serve --demo` and
    /// development; never in production).
    pub smtp_url: Option<String>,
    /// The `From` of the e-mails latchkey sends, e.g. `Example
    /// <no-reply@example.com>`.
    pub email_from: String,
    /// The fewest characters a new password may have (at most 256 are
    /// allowed; NIST SP 800-63B §5.1.1.2 asks for at least 8).
    pub password_min_length: usize,
    // --- Second factors (docs/mfa.md) ---
    /// `optional`: users may enrol a second factor (TOTP, passkeys), and
    /// those who have one always use it. `required`: every user must enrol
    /// one at their next sign-in.
    pub mfa: MfaPolicy,
    /// The AES-256-GCM key that seals TOTP secrets at rest: 32 random bytes
    /// in base64 (`openssl rand -base64 32`). Unset: derived from the
    /// server's HMAC key in the database (docs/mfa.md, "Key management").
    pub mfa_encryption_key: Option<String>,
    /// Earlier values of `mfa_encryption_key`, comma-separated: secrets
    /// sealed with them still open, and are sealed again with the current
    /// key when next used.
    pub mfa_encryption_previous_keys: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            database_url: "sqlite://latchkey.db".into(),
            default_audience: None,
            signing_alg: SigningAlg::RS256,
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
            log_format: LogFormat::Text,
            log_level: "info".into(),
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 10,
            password_hash_memory_kib: password::MIN_MEMORY_KIB,
            password_hash_iterations: password::MIN_ITERATIONS,
            password_hash_parallelism: 1,
            password_hash_concurrency: 0,
            registration_open_dcr: false,
            signin_max_failures_per_username: 10,
            signin_max_failures_per_address: 100,
            signin_failure_window_seconds: 15 * 60,
            signin_slowdown_ms: 500,
            trusted_proxies: TrustedProxies::default(),
            client_cache_revalidate_ms: 10,
            audit_retention_days: 90,
            require_pkce: true,
            session_idle_ttl_seconds: 24 * 3600,
            session_absolute_ttl_seconds: 14 * 24 * 3600,
            device_code_lifetime_seconds: 600,
            device_poll_interval_seconds: 5,
            device_user_code_max_failures: 5,
            device_user_code_max_failures_per_address: 100,
            tls_cert_file: None,
            tls_key_file: None,
            brand_name: "latchkey".into(),
            brand_logo_url: None,
            brand_color: None,
            theme_dir: None,
            outbox_poll_interval_ms: 1000,
            outbox_lease_seconds: 120,
            dpop_require_nonce: false,
            require_pushed_authorization_requests: false,
            jwks_uri_allow_private: false,
            registration: Registration::Closed,
            email_verification: EmailVerification::Required,
            smtp_url: None,
            email_from: "latchkey <no-reply@localhost>".into(),
            password_min_length: 8,
            mfa: MfaPolicy::Optional,
            mfa_encryption_key: None,
            mfa_encryption_previous_keys: None,
        }
    }
}

impl Settings {
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

    /// An endpoint's absolute URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Whether cookies get `Secure`: it follows the issuer's scheme, not the
    /// listener's, because TLS is often ended by a proxy in front.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// The origin a logo is fetched from when it is not the issuer's (for the
/// pages' `img-src`): `None` for a path on this server or a URL on the
/// issuer's origin. Only `http(s)` URLs and absolute paths are accepted,
/// and nothing that would need quoting in a CSP or an attribute.
pub fn logo_origin(logo: &str, issuer: &str) -> Result<Option<String>, String> {
    if logo.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | ';' | ',')
    }) {
        return Err("must not contain spaces, quotes, <, >, ; or ,".into());
    }
    if logo.starts_with('/') && !logo.starts_with("//") {
        return Ok(None);
    }
    let url = url::Url::parse(logo).map_err(|e| {
        format!("{logo:?} is neither an http(s) URL nor a path starting with /: {e}")
    })?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return Err(format!(
            "{logo:?} must be an http(s) URL without user info, or a path starting with /"
        ));
    }
    let origin = url.origin().ascii_serialization();
    let own = url::Url::parse(issuer)
        .map(|i| i.origin().ascii_serialization())
        .unwrap_or_default();
    Ok((origin != own).then_some(origin))
}

/// Who may create an account (`registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Users come from an operator (CLI, admin API) only.
    #[default]
    Closed,
    /// Anyone may register (`/register`, `POST /v1/signup`).
    Open,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Closed => "closed",
            Registration::Open => "open",
        }
    }
}

impl FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "closed" => Ok(Registration::Closed),
            "open" => Ok(Registration::Open),
            other => Err(format!(
                "registration must be closed or open, not {other:?}"
            )),
        }
    }
}

impl Serialize for Registration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Registration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_string(d)
    }
}

/// Whether a self-registered user must verify their address before signing
/// in (`email_verification`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailVerification {
    #[default]
    Required,
    Optional,
}

impl EmailVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailVerification::Required => "required",
            EmailVerification::Optional => "optional",
        }
    }
}

impl FromStr for EmailVerification {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "required" => Ok(EmailVerification::Required),
            "optional" => Ok(EmailVerification::Optional),
            other => Err(format!(
                "email_verification must be required or optional, not {other:?}"
            )),
        }
    }
}

impl Serialize for EmailVerification {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EmailVerification {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_string(d)
    }
}

/// Whether every user must have a second factor (`mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MfaPolicy {
    #[default]
    Optional,
    Required,
}

impl MfaPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaPolicy::Optional => "optional",
            MfaPolicy::Required => "required",
        }
    }
}

impl FromStr for MfaPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "optional" => Ok(MfaPolicy::Optional),
            "required" => Ok(MfaPolicy::Required),
            other => Err(format!("mfa must be optional or required, not {other:?}")),
        }
    }
}

impl Serialize for MfaPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MfaPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_string(d)
    }
}

/// The format of the log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// For people reading a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log_format must be text or json, not {other:?}")),
        }
    }
}

impl Serialize for LogFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_string(d)
    }
}

/// `signing_alg` is spelled as the JWS `alg` names (RFC 7518 §3.1, RFC 8037
/// §3.1).
impl Serialize for SigningAlg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SigningAlg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SigningAlg::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "signing_alg must be RS256, PS256, ES256 or EdDSA, not {s:?}"
            ))
        })
    }
}

/// Deserializes a setting written as a string through its `FromStr`, whose
/// error names the setting and what it accepts.
fn from_string<'de, D: Deserializer<'de>, T: FromStr<Err = String>>(d: D) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// A colour the pages' stylesheet can take as is: `#RRGGBB` (a `#RGB`
/// setting is expanded), lowercase. Nothing else gets into the CSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CssColor([u8; 3]);

impl CssColor {
    pub fn rgb(self) -> [u8; 3] {
        self.0
    }
}

impl FromStr for CssColor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("brand_color must be #RRGGBB or #RGB, not {s:?}");
        let hex = s.strip_prefix('#').ok_or_else(bad)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).map_err(|_| bad());
        match hex.len() {
            3 => Ok(CssColor([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17])),
            6 => {
                let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
                Ok(CssColor([byte(0)?, byte(2)?, byte(4)?]))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for CssColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl Serialize for CssColor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CssColor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_string(d)
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed: IP addresses,
/// written as one comma-separated string in the file and the environment.
/// Empty: no proxy is trusted, and the client address is the TCP peer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.0.contains(addr)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| format!("trusted_proxies: {s:?} is not an IP address"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, addr) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{addr}")?;
        }
        Ok(())
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_string(d)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trusted_proxies_parse_and_print() {
        let p: TrustedProxies = " 10.0.0.1, ::1 ,".parse().unwrap();
        assert!(p.contains(&"10.0.0.1".parse().unwrap()));
        assert!(p.contains(&"::1".parse().unwrap()));
        assert!(!p.contains(&"10.0.0.2".parse().unwrap()));
        assert_eq!(p.to_string(), "10.0.0.1,::1");
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        let err = "10.0.0.1,proxy.example"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(err.contains("proxy.example"), "{err}");
    }

    #[test]
    fn brand_colors_are_hex_only() {
        assert_eq!(
            "#3B5BDB".parse::<CssColor>().unwrap().to_string(),
            "#3b5bdb"
        );
        assert_eq!("#f80".parse::<CssColor>().unwrap().to_string(), "#ff8800");
        for bad in [
            "3b5bdb",
            "#3b5bd",
            "#3b5bdbff",
            "red",
            "#12345g",
            "#fff;}",
            "#+1+2+3",
            "",
        ] {
            let err = bad.parse::<CssColor>().unwrap_err();
            assert!(err.contains("brand_color"), "{bad}: {err}");
        }
    }

    #[test]
    fn typed_settings_keep_their_spelling() {
        let json = serde_json::to_value(Settings::default()).unwrap();
        assert_eq!(json["signing_alg"], "RS256");
        assert_eq!(json["log_format"], "text");
        assert_eq!(json["trusted_proxies"], "");
        let s: Settings = serde_json::from_value(serde_json::json!({
            "signing_alg": "EdDSA",
            "log_format": "json",
            "trusted_proxies": "127.0.0.1",
        }))
        .unwrap();
        assert_eq!(s.signing_alg, SigningAlg::EdDSA);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.trusted_proxies.to_string(), "127.0.0.1");
        for (bad, says) in [
            (
                serde_json::json!({"signing_alg": "HS256"}),
                "signing_alg must be",
            ),
            (
                serde_json::json!({"log_format": "xml"}),
                "log_format must be",
            ),
            (
                serde_json::json!({"trusted_proxies": "localhost"}),
                "trusted_proxies:",
            ),
        ] {
            let err = serde_json::from_value::<Settings>(bad.clone()).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }
}
