//! The admin console, `/admin` (docs/admin.md): server-rendered pages over
//! the same `core::admin` service as the admin API and the CLI, each change
//! made with an `Actor` naming the administrator, so that the audit trail
//! says who did it.
//!
//! Admission is `core::admin::console`: the console signs people in through
//! this latchkey's own authorization code flow, and keeps the admission in
//! its own cookie (`latchkey_admin`, `Path=/admin`), which [`Console`]
//! checks on every request against the browser's live session and the
//! user's roles as stored now. Every form carries a CSRF token bound to
//! the browser and the session ([`ConsoleForm`]); the pages have the
//! security headers and CSP of every other page (no script at all).

mod clients;
mod logs;
mod users;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use clients::{
    client_delete, client_get, client_new, client_post, client_rotate, clients, clients_create,
};
pub use logs::{audit, keys, keys_rotate};
pub use users::{
    user_delete, user_get, user_new, user_post, user_revoke_sessions, users, users_create,
};

use super::AppState;
use super::browser::{BrowserSession, CsrfForm, PageForm, PageQuery};
use super::cookies;
use super::error::{PageError, PageStatus, page, see_other};
use super::html::when;
use super::html::{MessageView, Sample, View};
use super::locale::Locale;
use crate::core::admin::console::{self, Access, Admission, Callback, ConsoleUser};
use crate::core::admin::{Admin, AuditFilters, PageRequest};
use crate::core::audit::AuditEvent;
use crate::core::csrf::FormScope;
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::sessions::{self, Session};
use crate::store::Store;

/// The console's paths.
pub mod paths {
    pub const HOME: &str = "/admin";
    pub const SIGN_IN: &str = "/admin/signin";
    pub const CALLBACK: &str = crate::core::admin::console::CALLBACK_PATH;
    pub const SIGN_OUT: &str = "/admin/signout";
    pub const CLIENTS: &str = "/admin/clients";
    pub const CLIENT_NEW: &str = "/admin/clients/new";
    pub const CLIENT: &str = "/admin/clients/{id}";
    pub const CLIENT_DELETE: &str = "/admin/clients/{id}/delete";
    pub const CLIENT_SECRET: &str = "/admin/clients/{id}/secret";
    pub const USERS: &str = "/admin/users";
    pub const USER_NEW: &str = "/admin/users/new";
    pub const USER: &str = "/admin/users/{id}";
    pub const USER_DELETE: &str = "/admin/users/{id}/delete";
    pub const USER_SESSIONS: &str = "/admin/users/{id}/sessions";
    pub const KEYS: &str = "/admin/keys";
    pub const KEYS_ROTATE: &str = "/admin/keys/rotate";
    pub const AUDIT: &str = "/admin/audit";
}

/// Items per page of the console's lists.
const PAGE_SIZE: i64 = 25;

/// An administrator admitted to the console, on this request: who, and
/// what every page's frame needs.
pub struct Console {
    pub user: ConsoleUser,
    pub locale: Locale,
    /// The CSRF token of the console's forms in this browser and session.
    pub csrf_token: String,
}

impl Console {
    /// The admin service, acting as this administrator.
    fn admin<'a>(&self, app: &'a AppState) -> Admin<'a, Store> {
        Admin::of(app, self.user.actor.clone())
    }

    fn shell(&self, section: &'static str) -> Shell {
        Shell {
            email: self.user.email.clone(),
            csrf_token: self.csrf_token.clone(),
            section,
        }
    }

    /// A `core` error on a console page: the error page.
    fn error(&self, e: Error) -> Response {
        PageError(e, self.locale.clone()).into_response()
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let visitor = BrowserSession::from_request_parts(parts, app).await?;
        let Ok(locale) = Locale::from_request_parts(parts, app).await;
        let ticket = cookies::single(&parts.headers, cookies::ADMIN_COOKIE);
        match console::access(app, ticket, visitor.session.as_ref()).await {
            Ok(Access::Admitted(user)) => {
                // `access` admits only with a session.
                let Some(session) = visitor.session else {
                    return Err(see_other(paths::SIGN_IN));
                };
                let csrf_token = visitor
                    .browser
                    .csrf_token(app, FormScope::Console(&session));
                Ok(Console {
                    user,
                    locale,
                    csrf_token,
                })
            }
            Ok(Access::SignIn) => Err(see_other(paths::SIGN_IN)),
            Ok(Access::Refused) => Err(forbidden(&locale)),
            Err(e) => Err(PageError(e, locale).into_response()),
        }
    }
}

/// What every console page's frame shows: the navigation, who is signed
/// in, and the sign-out form.
#[derive(Debug, Clone, Serialize)]
pub struct Shell {
    pub email: String,
    pub csrf_token: String,
    /// The navigation entry to mark current: `home`, `clients`, `users`,
    /// `keys`, `audit`.
    pub section: &'static str,
}

/// Every console form: its fields as posted, accepted only with the
/// console's CSRF token for this browser and session.
pub struct ConsoleForm(pub Params);

impl ConsoleForm {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    fn text(&self, name: &str) -> String {
        self.0.get(name).unwrap_or("").trim().to_owned()
    }

    fn checked(&self, name: &str) -> bool {
        self.0.get(name).is_some()
    }
}

impl PageForm for ConsoleForm {
    fn csrf_scope<'a>(_: &'a Params, session: Option<&'a Session>) -> Option<FormScope<'a>> {
        session.map(FormScope::Console)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        see_other(paths::SIGN_IN)
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(ConsoleForm(params.clone()))
    }
}

/// The page of a signed-in user who is not an administrator.
#[derive(Debug, Serialize)]
pub struct ForbiddenView {}

impl View for ForbiddenView {
    const TEMPLATE: &'static str = "admin_forbidden.html";
}

fn forbidden(locale: &Locale) -> Response {
    page(PageStatus::Forbidden, locale, &ForbiddenView {})
}

// --- signing in and out ----------------------------------------------------

/// `GET /admin/signin`: off to the authorization endpoint, as any client.
pub async fn sign_in(State(app): State<AppState>, locale: Locale) -> Response {
    match console::begin(&app).await {
        Ok(start) => (
            cookies::admin_state(app.settings(), start.state.expose()),
            see_other(&start.authorize_path),
        )
            .into_response(),
        Err(e) => PageError(e, locale).into_response(),
    }
}

/// `GET /admin/callback`: the code comes back; redeemed in-process.
pub async fn callback(
    State(app): State<AppState>,
    visitor: BrowserSession,
    locale: Locale,
    PageQuery(params): PageQuery,
    headers: axum::http::HeaderMap,
) -> Response {
    let kept = cookies::single(&headers, cookies::ADMIN_STATE_COOKIE);
    let outcome = console::finish(
        &app,
        kept,
        Callback {
            code: params.get("code"),
            state: params.get("state"),
            error: params.get("error"),
        },
        visitor.session.as_ref(),
    )
    .await;
    let clear_state = cookies::clear_admin_state(app.settings());
    match outcome {
        Ok(Admission::Admitted { ticket, max_age }) => (
            clear_state,
            cookies::admin(app.settings(), ticket.expose(), max_age),
            see_other(paths::HOME),
        )
            .into_response(),
        Ok(Admission::Refused) => (clear_state, forbidden(&locale)).into_response(),
        Ok(Admission::Restart) => (clear_state, see_other(paths::SIGN_IN)).into_response(),
        Err(e) => (clear_state, PageError(e, locale)).into_response(),
    }
}

/// `POST /admin/signout`: ends the console's admission and the browser
/// session it was granted in (signing out of the console signs out of
/// latchkey in this browser, as an administrator at a shared computer
/// expects).
pub async fn sign_out(State(app): State<AppState>, form: CsrfForm<ConsoleForm>) -> Response {
    let cookie = form.visitor.browser.session_cookie();
    if let Err(e) = sessions::end(&app, cookie).await {
        return PageError(e, form.locale.clone()).into_response();
    }
    (
        cookies::clear_admin(app.settings()),
        cookies::clear_session(app.settings()),
        page(
            PageStatus::Shown,
            &form.locale,
            &MessageView {
                heading: "message.signed_out_heading",
                message: "message.signed_out_body",
                client_name: None,
                detail: None,
            },
        ),
    )
        .into_response()
}

// --- the dashboard ---------------------------------------------------------

/// One audit event in a table.
#[derive(Debug, Clone, Serialize)]
pub struct EventLine {
    pub at: String,
    pub kind: String,
    /// The actor as recorded (`user:<id>`, `client:<id>`, `cli`, …).
    pub actor: String,
    /// The acting user's email, when the actor is a user who still exists.
    pub actor_email: Option<String>,
    pub user_id: Option<String>,
    pub user_href: Option<String>,
    pub client_id: Option<String>,
    pub client_href: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Events as the tables show them, acting users named by their email.
async fn event_lines(admin: &Admin<'_, Store>, events: Vec<AuditEvent>) -> Vec<EventLine> {
    let mut emails: Vec<(String, Option<String>)> = Vec::new();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let actor_email = match e.actor.strip_prefix("user:") {
            Some(id) => match emails.iter().find(|(k, _)| k == id) {
                Some((_, email)) => email.clone(),
                None => {
                    let email = admin.get_user(id).await.ok().map(|u| u.email);
                    emails.push((id.to_owned(), email.clone()));
                    email
                }
            },
            None => None,
        };
        out.push(EventLine {
            at: when(e.at),
            kind: e.kind,
            actor: e.actor,
            actor_email,
            user_href: e.user_id.as_deref().map(|id| with_id(paths::USER, id)),
            user_id: e.user_id,
            client_href: e.client_id.as_deref().map(|id| with_id(paths::CLIENT, id)),
            client_id: e.client_id,
            outcome: e.outcome,
            detail: e.detail,
        });
    }
    out
}

#[derive(Debug, Serialize)]
pub struct DashboardView {
    pub shell: Shell,
    /// Counts as shown: `"12"`, or `"200+"` past one page.
    pub clients: String,
    pub users: String,
    pub current_key: Option<String>,
    pub events: Vec<EventLine>,
}

impl View for DashboardView {
    const TEMPLATE: &'static str = "admin.html";
}

fn count<T>(page: &crate::core::admin::Page<T>) -> String {
    if page.next_cursor.is_some() {
        format!("{}+", page.items.len())
    } else {
        page.items.len().to_string()
    }
}

/// `GET /admin`.
pub async fn dashboard(State(app): State<AppState>, console: Console) -> Response {
    let admin = console.admin(&app);
    let most = PageRequest {
        cursor: None,
        limit: Some(crate::core::admin::MAX_LIMIT),
    };
    let view = async {
        let clients = admin.list_clients(&most).await?;
        let users = admin.list_users(None, &most).await?;
        let keys = admin.list_keys().await?;
        let recent = admin
            .list_audit(
                AuditFilters {
                    newest_first: true,
                    ..AuditFilters::default()
                },
                &PageRequest {
                    cursor: None,
                    limit: Some(10),
                },
            )
            .await?
            .items;
        Ok::<_, Error>(DashboardView {
            shell: console.shell("home"),
            clients: count(&clients),
            users: count(&users),
            current_key: keys
                .items
                .into_iter()
                .find(|k| k.state == "current")
                .map(|k| k.kid),
            events: event_lines(&admin, recent).await,
        })
    }
    .await;
    match view {
        Ok(v) => page(PageStatus::Shown, &console.locale, &v),
        Err(e) => console.error(e),
    }
}

// --- helpers of the list pages ---------------------------------------------

/// A list page's "next" link: `path` with `params` and the cursor.
fn next_href(path: &str, params: &[(&str, &str)], cursor: Option<&str>) -> Option<String> {
    let cursor = cursor?;
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    q.append_pair("cursor", cursor);
    Some(format!("{path}?{}", q.finish()))
}

/// The cursor of a list page's query, and the console's page size.
fn page_request(params: &Params) -> PageRequest {
    PageRequest {
        cursor: params.get("cursor").map(str::to_owned),
        limit: Some(PAGE_SIZE),
    }
}

/// A path with one id in it (`/admin/users/{id}`), the id escaped.
fn with_id(template: &str, id: &str) -> String {
    let escaped: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    template.replace("{id}", &escaped)
}

/// A `303` to `path` saying what was done (`?done=saved`).
fn done(path: &str, what: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    see_other(&format!("{path}{sep}done={what}"))
}

/// The notice a `?done=` names, as a catalogue key.
fn notice(params: &Params) -> Option<&'static str> {
    match params.get("done") {
        Some("saved") => Some("admin.done_saved"),
        Some("deleted") => Some("admin.done_deleted"),
        Some("revoked") => Some("admin.done_revoked"),
        Some("rotated") => Some("admin.done_rotated"),
        _ => None,
    }
}

const SAMPLE_EMAIL: &str = "zq@example.com";
const SAMPLE_NAME: &str = "Zqx Qzv";

fn sample_shell(section: &'static str) -> Shell {
    Shell {
        email: SAMPLE_EMAIL.into(),
        csrf_token: "t".into(),
        section,
    }
}

fn sample_event() -> EventLine {
    EventLine {
        at: "2026-12-07 04:16 UTC".into(),
        kind: "zz_kind".into(),
        actor: "zq:zz".into(),
        actor_email: Some(SAMPLE_EMAIL.into()),
        user_id: Some("zz".into()),
        user_href: Some("/admin/users/zz".into()),
        client_id: Some("zz".into()),
        client_href: Some("/admin/clients/zz".into()),
        outcome: "zz".into(),
        detail: Some("zz".into()),
    }
}

/// One view of every console page, for the render check of every
/// language (`pages::samples`).
pub fn samples() -> Vec<Sample> {
    let mut out = vec![
        Sample::of(&ForbiddenView {}),
        Sample::of(&DashboardView {
            shell: sample_shell("home"),
            clients: "12".into(),
            users: "200+".into(),
            current_key: Some("zz".into()),
            events: vec![sample_event()],
        }),
        Sample::of(&DashboardView {
            shell: sample_shell("home"),
            clients: "0".into(),
            users: "0".into(),
            current_key: None,
            events: Vec::new(),
        }),
    ];
    out.extend(clients::samples());
    out.extend(users::samples());
    out.extend(logs::samples());
    out
}
