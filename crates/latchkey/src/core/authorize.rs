//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2):
//! validating a request, deciding whether the browser must sign in or
//! consent, and issuing the code.
//!
//! RFC 6749 §4.1, each step mapped to its handler:
//!
//! ```text
//! +----------+
//! | Resource |
//! |   Owner  |
//! +----------+
//!      ^
//!      |
//!     (B)  GET /login, POST /login          http::pages::login
//! +----|-----+          Client Identifier      +---------------+
//! |         -+----(A)-- & Redirection URI ---->|               |
//! |  User-   |     GET /v1/oauth/authorize     | Authorization |
//! |  Agent  -+----(B)-- User authenticates --->|     Server    |
//! |          |     GET, POST /consent          |               |
//! |         -+----(C)-- Authorization Code ---<|               |
//! +-|----|---+     303 to redirect_uri         +---------------+
//!   |    |         ?code&state&iss                 ^      v
//!  (A)  (C)                                        |      |
//!   |    |                                         |      |
//!   ^    v                                         |      |
//! +---------+                                      |      |
//! |         |>---(D)-- Authorization Code ---------'      |
//! |  Client |    POST /v1/oauth/token                     |
//! |         |    core::grants::authorization_code         |
//! |         |<---(E)----- Access Token -------------------'
//! +---------+       (w/ Optional Refresh Token, ID Token)
//! ```
//!
//! (A) is [`authorize`]; (B) ends in [`resume`] (after the login page) or
//! [`consent`] (the consent page's decision); (C) is [`issue_code`]; (D)/(E)
//! are `grants::authorization_code`.
//!
//! The request waiting for a page is stored server-side
//! ([`PendingRequestStore`]), keyed by the hash of a random id and bound to
//! the browser that started it: a page's hidden fields carry only that id
//! and a CSRF token, never the request itself.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::Authority;
use super::audit::{self, AuditEvent};
use super::clients::{self, Client, ClientCredentials, ClientId, ClientStore, GrantType};
use super::clock::UnixTime;
use super::codes::{self, CodeStore, StoredCode};
use super::consent::{self, ConsentStore};
use super::decision::Decision;
use super::discovery::paths;
use super::dpop::{self, DpopReplayStore, ProofHeader, ProofTarget};
use super::error::{Error, Result};
use super::mfa::challenge::{self, NewChallenge};
use super::mfa::{self, ChallengeContext, ChallengeKind, MfaStore};
use super::par::{self, PushedRequestStore};
use super::params::Params;
use super::prompt::Prompt;
use super::scope::{self, Scope};
use super::secret::{self, Secret, SecretHash};
use super::sessions::Session;
use super::settings::{MfaPolicy, Settings};
use super::tokens;
use super::users::UserStore;

/// How long a request may wait for the login and consent pages.
pub const PENDING_TTL_SECONDS: i64 = 600;

/// The longest an authorization code of a `fapi2` client lives.
pub const FAPI2_CODE_TTL_SECONDS: i64 = 60;

/// Lengths above which a parameter is refused rather than stored.
const MAX_STATE_LEN: usize = 2048;
const MAX_NONCE_LEN: usize = 512;
const MAX_HINT_LEN: usize = 256;
const MAX_UI_LOCALES_LEN: usize = 256;
const MAX_ACR_VALUES_LEN: usize = 256;

/// A validated authorization request, as it waits for the pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: String,
    /// The scope to grant: the requested one, within the client's.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub audience: Vec<String>,
    /// The stored row spells it as the flags `prompt_none`,
    /// `prompt_login`, `prompt_consent` (see [`Prompt`]).
    #[serde(flatten)]
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// OIDC Core §3.1.2.1 `ui_locales`: the languages the pages should
    /// speak, in order of preference (space-separated tags). Ones latchkey
    /// lacks are skipped, never an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_locales: Option<String>,
    /// Set when the request reaches the consent stage: the hash of the
    /// session that passed the login checks (`prompt=login`, `max_age`). The
    /// consent page serves the request only to that session, so that a
    /// request still waiting for its login cannot be carried to `/consent`
    /// by hand and approved by a stale session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_session: Option<String>,
    /// RFC 9449 §10 `dpop_jkt`: the thumbprint of the DPoP key the code
    /// will be bound to (or the key of the proof sent to the PAR endpoint,
    /// §10.1), so that a code stolen on its way back through the browser is
    /// useless without that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// OIDC Core §3.1.2.1 `acr_values`: "2" asks for two factors
    /// (docs/mfa.md), "1" for one; others are ignored.
    pub acr_values: Option<String>,
}

impl AuthorizationRequest {
    pub fn scope(&self) -> Result<Scope> {
        Scope::parse(&self.scope)
    }

    /// Whether this request waits for `session`'s consent (see
    /// `consent_session`).
    pub fn awaits_consent_of(&self, session: &Session) -> bool {
        self.consent_session
            .as_deref()
            .is_some_and(|h| secret::constant_time_eq(h, session.id_hash.as_str()))
    }
}

/// What the authorization endpoint (or a page that continues its request)
/// does next. `http` only matches on it.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    /// The client or `redirect_uri` cannot be trusted: show an error page,
    /// never redirect (RFC 6749 §4.1.2.1).
    ErrorPage(Error),
    /// Send the browser back to the client, with a code or an error.
    Redirect(String),
    /// Show the login page for this pending request.
    LoginRequired { request_id: Secret },
    /// Show the consent page for this pending request.
    ConsentRequired { request_id: Secret },
    /// The session has one factor and the request wants two, and the user
    /// has a second factor: the second-step page for this challenge (which
    /// continues the pending request).
    SecondFactorRequired { challenge: Secret },
    /// The request wants two factors and the user has none: the enrolment
    /// page, which continues this pending request once one is enrolled.
    EnrollmentRequired { request_id: Secret },
}

/// The stores the authorization endpoint and its pages use between them.
pub trait AuthorizeStores:
    ClientStore
    + UserStore
    + ConsentStore
    + PendingRequestStore
    + CodeStore
    + PushedRequestStore
    + MfaStore
{
}

impl<T> AuthorizeStores for T where
    T: ClientStore
        + UserStore
        + ConsentStore
        + PendingRequestStore
        + CodeStore
        + PushedRequestStore
        + MfaStore
{
}

/// A request waiting for a page, as stored.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub request: AuthorizationRequest,
    pub browser_hash: SecretHash,
    pub expires_at: UnixTime,
}

/// Storage of pending requests.
///
/// Contract: a request is found only by the hash of its id, until it expires
/// or is deleted.
pub trait PendingRequestStore: Send + Sync {
    fn insert_pending(
        &self,
        id_hash: &SecretHash,
        pending: &PendingRequest,
        now: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn find_pending(
        &self,
        id_hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<PendingRequest>>> + Send;
    fn delete_pending(&self, id_hash: &SecretHash) -> impl Future<Output = Result<bool>> + Send;
    fn purge_pending(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// Step (A): validates the request and decides what comes next.
///
/// `browser` is the `latchkey_browser` cookie the response will carry (the
/// caller creates one if the request had none); `session` the live session
/// of the browser, if any.
pub async fn authorize<S: AuthorizeStores>(
    auth: &Authority<S>,
    params: &Params,
    browser: &str,
    session: Option<&Session>,
) -> Result<AuthorizeOutcome> {
    // RFC 9126 §4: with a `request_uri`, the pushed parameters are the
    // request, and nothing else is.
    let pushed;
    let (params, by_par) = if params.contains("request_uri") {
        pushed = match par::take(auth, params).await {
            Ok(p) => p,
            Err(e @ (Error::Internal(_) | Error::TemporarilyUnavailable(_))) => return Err(e),
            Err(e) => return Ok(AuthorizeOutcome::ErrorPage(e)),
        };
        (&pushed, true)
    } else {
        (params, false)
    };
    let client_id = params.get("client_id");
    let redirect_uri = params.get("redirect_uri");
    let (Some(client_id), Some(redirect_uri)) = (client_id, redirect_uri) else {
        return Ok(AuthorizeOutcome::ErrorPage(Error::invalid_request(
            "the request must name a client_id and a redirect_uri",
        )));
    };
    let Some(client) = auth
        .clients
        .get(&auth.store, &ClientId::new(client_id))
        .await?
    else {
        return Ok(AuthorizeOutcome::ErrorPage(Error::invalid_request(
            "unknown client",
        )));
    };
    // "The authorization server MUST compare the two URIs using simple string
    // comparison" (RFC 9700 §4.1.3).
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Ok(AuthorizeOutcome::ErrorPage(Error::invalid_request(
            "the redirect_uri is not registered for this client",
        )));
    }
    // "the authorization server MUST reject authorization requests
    // without a request_uri" from a client that must use PAR (RFC 9126 §5).
    if !by_par && par::required_for(auth, &client) {
        return Ok(AuthorizeOutcome::ErrorPage(Error::invalid_request(
            "this client must push its authorization requests to /v1/oauth/par (RFC 9126)",
        )));
    }
    // From here on, errors go back to the client.
    let state = params.get("state").filter(|s| s.len() <= MAX_STATE_LEN);
    let back = |e: Error| {
        AuthorizeOutcome::Redirect(redirect_url(
            &auth.settings.issuer,
            redirect_uri,
            Err(&e),
            state,
        ))
    };
    let request = match validate(auth, &client, redirect_uri, params) {
        Ok(r) => r,
        Err(e) => return Ok(back(e)),
    };
    decide(auth, request, browser, session, Login::Earlier).await
}

/// Checks everything but the client and `redirect_uri` (also at the PAR
/// endpoint, `core::par`).
pub(crate) fn validate<S>(
    auth: &Authority<S>,
    client: &Client,
    redirect_uri: &str,
    params: &Params,
) -> Result<AuthorizationRequest> {
    if params.get("state").is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(Error::invalid_request("state is too long"));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(Error::invalid_request("response_type is required")),
        Some(_) => {
            return Err(Error::UnsupportedResponseType(
                "only response_type=code is supported".into(),
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(Error::UnauthorizedClient(
            "the client is not registered for the authorization_code grant".into(),
        ));
    }
    if params.contains("request") || params.contains("request_uri") {
        // A `request_uri` was resolved by `authorize` before this; one
        // left here is inside a pushed request.
        return Err(Error::invalid_request("request objects are not supported"));
    }
    let requested = params.get("scope").map(Scope::parse).transpose()?;
    let scope = Scope::grant(requested, &client.scopes)?;
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(c), Some("S256")) if codes::is_pkce_string(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(Error::invalid_request("code_challenge is malformed"));
        }
        // RFC 7636 §4.3: without a method, the method is "plain".
        (Some(_), _) => {
            return Err(Error::invalid_request(
                "code_challenge_method must be S256; plain is refused",
            ));
        }
        (None, _) if client.is_public() || auth.settings.require_pkce || client.is_fapi2() => {
            return Err(Error::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, _) => None,
    };
    let audience = tokens::audience(client, params.get_all("resource"), &auth.settings)?;
    let prompt = Prompt::parse(params.get("prompt"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::invalid_request("max_age must be a non-negative integer"))?,
        ),
    };
    let nonce = params.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(Error::invalid_request("nonce is too long"));
    }
    let dpop_jkt = params.get("dpop_jkt");
    if dpop_jkt.is_some_and(|j| !dpop::is_thumbprint(j)) {
        return Err(Error::invalid_request(
            "dpop_jkt must be an RFC 7638 SHA-256 thumbprint, base64url",
        ));
    }
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_string(),
        state: params.get("state").map(str::to_owned),
        nonce: nonce.map(str::to_owned),
        code_challenge,
        audience,
        prompt,
        max_age,
        login_hint: params
            .get("login_hint")
            .filter(|h| h.len() <= MAX_HINT_LEN)
            .map(str::to_owned),
        // Only the pages' language depends on it: an overlong value is
        // dropped rather than refused.
        ui_locales: params
            .get("ui_locales")
            .filter(|l| l.len() <= MAX_UI_LOCALES_LEN)
            .map(str::to_owned),
        consent_session: None,
        dpop_jkt: dpop_jkt.map(str::to_owned),
        acr_values: params
            .get("acr_values")
            .filter(|v| v.len() <= MAX_ACR_VALUES_LEN)
            .map(str::to_owned),
    })
}

/// Whether a request must be granted to a session with two factors: it
/// asks for `acr` "2", its client is registered `--require-mfa`, or every
/// user must have a second factor (`mfa = "required"`).
pub fn requires_mfa(settings: &Settings, client: &Client, request: &AuthorizationRequest) -> bool {
    settings.mfa == MfaPolicy::Required
        || client.policy.require_mfa
        || mfa::acr_values_require_mfa(request.acr_values.as_deref())
}

/// The answer of a push (RFC 9126 §2.2).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub request_uri: String,
    pub expires_in: i64,
}

/// `POST /v1/oauth/par` (RFC 9126 §2): authenticates the client,
/// validates the request as [`authorize`] would, and stores it for
/// `par::take`.
pub async fn push<S: ClientStore + PushedRequestStore + DpopReplayStore>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
    proof: &ProofHeader,
) -> Result<Pushed> {
    let client = clients::authenticate(auth, creds).await?;
    // "The request_uri authorization request parameter is one exception,
    // and it MUST NOT be provided." (RFC 9126 §2.1)
    if params.contains("request_uri") {
        return Err(Error::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    if params
        .get("client_id")
        .is_some_and(|id| !secret::constant_time_eq(id, client.id.as_str()))
    {
        return Err(Error::invalid_request(
            "client_id names another client than the one authenticated",
        ));
    }
    let redirect_uri = params.require("redirect_uri")?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(Error::invalid_request(
            "the redirect_uri is not registered for this client",
        ));
    }
    // Everything the authorization endpoint would check, now, as JSON.
    validate(auth, &client, redirect_uri, params)?;

    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .filter(|(k, _)| {
            !matches!(
                *k,
                "client_secret" | "client_assertion" | "client_assertion_type"
            )
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if !pairs.iter().any(|(k, _)| k == "client_id") {
        pairs.push(("client_id".to_owned(), client.id.to_string()));
    }
    bind_dpop(auth, &client, proof, &mut pairs).await?;

    let id = secret::random_token()?;
    let now = auth.clock.now();
    auth.store
        .insert_pushed(
            &SecretHash::of(&id),
            &par::PushedRequest {
                client_id: client.id.clone(),
                params: pairs,
                expires_at: now + par::LIFETIME_SECONDS,
            },
        )
        .await?;
    Ok(Pushed {
        request_uri: format!("{}{id}", par::REQUEST_URI_PREFIX),
        expires_in: par::LIFETIME_SECONDS,
    })
}

/// RFC 9449 §10.1: a proof at the PAR endpoint binds the request to its
/// key, like `dpop_jkt`; both together must name the same key.
async fn bind_dpop<S: DpopReplayStore>(
    auth: &Authority<S>,
    _client: &Client,
    proof: &ProofHeader,
    pairs: &mut Vec<(String, String)>,
) -> Result<()> {
    let url = auth.settings.url(paths::PAR);
    let target = ProofTarget {
        method: "POST",
        url: &url,
        access_token: None,
    };
    let Some(jkt) = dpop::optional_proof(auth, proof, target).await? else {
        return Ok(());
    };
    match pairs.iter().find(|(k, _)| k == "dpop_jkt") {
        Some((_, v)) if !secret::constant_time_eq(v, jkt.as_str()) => Err(Error::InvalidDpopProof(
            "dpop_jkt names another key than the DPoP proof".into(),
        )),
        Some(_) => Ok(()),
        None => {
            pairs.push(("dpop_jkt".to_owned(), jkt.as_str().to_owned()));
            Ok(())
        }
    }
}

/// When the session being decided on proved who its user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    /// Before this request (or there is no session): `prompt=login` and
    /// `max_age` may still ask for the password.
    Earlier,
    /// The user has just typed their password for this request, which
    /// satisfies `prompt=login` and `max_age`.
    JustNow,
}

/// Decides, for a validated request, between login, consent and a code.
async fn decide<S: AuthorizeStores>(
    auth: &Authority<S>,
    request: AuthorizationRequest,
    browser: &str,
    session: Option<&Session>,
    login: Login,
) -> Result<AuthorizeOutcome> {
    let now = auth.clock.now();
    let Some(client) = auth.clients.get(&auth.store, &request.client_id).await? else {
        return Ok(AuthorizeOutcome::ErrorPage(Error::invalid_request(
            "unknown client",
        )));
    };
    let user = match session {
        Some(s) => auth
            .store
            .get_user(&s.user_id)
            .await?
            .filter(|u| !u.disabled),
        None => None,
    };
    let must_login = match (session, &user) {
        (Some(s), Some(_)) => {
            login == Login::Earlier
                && (request.prompt.forces_login()
                    || request.max_age.is_some_and(|max| now - s.auth_time > max))
        }
        _ => true,
    };
    if must_login {
        if request.prompt.forbids_pages() {
            return Ok(finish_with_error(
                auth,
                &request,
                Error::LoginRequired("the user is not signed in".into()),
            ));
        }
        let request_id = store_pending(auth, request, browser).await?;
        return Ok(AuthorizeOutcome::LoginRequired { request_id });
    }
    let (Some(session), Some(user)) = (session, user) else {
        return Err(Error::internal(
            "a session without a user passed the login check",
        ));
    };
    // Step-up (docs/mfa.md): a one-factor session proves a second factor,
    // or enrols one, before a request that wants two is granted.
    if !session.amr.is_multi_factor() && requires_mfa(&auth.settings, &client, &request) {
        if request.prompt.forbids_pages() {
            return Ok(finish_with_error(
                auth,
                &request,
                Error::LoginRequired("the session does not have the two factors required".into()),
            ));
        }
        let factors = auth.store.second_factors(&user.id).await?;
        let request_id = store_pending(auth, request, browser).await?;
        if !factors.any() {
            return Ok(AuthorizeOutcome::EnrollmentRequired { request_id });
        }
        let challenge = challenge::start(
            auth,
            NewChallenge {
                user,
                kind: ChallengeKind::Browser,
                bound_to: browser.to_owned(),
                amr: session.amr.clone(),
                auth_time: session.auth_time,
                context: ChallengeContext::Login {
                    request_id: request_id.expose().to_owned(),
                    return_to: None,
                },
            },
        )
        .await?;
        return Ok(AuthorizeOutcome::SecondFactorRequired { challenge });
    }
    let scope = request.scope()?;
    let consent_needed = (request.prompt.forces_consent() && !client.first_party)
        || consent::needed(&auth.store, &client, &user.id, &scope).await?;
    if consent_needed {
        if request.prompt.forbids_pages() {
            return Ok(finish_with_error(
                auth,
                &request,
                Error::ConsentRequired("the user has not consented to this client".into()),
            ));
        }
        let request = AuthorizationRequest {
            consent_session: Some(session.id_hash.as_str().to_owned()),
            ..request
        };
        let request_id = store_pending(auth, request, browser).await?;
        return Ok(AuthorizeOutcome::ConsentRequired { request_id });
    }
    issue_code(auth, &client, &request, session).await
}

/// The pending request `request_id`, if it exists, is unexpired and belongs
/// to this browser.
pub async fn load_pending<S: PendingRequestStore>(
    auth: &Authority<S>,
    request_id: &str,
    browser: Option<&str>,
) -> Result<Option<AuthorizationRequest>> {
    let Some(browser) = browser else {
        return Ok(None);
    };
    if request_id.is_empty() || request_id.len() > 128 {
        return Ok(None);
    }
    let Some(p) = auth.store.find_pending(&SecretHash::of(request_id)).await? else {
        return Ok(None);
    };
    if p.expires_at <= auth.clock.now() || !p.browser_hash.matches(browser) {
        return Ok(None);
    }
    Ok(Some(p.request))
}

/// The `ui_locales` of the pending request `request_id` (this browser's,
/// unexpired), for the language of its pages.
pub async fn pending_ui_locales<S: PendingRequestStore>(
    auth: &Authority<S>,
    request_id: &str,
    browser: Option<&str>,
) -> Result<Option<String>> {
    Ok(load_pending(auth, request_id, browser)
        .await?
        .and_then(|r| r.ui_locales))
}

/// After the login page: the user signed in for `request_id` just now.
pub async fn resume<S: AuthorizeStores>(
    auth: &Authority<S>,
    request_id: &str,
    browser: &str,
    session: &Session,
) -> Result<Option<AuthorizeOutcome>> {
    let Some(request) = load_pending(auth, request_id, Some(browser)).await? else {
        return Ok(None);
    };
    // Whoever deletes the pending request continues it: two concurrent
    // submissions must not both get a code.
    if !auth
        .store
        .delete_pending(&SecretHash::of(request_id))
        .await?
    {
        return Ok(None);
    }
    decide(auth, request, browser, Some(session), Login::JustNow)
        .await
        .map(Some)
}

/// What the consent page shows.
#[derive(Debug)]
pub enum ConsentPrompt {
    /// The question: may this client have these scopes (in plain words)?
    Ask {
        client_name: String,
        user_email: String,
        scopes: Vec<ScopeItem>,
    },
    /// The request is not waiting for this session's consent (it still
    /// waits for its login, or the browser has no session or another
    /// one): the login page for the request.
    SignIn,
    /// The request is unknown, expired, used, or another browser's.
    Expired,
}

/// What the consent page for `request_id` shows to the browser that sent
/// `browser` (its `latchkey_browser` cookie), signed in as `session`.
pub async fn consent_prompt<S: AuthorizeStores>(
    auth: &Authority<S>,
    request_id: &str,
    browser: Option<&str>,
    session: Option<&Session>,
) -> Result<ConsentPrompt> {
    let Some(request) = load_pending(auth, request_id, browser).await? else {
        return Ok(ConsentPrompt::Expired);
    };
    let Some(session) = session else {
        return Ok(ConsentPrompt::SignIn);
    };
    if !request.awaits_consent_of(session) {
        return Ok(ConsentPrompt::SignIn);
    }
    let Some(user) = auth.store.get_user(&session.user_id).await? else {
        return Ok(ConsentPrompt::SignIn);
    };
    let Some(client) = client_for(auth, &request).await? else {
        return Ok(ConsentPrompt::Expired);
    };
    Ok(ConsentPrompt::Ask {
        client_name: client.name.clone(),
        user_email: user.email,
        scopes: describe_scope(&request.scope()?),
    })
}

/// The consent page's decision for `request_id`, from the browser `browser`
/// (whose form's CSRF token the caller has checked). `None`: the request is
/// gone (expired, decided meanwhile, or not this session's); without a
/// session, the login page for the request.
pub async fn consent<S: AuthorizeStores>(
    auth: &Authority<S>,
    request_id: &str,
    browser: &str,
    session: Option<&Session>,
    decision: Decision,
) -> Result<Option<AuthorizeOutcome>> {
    let Some(session) = session else {
        return Ok(Some(AuthorizeOutcome::LoginRequired {
            request_id: Secret::new(request_id),
        }));
    };
    let Some(request) = load_pending(auth, request_id, Some(browser)).await? else {
        return Ok(None);
    };
    if !request.awaits_consent_of(session) {
        return Ok(None);
    }
    if !auth
        .store
        .delete_pending(&SecretHash::of(request_id))
        .await?
    {
        return Ok(None);
    }
    if decision == Decision::Deny {
        return Ok(Some(finish_with_error(
            auth,
            &request,
            Error::AccessDenied("the user denied the request".into()),
        )));
    }
    let Some(client) = auth.clients.get(&auth.store, &request.client_id).await? else {
        return Ok(Some(AuthorizeOutcome::ErrorPage(Error::invalid_request(
            "unknown client",
        ))));
    };
    let scope = request.scope()?;
    consent::remember(
        &auth.store,
        &client,
        &session.user_id,
        &scope,
        auth.clock.now(),
    )
    .await?;
    auth.audit.record(
        AuditEvent::new(
            auth.clock.now(),
            audit::Kind::Consent,
            format!("user:{}", session.user_id),
            audit::Outcome::Success,
        )
        .user(session.user_id.as_str())
        .client(client.id.as_str())
        .detail(scope.to_string()),
    );
    issue_code(auth, &client, &request, session).await.map(Some)
}

/// Stores the request for the next page; returns its id.
async fn store_pending<S: PendingRequestStore>(
    auth: &Authority<S>,
    request: AuthorizationRequest,
    browser: &str,
) -> Result<Secret> {
    let now = auth.clock.now();
    let id = Secret::new(secret::random_token()?);
    let pending = PendingRequest {
        request,
        browser_hash: SecretHash::of(browser),
        expires_at: now + PENDING_TTL_SECONDS,
    };
    auth.store
        .insert_pending(&SecretHash::of(id.expose()), &pending, now)
        .await?;
    Ok(id)
}

/// Step (C): stores a code for the user and redirects with it.
async fn issue_code<S: CodeStore>(
    auth: &Authority<S>,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
) -> Result<AuthorizeOutcome> {
    let (user_id, auth_time) = (&session.user_id, session.auth_time);
    let now = auth.clock.now();
    let mut ttl = auth.settings.authorization_code_ttl_seconds;
    if client.is_fapi2() {
        // FAPI 2.0 §5.3.2.1: "shall issue authorization codes with a
        // maximum lifetime of 60 seconds".
        ttl = ttl.min(FAPI2_CODE_TTL_SECONDS);
    }
    let code = codes::new_code()?;
    auth.store
        .insert_code(&StoredCode {
            hash: SecretHash::of(&code),
            client_id: request.client_id.clone(),
            user_id: user_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            scope: request.scope()?,
            nonce: request.nonce.clone(),
            audience: request.audience.clone(),
            auth_time,
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
            session: Some(session.id_hash.clone()),
            dpop_jkt: request.dpop_jkt.as_deref().map(dpop::Jkt::new),
            amr: session.amr.clone(),
        })
        .await?;
    metrics::counter!("latchkey_authorization_codes_issued_total").increment(1);
    Ok(AuthorizeOutcome::Redirect(redirect_url(
        &auth.settings.issuer,
        &request.redirect_uri,
        Ok(&code),
        request.state.as_deref(),
    )))
}

fn finish_with_error<S>(
    auth: &Authority<S>,
    request: &AuthorizationRequest,
    error: Error,
) -> AuthorizeOutcome {
    AuthorizeOutcome::Redirect(redirect_url(
        &auth.settings.issuer,
        &request.redirect_uri,
        Err(&error),
        request.state.as_deref(),
    ))
}

/// The client's `redirect_uri` with `code` (or `error` and
/// `error_description`), `state` as sent, and `iss` (RFC 9207 §2), added to
/// whatever query it already has (RFC 6749 §3.1.2: "MUST retain the query
/// component").
pub fn redirect_url(
    issuer: &str,
    redirect_uri: &str,
    outcome: std::result::Result<&str, &Error>,
    state: Option<&str>,
) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        // Registered URIs are validated as absolute at registration.
        return redirect_uri.to_owned();
    };
    {
        let mut q = url.query_pairs_mut();
        match outcome {
            Ok(code) => {
                q.append_pair("code", code);
            }
            Err(e) => {
                q.append_pair("error", e.code());
                if let Some(d) = e.description() {
                    q.append_pair("error_description", &d);
                }
            }
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    url.into()
}

/// One line of the consent question: the catalogue key that says what a
/// scope allows, in plain words, and the scope (for the `{scope}` of
/// `scope.other`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeItem {
    pub key: &'static str,
    pub scope: String,
}

/// The scopes of a request in plain words (catalogue keys), for the
/// consent and device confirmation pages: who you are first, then what the
/// client may see, then the rest.
pub fn describe_scope(scope: &Scope) -> Vec<ScopeItem> {
    let rank = |s: &str| match s {
        scope::OPENID => 0,
        scope::PROFILE => 1,
        scope::EMAIL => 2,
        scope::OFFLINE_ACCESS => 4,
        _ => 3,
    };
    let mut tokens: Vec<&str> = scope.iter().collect();
    tokens.sort_by_key(|s| rank(s));
    tokens
        .into_iter()
        .map(|s| ScopeItem {
            key: match s {
                scope::OPENID => "scope.openid",
                scope::PROFILE => "scope.profile",
                scope::EMAIL => "scope.email",
                scope::OFFLINE_ACCESS => "scope.offline_access",
                _ => "scope.other",
            },
            scope: s.to_owned(),
        })
        .collect()
}

/// Fetches a client for the pages (its name).
pub async fn client_for<S: ClientStore>(
    auth: &Authority<S>,
    request: &AuthorizationRequest,
) -> Result<Option<std::sync::Arc<Client>>> {
    auth.clients.get(&auth.store, &request.client_id).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn redirect_keeps_the_query_and_adds_state_and_iss() {
        let url = redirect_url(
            "https://id.example.com",
            "https://app.example.com/cb?tenant=a%20b",
            Ok("the-code"),
            Some("s&t"),
        );
        let parsed = url::Url::parse(&url).unwrap();
        let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(
            q,
            [
                ("tenant".into(), "a b".into()),
                ("code".into(), "the-code".into()),
                ("state".into(), "s&t".into()),
                ("iss".into(), "https://id.example.com".into()),
            ]
        );
        let err = redirect_url(
            "https://id.example.com",
            "https://app.example.com/cb",
            Err(&Error::AccessDenied("no".into())),
            None,
        );
        assert!(err.starts_with("https://app.example.com/cb?error=access_denied&"));
        assert!(!err.contains("state="));
    }

    #[test]
    fn scopes_in_plain_words_identity_first() {
        let items = describe_scope(&Scope::parse("email openid print").unwrap());
        let keys: Vec<_> = items.iter().map(|i| i.key).collect();
        assert_eq!(keys, ["scope.openid", "scope.email", "scope.other"]);
        assert_eq!(items[2].scope, "print");
    }
}
