//! The admin API, `/admin/v1` (docs/admin.md): JSON for automation, over
//! the same `core::admin` service as the CLI and the console. Every route
//! takes an admin access token (`core::admin::authenticate`); every error
//! is an RFC 9457 problem document. `GET /admin/v1/openapi.json` is the
//! OpenAPI 3.1 document derived from these handlers and their types
//! (utoipa), never written by hand.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::AppState;
use super::body::MAX_BODY_BYTES;
use super::dpop;
use super::error::{
    Problem, ProblemDocument, ResourceProblem, Scheme, created, ok_json, problem_body,
    problem_unreadable,
};
use crate::core::admin::{
    self, Actor, Admin, AuditFilters, ClientCreated, ClientDeleted, ClientInput, ClientPatch,
    ClientView, KeyView, KeysRotated, PageRequest, RevokedSessions, SecretRotated, UserDeleted,
    UserInput, UserPatch, UserView,
};
use crate::core::audit::AuditEvent;
use crate::core::error::Error;
use crate::core::revocation::PresentedToken;

/// The paths, relative to the issuer.
pub mod paths {
    pub const CLIENTS: &str = "/admin/v1/clients";
    pub const CLIENT: &str = "/admin/v1/clients/{id}";
    pub const CLIENT_SECRET: &str = "/admin/v1/clients/{id}/secret";
    pub const USERS: &str = "/admin/v1/users";
    pub const USER: &str = "/admin/v1/users/{id}";
    pub const USER_SESSIONS: &str = "/admin/v1/users/{id}/sessions";
    pub const KEYS: &str = "/admin/v1/keys";
    pub const KEYS_ROTATE: &str = "/admin/v1/keys/rotate";
    pub const AUDIT: &str = "/admin/v1/audit";
    pub const OPENAPI: &str = "/admin/v1/openapi.json";
}

/// What an admin request authenticates with: its `Authorization` and
/// `DPoP` headers, and the method and URL a DPoP proof must name.
pub struct AdminCall {
    headers: HeaderMap,
    method: Method,
    path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for AdminCall {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(AdminCall {
            headers: parts.headers.clone(),
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
        })
    }
}

/// The admin service for the request's actor, or the problem to answer.
/// The token comes as `Bearer` (RFC 6750 §2.1) or, bound to a key, as
/// `DPoP` with a proof of this request (RFC 9449 §7.1).
async fn service<'a>(
    app: &'a AppState,
    call: &AdminCall,
) -> Result<Admin<'a, crate::store::Store>, Box<Response>> {
    let proof = dpop::proof_header(&call.headers);
    let found = dpop::access_token(&call.headers);
    let presented = found.map(|(scheme, token)| match scheme {
        Scheme::Bearer => PresentedToken::Bearer(token),
        Scheme::Dpop => PresentedToken::Dpop {
            token,
            proof: &proof,
        },
    });
    let scheme = found.map_or(Scheme::Bearer, |(s, _)| s);
    let url = app.settings().url(&call.path);
    let actor: Actor = admin::authenticate_request(app, presented, call.method.as_str(), &url)
        .await
        .map_err(|e| Box::new(ResourceProblem(e, scheme).into_response()))?;
    Ok(Admin::of(app, actor))
}

/// A JSON body parsed into `T`; an empty body is `{}` when `empty_ok`.
fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
    empty_ok: bool,
) -> Result<T, Box<Response>> {
    let bytes = body.map_err(|r| Box::new(problem_unreadable(r, MAX_BODY_BYTES)))?;
    let bytes: &[u8] = if empty_ok && bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    // Every admin body is an object; serde would also read a struct from a
    // JSON array (`[]` as a struct of defaults), which the schema forbids.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b == b'[') {
        return Err(Box::new(problem_body(
            "the body must be a JSON object, not an array".to_owned(),
            false,
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = !matches!(inner.classify(), serde_json::error::Category::Data);
        let detail = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        Box::new(problem_body(detail, syntax))
    })?;
    Ok(value)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Box<Response>> {
    q.map(|Query(q)| q).map_err(|r| {
        Box::new(
            Problem(Error::invalid_request(format!("query: {}", r.body_text()))).into_response(),
        )
    })
}

/// Answers `result` as JSON, or its error as a problem.
fn answer<T: serde::Serialize>(result: Result<T, Error>) -> Response {
    match result {
        Ok(v) => ok_json(&v),
        Err(e) => Problem(e).into_response(),
    }
}

macro_rules! try_or_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return *resp,
        }
    };
}

/// Paging of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The `next_cursor` of the previous page.
    #[param(max_length = 512)]
    cursor: Option<String>,
    /// Items per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

impl ListQuery {
    fn page(&self) -> PageRequest {
        PageRequest {
            cursor: self.cursor.clone(),
            limit: self.limit,
        }
    }
}

/// The users list: a search and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Matches a part of the email or the name, case-insensitively.
    #[param(max_length = 254)]
    q: Option<String>,
    #[param(max_length = 512)]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The audit list: filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// The event's kind, as `latchkey audit list` prints it
    /// (`client_create`, `signin`, …).
    #[serde(rename = "type")]
    #[param(rename = "type", max_length = 200)]
    kind: Option<String>,
    /// RFC 3339: events at or after.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339: events at or before.
    #[param(format = DateTime)]
    until: Option<String>,
    /// A user id: the event's actor or subject.
    #[param(max_length = 200)]
    user: Option<String>,
    /// A client id: the event's actor or subject.
    #[param(max_length = 200)]
    client: Option<String>,
    #[param(max_length = 512)]
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The body of `POST /admin/v1/clients/{id}/secret`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps working, in seconds (default 0: it
    /// stops at once; at most 30 days).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2592000)]
    grace_seconds: i64,
}

/// A page of clients.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClientPage {
    items: Vec<ClientView>,
    next_cursor: Option<String>,
}

/// A page of users.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserPage {
    items: Vec<UserView>,
    next_cursor: Option<String>,
}

/// A page of audit events.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuditPage {
    items: Vec<AuditEvent>,
    next_cursor: Option<String>,
}

/// The signing keys (one page).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KeyPage {
    items: Vec<KeyView>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/clients", tag = "clients", params(ListQuery),
    responses((status = 200, description = "A page of clients, oldest first", body = ClientPage)))]
pub async fn list_clients(
    State(app): State<AppState>,
    call: AdminCall,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let q = try_or_answer!(query(q));
    answer(admin.list_clients(&q.page()).await)
}

#[utoipa::path(post, path = "/admin/v1/clients", tag = "clients", request_body = ClientInput,
    responses((status = 201, description = "The client, with its secret shown once", body = ClientCreated)))]
pub async fn create_client(
    State(app): State<AppState>,
    call: AdminCall,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let input: ClientInput = try_or_answer!(json_body(body, false));
    match admin.create_client(input).await {
        Ok(c) => created(&c),
        Err(e) => Problem(e).into_response(),
    }
}

#[utoipa::path(get, path = "/admin/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client id")),
    responses((status = 200, description = "The client", body = ClientView)))]
pub async fn get_client(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin.get_client(&id).await)
}

#[utoipa::path(patch, path = "/admin/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client id")), request_body = ClientPatch,
    responses((status = 200, description = "The changed client", body = ClientView)))]
pub async fn patch_client(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let patch: ClientPatch = try_or_answer!(json_body(body, false));
    answer(admin.update_client(&id, patch).await)
}

#[utoipa::path(delete, path = "/admin/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "The client id")),
    responses((status = 200, description = "Deleted, with everything issued to it", body = ClientDeleted)))]
pub async fn delete_client(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin.delete_client(&id).await)
}

#[utoipa::path(post, path = "/admin/v1/clients/{id}/secret", tag = "clients",
    params(("id" = String, Path, description = "The client id")), request_body = Option<RotateSecret>,
    responses((status = 200, description = "The new secret, shown once", body = SecretRotated)))]
pub async fn rotate_secret(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let r: RotateSecret = try_or_answer!(json_body(body, true));
    answer(admin.rotate_secret(&id, r.grace_seconds).await)
}

#[utoipa::path(get, path = "/admin/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, description = "A page of users, oldest first", body = UserPage)))]
pub async fn list_users(
    State(app): State<AppState>,
    call: AdminCall,
    q: Result<Query<UserListQuery>, QueryRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let q = try_or_answer!(query(q));
    let page = PageRequest {
        cursor: q.cursor,
        limit: q.limit,
    };
    answer(admin.list_users(q.q.as_deref(), &page).await)
}

#[utoipa::path(post, path = "/admin/v1/users", tag = "users", request_body = UserInput,
    responses((status = 201, description = "The user", body = UserView)))]
pub async fn create_user(
    State(app): State<AppState>,
    call: AdminCall,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let input: UserInput = try_or_answer!(json_body(body, false));
    match admin.create_user(input, app.passwords()).await {
        Ok(u) => created(&u),
        Err(e) => Problem(e).into_response(),
    }
}

#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 200, description = "The user", body = UserView)))]
pub async fn get_user(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin.get_user(&id).await)
}

#[utoipa::path(patch, path = "/admin/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user id")), request_body = UserPatch,
    responses((status = 200, description = "The changed user", body = UserView)))]
pub async fn patch_user(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let patch: UserPatch = try_or_answer!(json_body(body, false));
    answer(admin.update_user(&id, patch).await)
}

#[utoipa::path(delete, path = "/admin/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 200, description = "Deleted, with everything issued to them", body = UserDeleted)))]
pub async fn delete_user(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin.delete_user(&id).await)
}

#[utoipa::path(delete, path = "/admin/v1/users/{id}/sessions", tag = "users",
    params(("id" = String, Path, description = "The user id")),
    responses((status = 200, description = "Every refresh token and browser session of the user revoked", body = RevokedSessions)))]
pub async fn revoke_sessions(
    State(app): State<AppState>,
    call: AdminCall,
    Path(id): Path<String>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin.revoke_sessions(&id).await)
}

#[utoipa::path(get, path = "/admin/v1/keys", tag = "keys",
    responses((status = 200, description = "The signing keys", body = KeyPage)))]
pub async fn list_keys(State(app): State<AppState>, call: AdminCall) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin.list_keys().await)
}

#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "keys",
    responses((status = 200, description = "Rotated: the next key signs now", body = KeysRotated)))]
pub async fn rotate_keys(State(app): State<AppState>, call: AdminCall) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    answer(admin::rotate_keys_here(&app, &admin).await)
}

#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", params(AuditListQuery),
    responses((status = 200, description = "A page of audit events, oldest first", body = AuditPage)))]
pub async fn list_audit(
    State(app): State<AppState>,
    call: AdminCall,
    q: Result<Query<AuditListQuery>, QueryRejection>,
) -> Response {
    let admin = try_or_answer!(service(&app, &call).await);
    let q = try_or_answer!(query(q));
    let page = PageRequest {
        cursor: q.cursor,
        limit: q.limit,
    };
    let filters = AuditFilters {
        kind: q.kind,
        since: q.since,
        until: q.until,
        user: q.user,
        client: q.client,
        newest_first: false,
    };
    answer(admin.list_audit(filters, &page).await)
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "latchkey admin API",
        version = "1",
        description = "Clients, users, signing keys and the audit trail of a latchkey server (docs/admin.md)."
    ),
    paths(
        list_clients, create_client, get_client, patch_client, delete_client, rotate_secret,
        list_users, create_user, get_user, patch_user, delete_user, revoke_sessions,
        list_keys, rotate_keys, list_audit
    ),
    components(schemas(ProblemDocument)),
    modifiers(&Conventions),
    security(("bearer" = [])),
)]
pub struct AdminApi;

/// What every operation shares, added to each: the Bearer scheme and the
/// problem documents of its failures.
struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of this latchkey with the scope latchkey:admin and the audience <issuer>/admin",
                    ))
                    .build(),
            ),
        );
        let problems: &[(&str, &str)] = &[
            ("400", "Bad request: the detail names the field"),
            (
                "401",
                "No access token, or one that is invalid, expired or for another audience",
            ),
            (
                "403",
                "The token lacks the scope latchkey:admin, or its user the role admin",
            ),
            ("404", "No such resource"),
            ("413", "The body is over 16 KiB"),
            ("414", "The request target is over 8 KiB"),
            ("431", "The header fields are over 16 KiB in all"),
            (
                "422",
                "The body is JSON of the wrong shape: the detail names the field",
            ),
            ("503", "The database is unreachable; retry later"),
        ];
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description) in problems {
                    op.responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(*description)
                                    .content(
                                        "application/problem+json",
                                        ContentBuilder::new()
                                            .schema(Some(Ref::from_schema_name("ProblemDocument")))
                                            .build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

static OPENAPI_JSON: LazyLock<String> =
    LazyLock::new(|| AdminApi::openapi().to_pretty_json().unwrap_or_default());

/// `GET /admin/v1/openapi.json`: public, like discovery.
pub async fn openapi() -> Response {
    let mut resp = OPENAPI_JSON.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The document, for tests and `docs/`.
pub fn openapi_json() -> &'static str {
    &OPENAPI_JSON
}
