//! Minting: what goes into each token a grant issues and how long it lives.
//! The access token (RFC 9068), the ID token (OIDC Core §2), and the tokens
//! of a user's grant together ([`prepare_user_tokens`]: access token,
//! refresh token and family, ID token). The private keys stay in `keys`;
//! storing what is minted is the grants' job.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_proto::{
    AccessTokenClaims, Actor, Audience, BACKCHANNEL_LOGOUT_EVENT, Confirmation, IdTokenClaims,
    LogoutTokenClaims,
};

use super::Authority;
use super::clients::{Client, GrantType, TokenDelivery};
use super::clock::UnixTime;
use super::csrf;
use super::dpop::Jkt;
use super::error::{Error, Result};
use super::keys::{JwtType, KeySet, SigningAlg};
use super::mfa::Amr;
use super::refresh::family::{self, FamilySpec};
use super::refresh::{FamilyOrigin, NewFamily};
use super::scope::{self, Scope};
use super::secret::{self, Secret, ServerKey};
use super::settings::Settings;
use super::users::{ADMIN_ROLE, User, UserId};

/// Who an access token speaks for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The client itself (`client_credentials`): `sub` is the client id.
    Client,
    /// A user, with `roles`, `email` (under the `email` scope) and
    /// `auth_time`.
    User {
        id: UserId,
        roles: Vec<String>,
        email: Option<String>,
        auth_time: Option<UnixTime>,
    },
}

/// Everything a grant hands back to the token endpoint.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    /// The access token is bound to a DPoP key (`token_type` `DPoP`,
    /// RFC 9449 §5); otherwise it is a Bearer token.
    pub dpop_bound: bool,
    pub expires_in: i64,
    pub scope: Scope,
    pub refresh_token: Option<IssuedRefreshToken>,
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1 `issued_token_type`: set by token exchange only.
    pub issued_token_type: Option<&'static str>,
}

/// A refresh token on its way to the client, and how it travels (the JSON
/// body, or the `latchkey_refresh` cookie; docs/first-party-apps.md).
#[derive(Debug, Clone)]
pub struct IssuedRefreshToken {
    pub token: Secret,
    /// Seconds until it expires: the idle lifetime, capped by what is left of
    /// the family's absolute one. The refresh cookie's `Max-Age`.
    pub expires_in: i64,
    /// In the JSON body, or in the `latchkey_refresh` cookie.
    pub delivery: TokenDelivery,
    /// For cookie delivery: the double-submit CSRF token for the
    /// `latchkey_csrf` cookie, an HMAC of the refresh token (so a cookie
    /// planted by a sibling subdomain cannot stand in for it).
    pub csrf_token: Option<Secret>,
}

impl IssuedRefreshToken {
    /// A refresh token on its way to `client`, by the client's delivery,
    /// with its double-submit token when it travels as a cookie.
    pub fn new(server_key: &ServerKey, client: &Client, token: Secret, expires_in: i64) -> Self {
        let csrf_token = match client.token_delivery {
            TokenDelivery::Cookie => Some(csrf::refresh_cookie_token(server_key, &token)),
            TokenDelivery::Body => None,
        };
        IssuedRefreshToken {
            token,
            expires_in,
            delivery: client.token_delivery,
            csrf_token,
        }
    }
}

/// Picks the `aud` of an access token (RFC 8707 §2): the requested resources if
/// the client is registered for every one of them, `invalid_target` otherwise;
/// without a request, the configured default audience.
pub fn audience<'a>(
    client: &Client,
    resources: impl Iterator<Item = &'a str>,
    settings: &Settings,
) -> Result<Vec<String>> {
    let mut aud: Vec<String> = Vec::new();
    for r in resources {
        if !client.audiences.iter().any(|a| a == r) {
            return Err(Error::InvalidTarget(
                format!("the client is not registered for the resource {r:?}").into(),
            ));
        }
        if !aud.iter().any(|a| a == r) {
            aud.push(r.to_owned());
        }
    }
    if aud.is_empty() {
        aud.push(settings.default_audience().to_owned());
    }
    Ok(aud)
}

/// Mints an RFC 9068 access token signed with the current key; with
/// `cnf`, bound to that DPoP key (RFC 9449 §6.1).
#[allow(clippy::too_many_arguments)] // reason: each is one claim's source
pub fn mint_access_token(
    keys: &KeySet,
    settings: &Settings,
    now: UnixTime,
    client: &Client,
    subject: &Subject,
    scope: &Scope,
    audience: Vec<String>,
    cnf: Option<&Jkt>,
) -> Result<(String, AccessTokenClaims)> {
    let (sub, roles, email, auth_time) = match subject {
        Subject::Client => (client.id.to_string(), None, None, None),
        Subject::User {
            id,
            roles,
            email,
            auth_time,
        } => (
            id.to_string(),
            Some(roles.clone()),
            // `email` only when the email scope was granted.
            email
                .clone()
                .filter(|_| scope.contains(super::scope::EMAIL)),
            *auth_time,
        ),
    };
    let claims = AccessTokenClaims {
        iss: settings.issuer.clone(),
        sub,
        aud: Audience::from_vec(audience),
        exp: now + settings.access_token_ttl_seconds,
        iat: now,
        nbf: None,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.to_string(),
        scope: scope.to_string(),
        auth_time,
        roles,
        email,
        cnf: cnf.map(|j| Confirmation {
            jkt: j.as_str().to_owned(),
        }),
        act: None,
    };
    let jwt = keys.sign(JwtType::AccessToken, &claims)?;
    Ok((jwt, claims))
}

/// What token exchange (RFC 8693) makes of a verified subject token.
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    /// The subject token's claims, verified.
    pub subject: &'a AccessTokenClaims,
    /// The exchanging client: the new token's `client_id` and `act.sub`.
    pub client: &'a Client,
    /// At most the subject token's scope.
    pub scope: &'a Scope,
    pub audience: Vec<String>,
}

/// Mints the access token of a token exchange: the subject's `sub`,
/// `roles`, `auth_time` (and `email` while the `email` scope is kept); the
/// exchanging client's `client_id`; `act: {"sub": <client>}`, nesting the
/// subject token's own `act` (RFC 8693 §4.1: "the least recent actor is the
/// most deeply nested"). It never outlives the subject token.
pub fn mint_exchanged_token(
    keys: &KeySet,
    settings: &Settings,
    now: UnixTime,
    exchange: Exchange<'_>,
) -> Result<(String, AccessTokenClaims)> {
    let subject = exchange.subject;
    let claims = AccessTokenClaims {
        iss: settings.issuer.clone(),
        sub: subject.sub.clone(),
        aud: Audience::from_vec(exchange.audience),
        exp: (now + settings.access_token_ttl_seconds).min(subject.exp),
        iat: now,
        nbf: None,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: exchange.client.id.to_string(),
        scope: exchange.scope.to_string(),
        auth_time: subject.auth_time,
        roles: subject.roles.clone(),
        email: subject
            .email
            .clone()
            .filter(|_| exchange.scope.contains(super::scope::EMAIL)),
        // Not sender-constrained: the exchanging client presents no proof
        // to the token endpoint for the new token (docs/logout-and-exchange.md).
        cnf: None,
        act: Some(Actor {
            sub: exchange.client.id.to_string(),
            act: subject.act.clone().map(Box::new),
        }),
    };
    let jwt = keys.sign(JwtType::AccessToken, &claims)?;
    Ok((jwt, claims))
}

/// What an ID token says beyond the user and the client.
#[derive(Debug, Clone)]
pub struct IdTokenSpec<'a> {
    pub auth_time: UnixTime,
    pub nonce: Option<&'a str>,
    /// How the user authenticated (`amr`, RFC 8176, and the `acr` it
    /// makes), when the grant knows; `None` leaves both claims out.
    pub amr: Option<&'a Amr>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
    /// The browser session it is issued in (`core::sessions::sid`), for
    /// back-channel logout.
    pub sid: Option<&'a str>,
}

/// Mints an ID token signed with the current key: `iss`, `sub`, `aud` (the
/// client id alone, so no `azp` is needed: OIDC Core §2 asks for `azp` only
/// when `aud` has several members), `exp`, `iat`, `auth_time`, `nonce` when
/// the request sent one, `at_hash`, `amr` and `acr` (OIDC Core §2: "1"
/// one factor, "2" two; docs/mfa.md) when the grant knows how the user
/// signed in, and `sid` when it is issued in a browser session.
pub fn mint_id_token(
    keys: &KeySet,
    settings: &Settings,
    now: UnixTime,
    client: &Client,
    user: &User,
    spec: IdTokenSpec<'_>,
) -> Result<String> {
    let alg = keys
        .current()
        .map(|(_, alg)| alg)
        .ok_or_else(|| Error::internal("no current signing key"))?;
    let claims = IdTokenClaims {
        iss: settings.issuer.clone(),
        sub: user.id.to_string(),
        aud: Audience::One(client.id.to_string()),
        exp: now + settings.id_token_ttl_seconds,
        iat: now,
        auth_time: Some(spec.auth_time),
        nonce: spec.nonce.map(str::to_owned),
        at_hash: Some(at_hash(alg, spec.access_token)),
        amr: spec
            .amr
            .map(|a| a.values().into_iter().map(str::to_owned).collect()),
        acr: spec.amr.map(|a| a.acr().to_owned()),
        azp: None,
        sid: spec.sid.map(str::to_owned),
        email: None,
        email_verified: None,
        name: None,
    };
    keys.sign(JwtType::IdToken, &claims)
}

/// How long a logout token is valid: it is sent, not kept, and minted
/// again at each delivery attempt (OIDC Back-Channel Logout 1.0 §2.4
/// recommends "a short time (e.g., two minutes)").
pub const LOGOUT_TOKEN_TTL_SECONDS: i64 = 120;

/// Whom a logout token tells which session ended.
#[derive(Debug, Clone, Copy)]
pub struct LogoutFor<'a> {
    /// The client, the token's `aud`.
    pub client_id: &'a str,
    /// The user.
    pub sub: &'a str,
    pub sid: &'a str,
    /// The same on every attempt for one notification.
    pub jti: &'a str,
}

/// Mints a logout token (OIDC Back-Channel Logout 1.0 §2.4) signed with the
/// current key, header `typ: logout+jwt`: `iss`, `sub`, `aud` (the client),
/// `iat`, `exp`, the notice's `jti`, `sid`, and `events` with the
/// back-channel logout event. No `nonce`: §2.4 forbids it.
pub fn mint_logout_token(
    keys: &KeySet,
    settings: &Settings,
    now: UnixTime,
    notice: LogoutFor<'_>,
) -> Result<String> {
    let mut events = serde_json::Map::new();
    events.insert(
        BACKCHANNEL_LOGOUT_EVENT.to_owned(),
        serde_json::Value::Object(serde_json::Map::new()),
    );
    let claims = LogoutTokenClaims {
        iss: settings.issuer.clone(),
        sub: notice.sub.to_owned(),
        aud: Audience::One(notice.client_id.to_owned()),
        iat: now,
        exp: now + LOGOUT_TOKEN_TTL_SECONDS,
        jti: notice.jti.to_owned(),
        sid: notice.sid.to_owned(),
        events,
    };
    keys.sign(JwtType::LogoutToken, &claims)
}

/// "Its value is the base64url encoding of the left-most half of the hash of
/// the octets of the ASCII representation of the access_token value, where
/// the hash algorithm used is the hash algorithm used in the alg Header
/// Parameter of the ID Token's JOSE Header." (OIDC Core §3.1.3.6) Ed25519
/// signs with SHA-512 (OIDC Core errata, RFC 8037).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest = match alg {
        SigningAlg::EdDSA => secret::sha512(access_token.as_bytes()),
        SigningAlg::RS256 | SigningAlg::PS256 | SigningAlg::ES256 => {
            secret::sha256(access_token.as_bytes())
        }
    };
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// A user's sign-in, ready to become tokens (password grant, authorization
/// code, device code).
#[derive(Debug, Clone)]
pub struct UserGrant<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub scope: Scope,
    /// The access token's `aud` (see [`audience`]).
    pub audience: Vec<String>,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// What the refresh family, if one is started, is issued from.
    pub origin: FamilyOrigin,
    /// `Some` for the flows that answer an OpenID Connect request (the
    /// authorization code and device code grants): an ID token is minted
    /// when `openid` was granted. `None`: never an ID token.
    pub oidc: Option<OidcRequest<'a>>,
    /// The DPoP key the request proved possession of: the access token is
    /// bound to it, and so is a public client's refresh family (RFC 9449
    /// §5; a confidential client's refresh token is bound to its
    /// authentication instead).
    pub dpop_jkt: Option<&'a Jkt>,
}

/// What an OpenID Connect request asked of its ID token, and how the user
/// authenticated.
#[derive(Debug, Clone, Copy, Default)]
pub struct OidcRequest<'a> {
    /// The `nonce` of the authentication request, returned unchanged.
    pub nonce: Option<&'a str>,
    /// How the user signed in: the `amr` claim (RFC 8176 §2) and `acr`;
    /// `None` leaves both out.
    pub amr: Option<&'a Amr>,
    /// The browser session the request was granted in, as its `sid`.
    pub sid: Option<&'a str>,
}

/// Tokens minted for a user, with the family to store if a refresh token is
/// among them.
#[derive(Debug)]
pub struct PreparedTokens {
    pub tokens: IssuedTokens,
    /// `Some` when the client is registered for the `refresh_token` grant.
    /// Store it before answering: until then the refresh token in `tokens`
    /// does not work.
    pub family: Option<NewFamily>,
    /// The access token's `jti` and `exp`, for flows that must be able to
    /// deny-list it later (a replayed authorization code).
    pub access_jti: String,
    pub access_expires_at: UnixTime,
}

/// Mints the tokens of a user's grant: the access token; when the client is
/// registered for the `refresh_token` grant, a refresh token and the family
/// it starts; and, for an OpenID Connect request that was granted `openid`,
/// the ID token bound to that access token (`at_hash`). Pure: the caller
/// stores the family (see [`family::start`]).
pub fn prepare_user_tokens<S>(
    auth: &Authority<S>,
    mut grant: UserGrant<'_>,
) -> Result<PreparedTokens> {
    // The admin API's scope goes only to administrators (docs/admin.md):
    // for anyone else it is left out of what is granted, as RFC 6749 §3.3
    // lets a server grant less than was asked.
    if grant.scope.contains(scope::ADMIN) && !grant.user.roles.iter().any(|r| r == ADMIN_ROLE) {
        grant.scope = grant.scope.without(scope::ADMIN);
    }
    let now = auth.clock.now();
    let subject = Subject::User {
        id: grant.user.id.clone(),
        roles: grant.user.roles.clone(),
        email: Some(grant.user.email.clone()),
        auth_time: Some(grant.auth_time),
    };
    let keys = auth.keys.snapshot();
    let (access_token, claims) = mint_access_token(
        &keys,
        &auth.settings,
        now,
        grant.client,
        &subject,
        &grant.scope,
        grant.audience,
        grant.dpop_jkt,
    )?;
    let id_token = match grant.oidc {
        Some(oidc) if grant.scope.contains(scope::OPENID) => Some(mint_id_token(
            &keys,
            &auth.settings,
            now,
            grant.client,
            grant.user,
            IdTokenSpec {
                auth_time: grant.auth_time,
                nonce: oidc.nonce,
                amr: oidc.amr,
                access_token: &access_token,
                sid: oidc.sid,
            },
        )?),
        _ => None,
    };
    let (family, refresh_token) = if grant.client.allows_grant(GrantType::RefreshToken) {
        let (family, token) = family::start(
            &auth.settings,
            FamilySpec {
                client: grant.client,
                user_id: &grant.user.id,
                scope: grant.scope.clone(),
                auth_time: Some(grant.auth_time),
                origin: grant.origin,
                dpop_jkt: grant.dpop_jkt.filter(|_| grant.client.is_public()).cloned(),
            },
            now,
        )?;
        let expires_in = family.first_token.expires_at - now;
        let issued = IssuedRefreshToken::new(&auth.server_key, grant.client, token, expires_in);
        (Some(family), Some(issued))
    } else {
        (None, None)
    };
    Ok(PreparedTokens {
        tokens: IssuedTokens {
            access_token,
            dpop_bound: grant.dpop_jkt.is_some(),
            expires_in: auth.settings.access_token_ttl_seconds,
            scope: grant.scope,
            refresh_token,
            id_token,
            issued_token_type: None,
        },
        family,
        access_jti: claims.jti,
        access_expires_at: claims.exp,
    })
}

/// Counts a token response in `latchkey_tokens_issued_total`, by grant and
/// by the algorithm of the key that signed it, the same two labels for
/// every grant. Both are `'static`: counting allocates nothing.
pub fn count_issued(grant: GrantType, keys: &KeySet) {
    let grant = match grant {
        GrantType::AuthorizationCode => "authorization_code",
        GrantType::RefreshToken => "refresh_token",
        GrantType::ClientCredentials => "client_credentials",
        GrantType::Password => "password",
        GrantType::DeviceCode => "device_code",
        GrantType::TokenExchange => "token_exchange",
    };
    let alg = keys.current().map_or("none", |(_, alg)| alg.as_str());
    metrics::counter!("latchkey_tokens_issued_total", "grant" => grant, "alg" => alg).increment(1);
}
