//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.5, OIDC Core
//! §3.1.3): redeems a code once and issues its tokens.
//!
//! "The authorization server MUST: require client authentication for
//! confidential clients [...], ensure that the authorization code was issued
//! to the authenticated confidential client, or if the client is public,
//! ensure that the code was issued to "client_id" in the request, verify that
//! the authorization code is valid, and ensure that the "redirect_uri"
//! parameter is present if the "redirect_uri" parameter was included in the
//! initial authorization request [...], and if included ensure that their
//! values are identical." (RFC 6749 §4.1.3)
//!
//! Redeeming the code and storing the refresh family it issues is one
//! transaction (`CodeStore::redeem_code`); a code presented again revokes the
//! family and deny-lists the access token the first redemption issued.

use crate::core::Authority;
use crate::core::clients::{Client, GrantType};
use crate::core::codes::CodeStore;
use crate::core::codes::{self, Issued};
use crate::core::dpop::Jkt;
use crate::core::error::{Error, Result};
use crate::core::refresh::FamilyOrigin;
use crate::core::secret::{Secret, SecretHash};
use crate::core::sessions::{self, SessionClient, SessionStore};
use crate::core::tokens::{self, IssuedTokens, OidcRequest, UserGrant};
use crate::core::users::UserStore;

/// Codes longer than this are refused unhashed (ours are 43 characters).
const MAX_CODE_LEN: usize = 512;

pub async fn issue<S: CodeStore + UserStore + SessionStore>(
    auth: &Authority<S>,
    client: &Client,
    code: &Secret,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    resources: &[String],
    dpop_jkt: Option<&Jkt>,
) -> Result<IssuedTokens> {
    let now = auth.clock.now();
    let bad = |why: &'static str| Error::invalid_grant(why);
    if code.expose().len() > MAX_CODE_LEN {
        return Err(bad("unknown authorization code"));
    }
    let hash = SecretHash::of(code.expose());
    let stored = auth
        .store
        .find_code(&hash)
        .await?
        .ok_or_else(|| bad("unknown authorization code"))?;
    if stored.client_id != client.id {
        return Err(bad("the code was issued to another client"));
    }
    if stored.used_at.is_some() {
        // RFC 6749 §4.1.2: revoke what the first redemption issued.
        revoke_replayed(auth, &hash, now).await?;
        metrics::counter!("latchkey_authorization_code_replays_total").increment(1);
        return Err(bad("the authorization code was already used"));
    }
    if stored.expires_at <= now {
        return Err(bad("the authorization code has expired"));
    }
    // "the authorization server [...] MUST ensure that the DPoP proof's
    // key [...] matches the dpop_jkt" the code was bound to (RFC 9449 §10).
    // A mismatch is the code's problem, not the proof's: `invalid_grant`,
    // as node-oidc-provider answers too.
    if let Some(bound) = &stored.dpop_jkt
        && !dpop_jkt.is_some_and(|j| j.matches(bound))
    {
        return Err(bad(
            "the code is bound to a DPoP key (dpop_jkt): send a DPoP proof by that key",
        ));
    }
    if redirect_uri != Some(stored.redirect_uri.as_str()) {
        return Err(bad("redirect_uri does not match the authorization request"));
    }
    match (&stored.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) if codes::pkce_matches(verifier, challenge) => {}
        (Some(_), _) => return Err(bad("code_verifier does not match the code_challenge")),
        (None, Some(_)) => {
            return Err(bad("a code_verifier was sent but no code_challenge was"));
        }
        (None, None) => {}
    }
    // RFC 8707 §2.2: a resource at the token endpoint may only narrow.
    if let Some(r) = resources.iter().find(|r| !stored.audience.contains(r)) {
        return Err(Error::InvalidTarget(
            format!("the resource {r:?} was not requested at authorization").into(),
        ));
    }
    let audience = if resources.is_empty() {
        stored.audience.clone()
    } else {
        resources.to_vec()
    };
    let user = auth
        .store
        .get_user(&stored.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| bad("the user can no longer sign in"))?;

    let sid = stored
        .session
        .as_ref()
        .map(|h| sessions::sid(&auth.server_key, h));
    let prepared = tokens::prepare_user_tokens(
        auth,
        UserGrant {
            client,
            user: &user,
            scope: stored.scope.clone(),
            audience,
            auth_time: stored.auth_time,
            origin: FamilyOrigin::Code(hash.clone()),
            oidc: Some(OidcRequest {
                nonce: stored.nonce.as_deref(),
                amr: Some(&stored.amr),
                sid: sid.as_deref(),
            }),
            dpop_jkt,
        },
    )?;
    // Back-channel logout (docs/logout-and-exchange.md): a client that gets
    // an ID token in a session hears when the session ends. Recorded before
    // the redemption, so that no ID token is out without its record (a
    // record whose redemption then loses only costs a spurious notice).
    if prepared.tokens.id_token.is_some()
        && client.backchannel_logout_uri.is_some()
        && let (Some(session), Some(sid)) = (&stored.session, &sid)
    {
        auth.store
            .record_session_client(
                &SessionClient {
                    session: session.clone(),
                    sid: sid.clone(),
                    client_id: client.id.clone(),
                    user_id: user.id.clone(),
                },
                now,
                now + auth.settings.session_absolute_ttl_seconds,
            )
            .await?;
    }
    let redeemed = auth
        .store
        .redeem_code(
            &hash,
            Issued {
                access_jti: &prepared.access_jti,
                access_expires_at: prepared.access_expires_at,
                family: prepared.family.as_ref(),
            },
            now,
        )
        .await?;
    if !redeemed {
        // A concurrent redemption won (or the code expired meanwhile): this
        // is a replay as well.
        revoke_replayed(auth, &hash, now).await?;
        return Err(bad("the authorization code was already used"));
    }
    tokens::count_issued(GrantType::AuthorizationCode, &auth.keys.snapshot());
    Ok(prepared.tokens)
}

/// Revokes what a replayed code's first redemption issued, and tells this
/// process's deny-list mirror at once (other processes see the generation
/// move within the revalidation bound).
async fn revoke_replayed<S: CodeStore>(
    auth: &Authority<S>,
    hash: &SecretHash,
    now: crate::core::clock::UnixTime,
) -> Result<()> {
    if let Some((jti, exp)) = auth.store.revoke_code_grant(hash, now).await? {
        auth.denied.note(&jti, exp);
    }
    Ok(())
}
