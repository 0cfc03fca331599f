//! `POST /v1/oauth/token` (RFC 6749 §3.2): extract, call `core::grants`, map.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latchkey_proto::TokenResponse;

use super::AppState;
use super::body::FormOrJson;
use super::client_addr::ClientAddr;
use super::client_auth;
use super::cookies;
use super::dpop;
use super::headers::no_store;
use crate::config::Settings;
use crate::core::clients::TokenDelivery;
use crate::core::grants::{self, TokenContext};
use crate::core::tokens::IssuedTokens;

pub async fn token(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    let dpop = dpop::proof_header(&headers);
    client_auth::respond(&headers, params, |creds| async move {
        let context = TokenContext { client_addr, dpop };
        let tokens = grants::token_with(app, &creds, params, &context).await?;
        Ok(token_response(tokens, app.settings()))
    })
    .await
}

/// A successful token response: JSON, never cached (RFC 6749 §5.1). A
/// cookie-delivery client's refresh token goes into the `latchkey_refresh`
/// cookie instead of the body, out of reach of the app's scripts.
pub fn token_response(tokens: IssuedTokens, settings: &Settings) -> Response {
    let (body_refresh, cookie_refresh) = match tokens.refresh_token {
        Some(r) if r.delivery == TokenDelivery::Cookie => (None, Some(r)),
        Some(r) => (Some(r.token.expose().to_owned()), None),
        None => (None, None),
    };
    let body = TokenResponse {
        access_token: tokens.access_token,
        // RFC 9449 §5: "DPoP" for a token bound to a key.
        token_type: if tokens.dpop_bound { "DPoP" } else { "Bearer" }.to_owned(),
        expires_in: tokens.expires_in,
        scope: tokens.scope.to_string(),
        refresh_token: body_refresh,
        id_token: tokens.id_token,
        issued_token_type: tokens.issued_token_type.map(str::to_owned),
    };
    let mut resp = Json(body).into_response();
    no_store(resp.headers_mut());
    if let Some(r) = cookie_refresh {
        let csrf = r
            .csrf_token
            .as_ref()
            .map(|c| c.expose())
            .unwrap_or_default();
        cookies::refresh(settings, r.token.expose(), csrf, r.expires_in).apply(resp.headers_mut());
    }
    resp
}
