//! Token revocation (RFC 7009) and introspection (RFC 7662), and how
//! latchkey's own endpoints verify an access token.
//!
//! Access tokens are self-contained JWTs that resource servers verify without
//! asking latchkey; revoking one puts its `jti` on the deny list
//! (`core::deny_list`) until its `exp`, which latchkey's own endpoints
//! (introspection, userinfo) consult. Refresh tokens live in the database:
//! revoking one revokes its whole family.
//!
//! The two kinds are told apart by their shape (a JWT has two dots, a refresh
//! token none), so `token_type_hint` is accepted and not needed: "the
//! authorization server [...] MAY ignore" it (RFC 7009 §2.1).

use latchkey_proto::{AccessTokenClaims, IntrospectionResponse};

use super::Authority;
use super::audit::{self, AuditEvent, Outcome};
use super::clients::ClientStore;
use super::clients::{self, Client, ClientCredentials};
use super::deny_list;
use super::deny_list::DenyListStore;
use super::dpop::{self, DpopReplayStore, Jkt, ProofHeader, ProofTarget};
use super::error::{Error, Result};
use super::keys::JwtType;
use super::params::Params;
use super::refresh::RefreshTokenStore;
use super::refresh::family;
use super::secret::{self, SecretHash};
use super::users::UserId;
use super::users::UserStore;

/// The `token_type` of an introspected refresh token. (An access token's is
/// `Bearer`, its RFC 6749 §7.1 type.)
pub const REFRESH_TOKEN_TYPE: &str = "refresh_token";

/// `POST /v1/oauth/revoke` (RFC 7009 §2): authenticates the client, then
/// revokes `token` if it may.
pub async fn revocation_request<S: ClientStore + RefreshTokenStore + DenyListStore>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
) -> Result<()> {
    let client = clients::authenticate(auth, creds).await?;
    let token = params.require("token")?;
    revoke(auth, &client, token).await
}

/// `POST /v1/oauth/introspect` (RFC 7662 §2): authenticates the client, then
/// introspects `token`.
pub async fn introspection_request<
    S: ClientStore + RefreshTokenStore + DenyListStore + UserStore,
>(
    auth: &Authority<S>,
    creds: &ClientCredentials,
    params: &Params,
) -> Result<IntrospectionResponse> {
    let client = clients::authenticate(auth, creds).await?;
    let token = params.require("token")?;
    introspect(auth, &client, token).await
}

/// Whether `token` has the shape of a compact JWS.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Verifies an access token as latchkey's own endpoints do: signature by a
/// published key, `typ: at+jwt`, `iss`, expiry by the injected clock with no
/// leeway, and the deny list. Never fetches `jku`/`x5u` (see
/// `KeySet::verify`). Every failure is `invalid_token`.
pub async fn verify_access_token<S: DenyListStore>(
    auth: &Authority<S>,
    token: &str,
) -> Result<AccessTokenClaims> {
    let claims: AccessTokenClaims = auth.keys.snapshot().verify(
        token,
        JwtType::AccessToken,
        &auth.settings.issuer,
        None,
        auth.clock.now(),
        0,
    )?;
    if deny_list::is_denied(auth, &claims.jti).await? {
        return Err(Error::InvalidToken("the token has been revoked".into()));
    }
    Ok(claims)
}

/// An access token as a protected resource of latchkey's (userinfo)
/// received it.
#[derive(Debug, Clone, Copy)]
pub enum PresentedToken<'a> {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Bearer(&'a str),
    /// `Authorization: DPoP` and the request's `DPoP` header (RFC 9449 §7.1).
    Dpop {
        token: &'a str,
        proof: &'a ProofHeader,
    },
}

/// Verifies a presented access token ([`verify_access_token`]) and its
/// binding: a DPoP-bound token only as `DPoP`, with a proof for this very
/// request (`method` at `url`) whose `ath` is the token's hash, by the key
/// of the token's `cnf.jkt` (RFC 9449 §7.1). A Bearer token is refused as
/// `DPoP` too: the scheme must say what the token is.
pub async fn verify_presented_token<S: DenyListStore + DpopReplayStore>(
    auth: &Authority<S>,
    presented: PresentedToken<'_>,
    method: &str,
    url: &str,
) -> Result<AccessTokenClaims> {
    match presented {
        PresentedToken::Bearer(token) => {
            let claims = verify_access_token(auth, token).await?;
            if claims.cnf.is_some() {
                return Err(Error::InvalidToken(
                    "a DPoP-bound token must be sent as Authorization: DPoP with a proof".into(),
                ));
            }
            Ok(claims)
        }
        PresentedToken::Dpop { token, proof } => {
            let claims = verify_access_token(auth, token).await?;
            let Some(cnf) = &claims.cnf else {
                return Err(Error::InvalidToken(
                    "the token is not DPoP-bound: send it as Authorization: Bearer".into(),
                ));
            };
            let target = ProofTarget {
                method,
                url,
                access_token: Some(token),
            };
            let jkt = dpop::optional_proof(auth, proof, target)
                .await?
                .ok_or_else(|| Error::InvalidDpopProof("a DPoP token needs a DPoP proof".into()))?;
            if !jkt.matches(&Jkt::new(cnf.jkt.as_str())) {
                return Err(Error::InvalidToken(
                    "the DPoP proof is by another key than the token's".into(),
                ));
            }
            Ok(claims)
        }
    }
}

/// RFC 7009 §2.1: revokes `token` if `client` may. "The authorization server
/// first validates the client credentials [...] and then verifies whether the
/// token was issued to the client making the revocation request. If this
/// validation fails, the request is refused" — silently here, as §2.2 answers
/// 200 for invalid tokens, so that nobody learns whether someone else's token
/// exists.
pub async fn revoke<S: RefreshTokenStore + DenyListStore>(
    auth: &Authority<S>,
    client: &Client,
    token: &str,
) -> Result<()> {
    if looks_like_jwt(token) {
        revoke_access_token(auth, client, token).await
    } else {
        family::revoke_by_token(auth, Some(client), token)
            .await
            .map(|_| ())
    }
}

async fn revoke_access_token<S: DenyListStore>(
    auth: &Authority<S>,
    client: &Client,
    token: &str,
) -> Result<()> {
    // A token that does not verify (garbage, expired, unknown key) cannot be
    // used anywhere: nothing to do.
    let Ok(claims) = auth.keys.snapshot().verify::<AccessTokenClaims>(
        token,
        JwtType::AccessToken,
        &auth.settings.issuer,
        None,
        auth.clock.now(),
        0,
    ) else {
        return Ok(());
    };
    if !secret::constant_time_eq(&claims.client_id, client.id.as_str()) {
        return Ok(());
    }
    deny_list::deny(auth, &claims.jti, claims.exp).await?;
    metrics::counter!("latchkey_tokens_revoked_total", "kind" => "access_token").increment(1);
    let mut event = AuditEvent::new(
        auth.clock.now(),
        audit::Kind::Revoke,
        format!("client:{}", client.id),
        Outcome::Success,
    )
    .client(client.id.as_str())
    .detail(format!("access token {}", claims.jti));
    if claims.sub != claims.client_id {
        event = event.user(claims.sub.as_str());
    }
    auth.audit.record(event);
    Ok(())
}

/// RFC 7662 §2: what `client` may learn about `token`.
///
/// "The authorization server MUST require authentication of protected
/// resources" (§4): a public client cannot authenticate, so it cannot
/// introspect. An access token is active for any confidential client (a
/// resource server introspects tokens issued to others); a refresh token only
/// for the client it was issued to, since nobody else should ever hold one.
/// Anything else is `{"active": false}`, with no reason given.
pub async fn introspect<S: RefreshTokenStore + DenyListStore + UserStore>(
    auth: &Authority<S>,
    client: &Client,
    token: &str,
) -> Result<IntrospectionResponse> {
    if client.is_public() {
        return Err(Error::invalid_client(
            "introspection requires a confidential client",
        ));
    }
    let inactive = IntrospectionResponse::default();
    if looks_like_jwt(token) {
        let claims = match verify_access_token(auth, token).await {
            Ok(c) => c,
            Err(Error::InvalidToken(_)) => return Ok(inactive),
            Err(e) => return Err(e),
        };
        // `roles` marks a user's token; `sub` is then a user id.
        let username = match (&claims.email, &claims.roles) {
            (Some(email), _) => Some(email.clone()),
            (None, Some(_)) => auth
                .store
                .get_user(&UserId::new(claims.sub.as_str()))
                .await?
                .map(|u| u.email),
            (None, None) => None,
        };
        return Ok(IntrospectionResponse {
            active: true,
            scope: Some(claims.scope),
            client_id: Some(claims.client_id),
            username,
            // RFC 9449 §6.2: a bound token reports its key and type.
            token_type: Some(
                if claims.cnf.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                }
                .to_owned(),
            ),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: claims.nbf,
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
            cnf: claims.cnf,
        });
    }
    if token.is_empty() || token.len() > 512 {
        return Ok(inactive);
    }
    let now = auth.clock.now();
    let Some(found) = auth
        .store
        .find_refresh_token(&SecretHash::of(token))
        .await?
    else {
        return Ok(inactive);
    };
    if !found.is_live(now) || found.owner.disabled || !found.family.client_id.matches(&client.id) {
        return Ok(inactive);
    }
    Ok(IntrospectionResponse {
        active: true,
        scope: Some(found.family.scope.to_string()),
        client_id: Some(found.family.client_id.to_string()),
        username: Some(found.owner.email),
        token_type: Some(REFRESH_TOKEN_TYPE.to_owned()),
        exp: Some(found.record.expires_at),
        iat: Some(found.record.issued_at),
        nbf: None,
        sub: Some(found.family.user_id.to_string()),
        aud: None,
        iss: Some(auth.settings.issuer.clone()),
        jti: None,
        cnf: found.family.dpop_jkt.map(|j| latchkey_proto::Confirmation {
            jkt: j.as_str().to_owned(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt("abc"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
    }
}
