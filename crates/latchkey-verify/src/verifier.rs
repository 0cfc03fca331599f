//! The verifier: a JWKS cache and the checks of RFC 9068 §4.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use latchkey_proto::{ACCESS_TOKEN_TYP, AccessTokenClaims, ProviderMetadata};
use tokio::time::Instant;

use crate::config::{Algorithm, DpopMode, JwksSource, SharedClock, VerifierConfig};
use crate::dpop::{self, ReplayCache};
use crate::error::{ConfigError, FetchError, VerifyError};
use crate::jwt::{self, Compact};
use crate::keys::{KeyMap, VerificationKey};
use crate::service::{Scheme, presented_token};

/// Documents from latchkey larger than this are refused: a JWKS of a few
/// keys is a few KiB.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Verifies latchkey access tokens locally: the signature with a cached public
/// key, then `typ`, `iss`, `aud` and the time claims. No call to latchkey
/// except to fetch its JWKS, at start, when a token names a key not seen yet
/// (at most once per `refetch_interval`), and every `max_age` in the
/// background.
///
/// Cheap to clone: clones share the cache. Build one per process.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: i64,
    clock: SharedClock,
    refetch_interval: Duration,
    max_age: Duration,
    // A std lock, not tokio's: it is held only to clone or swap an `Arc`,
    // never across an await, so readers never wait on a fetch.
    cache: RwLock<Arc<Cache>>,
    /// The remote source, `None` for a static JWKS.
    remote: Option<Remote>,
    /// Set while a background refresh is scheduled, so that a stale cache
    /// under load spawns one task, not one per request.
    refresh_scheduled: AtomicBool,
    dpop: DpopMode,
    public_url: Option<String>,
    /// DPoP proofs seen (RFC 9449 §11.1).
    replay: ReplayCache,
}

struct Cache {
    keys: KeyMap,
    /// When the keys were fetched, by the injected clock (so that the age
    /// that makes them stale is tested without sleeping); `None` before the
    /// first successful fetch.
    fetched_at: Option<i64>,
}

struct Remote {
    http: reqwest::Client,
    source: RemoteSource,
    /// Held for the whole of a fetch: one fetch in flight at a time, and the
    /// requests that wait for it see its result instead of fetching again.
    fetch: tokio::sync::Mutex<FetchState>,
}

enum RemoteSource {
    Discovery { url: String },
    Jwks { url: String },
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// `jwks_uri` from discovery, remembered once found.
    jwks_uri: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("algorithms", &self.inner.algorithms)
            .field("keys", &self.inner.snapshot().keys.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier without any I/O: with a remote JWKS the keys are
    /// fetched by the first token to verify (or by [`Verifier::refresh`]), so
    /// a service starts even while latchkey is down and answers 401 until
    /// latchkey is back.
    pub fn new(config: VerifierConfig) -> Result<Verifier, ConfigError> {
        if config.issuer.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        if config.audiences.is_empty() || config.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::NoAudience);
        }
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithm);
        }
        let (keys, remote) = match config.jwks {
            JwksSource::Static(jwks) => (KeyMap::from_jwks(&jwks, &config.algorithms), None),
            JwksSource::Discovery | JwksSource::Url(_) => {
                let http = reqwest::Client::builder()
                    .timeout(config.http_timeout)
                    .connect_timeout(config.http_timeout)
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
                    .map_err(|e| ConfigError::Http(e.to_string()))?;
                let source = match config.jwks {
                    JwksSource::Url(url) => RemoteSource::Jwks { url },
                    _ => RemoteSource::Discovery {
                        url: discovery_url(&config.issuer),
                    },
                };
                let remote = Remote {
                    http,
                    source,
                    fetch: tokio::sync::Mutex::new(FetchState::default()),
                };
                (KeyMap::default(), Some(remote))
            }
        };
        let leeway = i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX);
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuer: config.issuer,
                audiences: config.audiences,
                algorithms: config.algorithms,
                leeway,
                clock: config.clock,
                refetch_interval: config.refetch_interval,
                max_age: config.max_age,
                cache: RwLock::new(Arc::new(Cache {
                    keys,
                    fetched_at: None,
                })),
                remote,
                refresh_scheduled: AtomicBool::new(false),
                dpop: config.dpop,
                public_url: config
                    .public_url
                    .map(|u| u.trim_end_matches('/').to_owned()),
                replay: ReplayCache::new(config.dpop_replay_capacity),
            }),
        })
    }

    /// Fetches the JWKS now, whatever the refetch interval says. Returns how
    /// many usable keys it holds. A service may call it at start to fail fast
    /// on a wrong issuer; on error the keys cached before are kept.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let remote = self.inner.remote.as_ref().ok_or(FetchError::Static)?;
        let mut state = remote.fetch.lock().await;
        state.last_attempt = Some(Instant::now());
        let keys = self.inner.fetch(remote, &mut state).await?;
        Ok(keys)
    }

    /// Verifies the access token of a request, and its DPoP binding
    /// (RFC 9449 §7.1): a token whose claims carry `cnf` is accepted only
    /// as `Authorization: DPoP`, with exactly one `DPoP` proof for this
    /// method and URL, `iat` within the leeway, `ath` the token's hash, by
    /// the key whose thumbprint is `cnf.jkt`, and not seen before. What is
    /// accepted at all is the configured [`DpopMode`].
    pub async fn verify_request(
        &self,
        headers: &http::HeaderMap,
        method: &http::Method,
        uri: &http::Uri,
    ) -> Result<AccessTokenClaims, VerifyError> {
        let inner = &self.inner;
        let (scheme, token) = presented_token(headers)?;
        let claims = self.verify(token).await?;
        let bound = claims.cnf.as_ref().map(|c| c.jkt.as_str());
        match (scheme, bound, inner.dpop) {
            (Scheme::Bearer, Some(_), _) => Err(VerifyError::InvalidDpop(
                "a DPoP-bound token presented as Bearer",
            )),
            (Scheme::Bearer, None, DpopMode::BoundOnly) => Err(VerifyError::InvalidDpop(
                "this resource accepts DPoP-bound tokens only",
            )),
            (Scheme::Bearer, None, _) => Ok(claims),
            (Scheme::Dpop, None, _) => {
                Err(VerifyError::InvalidDpop("a Bearer token presented as DPoP"))
            }
            (Scheme::Dpop, Some(_), DpopMode::BearerOnly) => Err(VerifyError::InvalidDpop(
                "this resource does not accept DPoP-bound tokens",
            )),
            (Scheme::Dpop, Some(jkt), _) => {
                let mut proofs = headers.get_all("dpop").iter();
                let (Some(proof), None) = (proofs.next(), proofs.next()) else {
                    return Err(VerifyError::InvalidDpop(
                        "a DPoP token needs exactly one DPoP proof",
                    ));
                };
                let proof = proof
                    .to_str()
                    .map_err(|_| VerifyError::InvalidDpop("the DPoP proof is not ASCII"))?;
                let url = self.request_url(headers, uri)?;
                let target = dpop::Target {
                    method: method.as_str(),
                    url: &url,
                    access_token: token,
                    jkt,
                };
                dpop::check(
                    proof,
                    &target,
                    inner.clock.now(),
                    inner.leeway,
                    &inner.replay,
                )?;
                Ok(claims)
            }
        }
    }

    /// The request's URL as a DPoP proof names it: the configured public
    /// URL (or `http://` and `Host`) and the path, no query.
    fn request_url(
        &self,
        headers: &http::HeaderMap,
        uri: &http::Uri,
    ) -> Result<String, VerifyError> {
        let path = uri.path();
        if let Some(base) = &self.inner.public_url {
            return Ok(format!("{base}{path}"));
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(http::uri::Authority::as_str))
            .ok_or(VerifyError::InvalidDpop("the request names no host"))?;
        Ok(format!("http://{host}{path}"))
    }

    /// Verifies a compact JWS access token and returns its claims.
    ///
    /// Every failure is [`VerifyError::Invalid`] except a token that is
    /// valid in every respect but `exp`, which is [`VerifyError::Expired`]
    /// (so that a client knows refreshing will help).
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims, VerifyError> {
        let inner = &self.inner;
        let jws = Compact::split(token)?;
        let header = &jws.header;
        if header.names_its_own_key() {
            // docs/endpoints.md, docs/resource-servers.md: never fetch or trust a key the token points at.
            return Err(VerifyError::Invalid(
                "tokens naming or embedding their own key are refused",
            ));
        }
        if header.has_crit() {
            return Err(VerifyError::Invalid("unsupported critical header"));
        }
        // RFC 9068 §4: "Resource servers MUST verify that the typ header value
        // is at+jwt or application/at+jwt and reject tokens carrying any
        // other value." (RFC 7515 §4.1.9: media types are case-insensitive.)
        if !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(VerifyError::Invalid("typ is not at+jwt"));
        }
        // Refuse algorithms we never accept before spending anything on a
        // key lookup (and before an unknown kid can cause a fetch).
        let Some(alg) = Algorithm::parse(&header.alg).filter(|a| inner.algorithms.contains(a))
        else {
            return Err(VerifyError::Invalid("algorithm not allowed"));
        };
        let Some(kid) = header.kid.as_deref() else {
            return Err(VerifyError::Invalid("the token names no key"));
        };
        let cache = inner.key_cache(kid).await;
        let Some(key) = cache.keys.get(kid) else {
            return Err(VerifyError::Invalid("unknown signing key"));
        };
        verify_signature(key, alg, &jws)?;
        let payload = jwt::decode_b64(jws.payload_b64)?;
        let claims: AccessTokenClaims = jwt::from_json_object(&payload)?;
        inner.check_claims(&claims)?;
        Ok(claims)
    }

    /// Verifies, then requires every scope in `scopes` (RFC 6750 §3.1
    /// `insufficient_scope` otherwise).
    pub async fn verify_with_scopes(
        &self,
        token: &str,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims, VerifyError> {
        let claims = self.verify(token).await?;
        require_scopes(&claims, scopes.iter().copied())?;
        Ok(claims)
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }
}

/// `Ok` when `claims` carries every one of `scopes`; otherwise the first one
/// missing.
pub(crate) fn require_scopes<'a>(
    claims: &AccessTokenClaims,
    scopes: impl IntoIterator<Item = &'a str>,
) -> Result<(), VerifyError> {
    for scope in scopes {
        if !claims.has_scope(scope) {
            return Err(VerifyError::InsufficientScope(scope.to_owned()));
        }
    }
    Ok(())
}

fn is_access_token_typ(typ: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
}

/// The algorithm is the key's: the header's `alg` must name it, but can
/// never make a key be used with another algorithm.
fn verify_signature(
    key: &VerificationKey,
    alg: Algorithm,
    jws: &Compact<'_>,
) -> Result<(), VerifyError> {
    if key.alg != alg {
        return Err(VerifyError::Invalid("algorithm does not match the key"));
    }
    if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(VerifyError::Invalid("bad signature"));
    }
    Ok(())
}

fn discovery_url(issuer: &str) -> String {
    // OIDC Discovery §4: the issuer with any trailing slash removed, then
    // the well-known path.
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl Inner {
    fn snapshot(&self) -> Arc<Cache> {
        match self.cache.read() {
            Ok(guard) => guard.clone(),
            // A poisoned lock only means a writer panicked mid-swap; the Arc
            // inside is still a whole cache.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, cache: Cache) {
        let cache = Arc::new(cache);
        match self.cache.write() {
            Ok(mut guard) => *guard = cache,
            Err(poisoned) => *poisoned.into_inner() = cache,
        }
    }

    /// Whether keys fetched at `at` are older than `max_age` (in whole
    /// seconds of the injected clock). A clock that went backwards makes them
    /// stale too: a refresh is cheap, and keeping keys until the clock
    /// catches up would not be.
    fn is_stale(&self, at: i64) -> bool {
        let age = self.clock.now().saturating_sub(at);
        let max_age = i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        age < 0 || age >= max_age
    }

    /// The cache, refetched first if `kid` is unknown and the refetch
    /// interval allows it.
    async fn key_cache(self: &Arc<Self>, kid: &str) -> Arc<Cache> {
        let cache = self.snapshot();
        let Some(remote) = &self.remote else {
            return cache;
        };
        if cache.keys.get(kid).is_some() {
            if cache.fetched_at.is_some_and(|at| self.is_stale(at)) {
                self.schedule_refresh();
            }
            return cache;
        }
        let mut state = remote.fetch.lock().await;
        // Whoever held the lock before us may have fetched the key.
        let cache = self.snapshot();
        if cache.keys.get(kid).is_some() {
            return cache;
        }
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.refetch_interval)
        {
            return cache;
        }
        state.last_attempt = Some(Instant::now());
        if let Err(e) = self.fetch(remote, &mut state).await {
            tracing::warn!(error = %e, "fetching the JWKS failed; keeping the cached keys");
        }
        self.snapshot()
    }

    /// Refreshes a stale cache without making any request wait for it.
    fn schedule_refresh(self: &Arc<Self>) {
        // Outside a Tokio runtime (a future polled by another executor)
        // there is nowhere to spawn to; the cached keys go on serving and an
        // unknown kid still triggers a refetch.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.refresh_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        runtime.spawn(async move {
            if let Some(remote) = &inner.remote {
                let mut state = remote.fetch.lock().await;
                let stale = inner
                    .snapshot()
                    .fetched_at
                    .is_none_or(|at| inner.is_stale(at));
                let allowed = state
                    .last_attempt
                    .is_none_or(|at| at.elapsed() >= inner.refetch_interval);
                if stale && allowed {
                    state.last_attempt = Some(Instant::now());
                    if let Err(e) = inner.fetch(remote, &mut state).await {
                        tracing::warn!(error = %e, "refreshing the JWKS failed; keeping the cached keys");
                    }
                }
            }
            inner.refresh_scheduled.store(false, Ordering::Release);
        });
    }

    /// One fetch of the JWKS (after discovery, the first time), swapped in
    /// whole on success. The caller holds the fetch lock.
    async fn fetch(&self, remote: &Remote, state: &mut FetchState) -> Result<usize, FetchError> {
        let jwks_uri = match (&remote.source, &state.jwks_uri) {
            (RemoteSource::Jwks { url }, _) => url.clone(),
            (RemoteSource::Discovery { .. }, Some(uri)) => uri.clone(),
            (RemoteSource::Discovery { url }, None) => {
                let body = get_limited(&remote.http, url).await?;
                let metadata: ProviderMetadata =
                    serde_json::from_slice(&body).map_err(|e| FetchError::Malformed {
                        url: url.clone(),
                        message: e.to_string(),
                    })?;
                if metadata.issuer != self.issuer {
                    return Err(FetchError::IssuerMismatch {
                        expected: self.issuer.clone(),
                        found: metadata.issuer,
                    });
                }
                state.jwks_uri = Some(metadata.jwks_uri.clone());
                metadata.jwks_uri
            }
        };
        let body = get_limited(&remote.http, &jwks_uri).await?;
        let keys =
            KeyMap::parse(&body, &self.algorithms).map_err(|message| FetchError::Malformed {
                url: jwks_uri.clone(),
                message,
            })?;
        let count = keys.len();
        tracing::debug!(keys = count, url = %jwks_uri, "JWKS loaded");
        self.store(Cache {
            keys,
            fetched_at: Some(self.clock.now()),
        });
        Ok(count)
    }

    /// RFC 9068 §4 steps 3 to 8, after the signature: `iss`, `aud`, `iat`,
    /// `nbf`, then `exp`, last, so that only an otherwise valid token is
    /// reported as merely expired.
    fn check_claims(&self, claims: &AccessTokenClaims) -> Result<(), VerifyError> {
        // RFC 9068 §4: the iss claim "MUST exactly match" the issuer.
        if claims.iss != self.issuer {
            return Err(VerifyError::Invalid("wrong issuer"));
        }
        if !claims
            .aud
            .iter()
            .any(|aud| self.audiences.iter().any(|ours| ours == aud))
        {
            return Err(VerifyError::Invalid("not for this audience"));
        }
        let now = self.clock.now();
        let leeway = self.leeway;
        if claims.iat > now.saturating_add(leeway) {
            return Err(VerifyError::Invalid("issued in the future"));
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(VerifyError::Invalid("not valid yet"));
        }
        // RFC 7519 §4.1.4: the current time "MUST be before" exp.
        if now >= claims.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        Ok(())
    }
}

/// GETs a document, refusing bodies over [`MAX_DOCUMENT_BYTES`].
async fn get_limited(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, FetchError> {
    let http_err = |e: reqwest::Error| FetchError::Http {
        url: url.to_owned(),
        message: e.to_string(),
    };
    let mut resp = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(http_err)?;
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: resp.status().as_u16(),
        });
    }
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit: MAX_DOCUMENT_BYTES,
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Fetches an issuer's discovery document (OIDC Discovery §4), checking that
/// it names the same issuer. Useful to find the token endpoint for
/// [`ClientCredentials`](crate::ClientCredentials).
pub async fn discover(issuer: &str) -> Result<ProviderMetadata, FetchError> {
    let url = discovery_url(issuer);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| FetchError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let body = get_limited(&http, &url).await?;
    let metadata: ProviderMetadata =
        serde_json::from_slice(&body).map_err(|e| FetchError::Malformed {
            url: url.clone(),
            message: e.to_string(),
        })?;
    if metadata.issuer != issuer {
        return Err(FetchError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_is_at_jwt_in_either_spelling() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert!(is_access_token_typ(ok), "{ok}");
        }
        for bad in [
            "",
            "JWT",
            "jwt",
            "at+jwt ",
            "application/jwt",
            "application/",
            "x/at+jwt",
            "é",
        ] {
            assert!(!is_access_token_typ(bad), "{bad}");
        }
    }

    #[test]
    fn discovery_url_drops_a_trailing_slash() {
        assert_eq!(
            discovery_url("https://id.example.com/"),
            "https://id.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused() {
        let base = || VerifierConfig::new("https://id.example.com", "api");
        assert!(Verifier::new(base()).is_ok());
        let mut c = base();
        c.audiences.clear();
        assert_eq!(Verifier::new(c).err(), Some(ConfigError::NoAudience));
        let mut c = base();
        c.algorithms.clear();
        assert_eq!(Verifier::new(c).err(), Some(ConfigError::NoAlgorithm));
        let mut c = base();
        c.issuer.clear();
        assert_eq!(Verifier::new(c).err(), Some(ConfigError::NoIssuer));
    }
}
