//! The client credentials grant (RFC 6749 §4.4): a client acting for itself.
//!
//! No database write happens here: the token is a self-contained JWT and no
//! refresh token is issued ("A refresh token SHOULD NOT be included", §4.4.3).

use crate::core::Authority;
use crate::core::clients::{Client, GrantType};
use crate::core::dpop::Jkt;
use crate::core::error::{Error, Result};
use crate::core::scope::Scope;
use crate::core::tokens::{self, IssuedTokens, Subject};

pub(super) fn issue<S>(
    auth: &Authority<S>,
    client: &Client,
    requested: Option<Scope>,
    resources: &[String],
    dpop_jkt: Option<&Jkt>,
) -> Result<IssuedTokens> {
    // "The client credentials grant type MUST only be used by confidential
    // clients." (RFC 6749 §4.4)
    if client.is_public() {
        return Err(Error::UnauthorizedClient(
            "a public client cannot use the client_credentials grant".into(),
        ));
    }
    let scope = Scope::grant(requested, &client.scopes)?;
    let audience = tokens::audience(client, resources.iter().map(String::as_str), &auth.settings)?;
    let now = auth.clock.now();
    let keys = auth.keys.snapshot();
    let (access_token, _) = tokens::mint_access_token(
        &keys,
        &auth.settings,
        now,
        client,
        &Subject::Client,
        &scope,
        audience,
        dpop_jkt,
    )?;
    tokens::count_issued(GrantType::ClientCredentials, &auth.keys.snapshot());
    Ok(IssuedTokens {
        access_token,
        dpop_bound: dpop_jkt.is_some(),
        expires_in: auth.settings.access_token_ttl_seconds,
        scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    })
}
