//! The refresh token grant (RFC 6749 §6) with rotation, reuse detection and
//! the grace period (SPEC §4); the logic lives in `core::refresh`, shared with
//! the cookie endpoint `POST /v1/refresh`.

use crate::core::clients::Client;
use crate::core::error::Result;
use crate::core::refresh::{self, Presenter, RefreshRequest};
use crate::core::scope::Scope;
use crate::core::secret::Secret;
use crate::core::tokens::IssuedTokens;
use crate::core::{Authority, Storage};

pub(super) async fn issue<S: Storage>(
    auth: &Authority<S>,
    client: &Client,
    refresh_token: &Secret,
    scope: Option<&Scope>,
    resources: &[String],
) -> Result<IssuedTokens> {
    refresh::refresh(
        auth,
        RefreshRequest {
            presenter: Presenter::Client(client),
            token: refresh_token,
            scope,
            resources,
        },
    )
    .await
}
