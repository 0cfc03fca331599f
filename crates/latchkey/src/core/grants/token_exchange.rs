//! Token exchange (RFC 8693; docs/logout-and-exchange.md): a service that
//! received a user's access token trades it for one addressed to the
//! service it calls next, acting for the same user.
//!
//! "The authorization server MUST perform the appropriate validation
//! procedures for the indicated token type" (§2.1): the subject token (and
//! the actor token, if sent) is checked as introspection would (signature
//! by a published key, `typ`, `iss`, expiry by the injected clock, deny
//! list); a token that fails is `invalid_grant`, as the contract asks
//! (the subject is the grant being presented). The answer's `aud` comes
//! from `resource`/`audience` among the client's registered audiences
//! (`invalid_target` otherwise), its scope is at most the subject's
//! (`invalid_scope`), and it carries `act: {"sub": <client>}`, nesting the
//! subject token's `act`. No refresh token is issued (§2.2.1: "the issuance
//! of a refresh token [...] is at the discretion of the authorization
//! server"; an exchanged token is short-lived by design).

use latchkey_proto::AccessTokenClaims;

use crate::core::Authority;
use crate::core::audit::{self, AuditEvent};
use crate::core::clients::{Client, GrantType};
use crate::core::deny_list::DenyListStore;
use crate::core::error::{Error, Result};
use crate::core::revocation;
use crate::core::scope::Scope;
use crate::core::secret::Secret;
use crate::core::tokens::{self, Exchange, IssuedTokens};

/// RFC 8693 §3: "Indicates that the token is an OAuth 2.0 access token
/// issued by the given authorization server."
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token exchange request's parameters (RFC 8693 §2.1).
#[derive(Debug)]
pub struct ExchangeRequest {
    pub subject_token: Secret,
    pub subject_token_type: String,
    pub actor_token: Option<Secret>,
    pub actor_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub scope: Option<Scope>,
    /// `resource` and `audience` together: both name the target service.
    pub targets: Vec<String>,
}

pub(super) async fn issue<S: DenyListStore>(
    auth: &Authority<S>,
    client: &Client,
    request: ExchangeRequest,
) -> Result<IssuedTokens> {
    // Whoever holds a token could otherwise re-address it: only a client
    // that can authenticate may exchange (RFC 8693 §2.1 leaves client
    // authentication to the server's policy).
    if client.is_public() {
        return Err(Error::UnauthorizedClient(
            "a public client cannot use token exchange: it has no secret".into(),
        ));
    }
    if request.subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(Error::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if let Some(t) = &request.requested_token_type
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(Error::invalid_request(
            "only access tokens are issued (requested_token_type)",
        ));
    }
    // "actor_token_type [...] REQUIRED when the actor_token parameter is
    // present in the request but MUST NOT be included otherwise." (§2.1)
    match (&request.actor_token, request.actor_token_type.as_deref()) {
        (Some(_), Some(ACCESS_TOKEN_TYPE)) | (None, None) => {}
        (Some(_), Some(_)) => {
            return Err(Error::invalid_request(
                "actor_token_type must be urn:ietf:params:oauth:token-type:access_token",
            ));
        }
        (Some(_), None) => {
            return Err(Error::invalid_request(
                "actor_token_type is required with actor_token",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::invalid_request(
                "actor_token_type was sent without an actor_token",
            ));
        }
    }
    let subject = verified(auth, &request.subject_token, "subject_token").await?;
    if let Some(actor) = &request.actor_token {
        // The actor token proves who acts: it must be the exchanging
        // client's own (the `act` names that client).
        let actor = verified(auth, actor, "actor_token").await?;
        if actor.client_id != client.id.as_str() {
            return Err(Error::invalid_grant(
                "the actor_token was not issued to the exchanging client",
            ));
        }
    }
    let subject_scope = Scope::parse(&subject.scope)?;
    let scope = match request.scope {
        None => subject_scope,
        Some(req) if req.is_subset_of(&subject_scope) => req,
        Some(req) => {
            let extra: Vec<&str> = req.missing_from(&subject_scope).collect();
            return Err(Error::invalid_scope(format!(
                "the subject token was not granted scope: {}",
                extra.join(" ")
            )));
        }
    };
    let audience = tokens::audience(
        client,
        request.targets.iter().map(String::as_str),
        &auth.settings,
    )?;
    let now = auth.clock.now();
    let keys = auth.keys.snapshot();
    let (access_token, claims) = tokens::mint_exchanged_token(
        &keys,
        &auth.settings,
        now,
        Exchange {
            subject: &subject,
            client,
            scope: &scope,
            audience,
        },
    )?;
    auth.audit.record(
        AuditEvent::new(
            now,
            audit::Kind::TokenExchange,
            format!("client:{}", client.id),
            audit::Outcome::Success,
        )
        .client(client.id.as_str())
        .user(subject.sub.as_str())
        .detail(format!(
            "from client {} to aud {}; act depth {}",
            subject.client_id,
            claims.aud.iter().collect::<Vec<_>>().join(" "),
            act_depth(&claims)
        )),
    );
    tokens::count_issued(GrantType::TokenExchange, &keys);
    Ok(IssuedTokens {
        access_token,
        expires_in: claims.exp - now,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        dpop_bound: false,
    })
}

/// An access token verified as latchkey's own endpoints verify one; any
/// failure (bad signature, expired, revoked) is `invalid_grant`.
async fn verified<S: DenyListStore>(
    auth: &Authority<S>,
    token: &Secret,
    which: &'static str,
) -> Result<AccessTokenClaims> {
    match revocation::verify_access_token(auth, token.expose()).await {
        Ok(c) => Ok(c),
        Err(Error::InvalidToken(_)) => Err(Error::invalid_grant(match which {
            "actor_token" => "the actor_token is invalid, expired or revoked",
            _ => "the subject_token is invalid, expired or revoked",
        })),
        Err(e) => Err(e),
    }
}

/// How many actors a token names (1 for a first exchange).
fn act_depth(claims: &AccessTokenClaims) -> usize {
    let mut n = 0;
    let mut act = claims.act.as_ref();
    while let Some(a) = act {
        n += 1;
        act = a.act.as_deref();
    }
    n
}
