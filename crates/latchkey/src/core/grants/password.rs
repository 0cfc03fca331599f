//! The resource owner password credentials grant (RFC 6749 §4.3), for
//! first-party clients: the same code path as `POST /v1/signin`
//! (`core::signin`), limits included.

use super::TokenContext;
use crate::core::clients::Client;
use crate::core::error::Result;
use crate::core::scope::Scope;
use crate::core::secret::Secret;
use crate::core::signin::{self, PasswordSignin};
use crate::core::tokens::IssuedTokens;
use crate::core::{Authority, Storage};

pub(super) async fn issue<S: Storage>(
    auth: &Authority<S>,
    client: &Client,
    username: &str,
    password: Secret,
    scope: Option<Scope>,
    resources: Vec<String>,
    ctx: &TokenContext,
) -> Result<IssuedTokens> {
    signin::password_grant(
        auth,
        client,
        PasswordSignin {
            username,
            password,
            scope,
            resources,
            client_addr: ctx.client_addr,
        },
    )
    .await
}
