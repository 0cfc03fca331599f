//! The console's users: list, search (`q`) and page through, create, edit
//! (name, roles, disabled, email verified), delete, end every session.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::{
    Console, ConsoleForm, SAMPLE_EMAIL, SAMPLE_NAME, Shell, done, next_href, notice, page_request,
    paths, sample_shell, with_id,
};
use crate::core::admin::{UserInput, UserPatch, UserView};
use crate::core::error::Error;
use crate::core::secret::Secret;
use crate::http::AppState;
use crate::http::browser::{CsrfForm, PageQuery};
use crate::http::error::{PageStatus, page};
use crate::http::html::when;
use crate::http::html::{Sample, View};

/// One user in the list.
#[derive(Debug, Serialize)]
pub struct UserLine {
    pub id: String,
    pub href: String,
    pub email: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub email_verified: bool,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct UsersView {
    pub shell: Shell,
    pub q: String,
    pub users: Vec<UserLine>,
    pub next_href: Option<String>,
    pub notice: Option<&'static str>,
}

impl View for UsersView {
    const TEMPLATE: &'static str = "admin_users.html";
}

/// A user's page, or the form of a new one.
#[derive(Debug, Serialize)]
pub struct UserEditView {
    pub shell: Shell,
    /// `None` for a new user.
    pub id: Option<String>,
    pub action: String,
    pub email: String,
    pub name: String,
    /// Space-separated.
    pub roles: String,
    pub disabled: bool,
    pub email_verified: bool,
    pub created_at: Option<String>,
    pub min_length: usize,
    /// What the server refused (English, from `core`).
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

impl View for UserEditView {
    const TEMPLATE: &'static str = "admin_user.html";
}

fn edit_view(
    console: &Console,
    u: Option<&UserView>,
    min_length: usize,
    notice: Option<&'static str>,
) -> UserEditView {
    UserEditView {
        shell: console.shell("users"),
        id: u.map(|u| u.id.clone()),
        action: u.map_or_else(|| paths::USERS.to_owned(), |u| with_id(paths::USER, &u.id)),
        email: u.map(|u| u.email.clone()).unwrap_or_default(),
        name: u.and_then(|u| u.name.clone()).unwrap_or_default(),
        roles: u.map(|u| u.roles.join(" ")).unwrap_or_default(),
        disabled: u.is_some_and(|u| u.disabled),
        email_verified: u.is_none_or(|u| u.email_verified),
        created_at: u.map(|u| when(u.created_at)),
        min_length,
        error: None,
        notice,
    }
}

fn roles(text: &str) -> Vec<String> {
    text.split([' ', ','])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn refused(e: &Error) -> String {
    e.description().map(|d| d.into_owned()).unwrap_or_default()
}

/// `GET /admin/users`: `q` matches a part of the email or the name.
pub async fn users(
    State(app): State<AppState>,
    console: Console,
    PageQuery(params): PageQuery,
) -> Response {
    let q = params.get("q").unwrap_or("").to_owned();
    let found = match console
        .admin(&app)
        .list_users(Some(&q), &page_request(&params))
        .await
    {
        Ok(p) => p,
        Err(e) => return console.error(e),
    };
    let users = found
        .items
        .into_iter()
        .map(|u| UserLine {
            href: with_id(paths::USER, &u.id),
            created_at: when(u.created_at),
            id: u.id,
            email: u.email,
            name: u.name,
            roles: u.roles,
            disabled: u.disabled,
            email_verified: u.email_verified,
        })
        .collect();
    page(
        PageStatus::Shown,
        &console.locale,
        &UsersView {
            shell: console.shell("users"),
            next_href: next_href(paths::USERS, &[("q", &q)], found.next_cursor.as_deref()),
            q,
            users,
            notice: notice(&params),
        },
    )
}

/// `GET /admin/users/new`.
pub async fn user_new(State(app): State<AppState>, console: Console) -> Response {
    let view = edit_view(&console, None, app.settings().password_min_length, None);
    page(PageStatus::Shown, &console.locale, &view)
}

/// `POST /admin/users`.
pub async fn users_create(
    State(app): State<AppState>,
    console: Console,
    form: CsrfForm<ConsoleForm>,
) -> Response {
    let form = &form.form;
    let name = form.text("name");
    let password = Secret::new(form.get("password").unwrap_or(""));
    let input = UserInput {
        email: form.text("email"),
        name: (!name.is_empty()).then_some(name),
        roles: roles(&form.text("roles")),
        password: password.expose().to_owned(),
    };
    match console
        .admin(&app)
        .create_user(input, app.passwords())
        .await
    {
        Ok(u) => done(&with_id(paths::USER, &u.id), "saved"),
        Err(e @ Error::InvalidRequest(_)) => {
            let mut view = edit_view(&console, None, app.settings().password_min_length, None);
            view.email = form.text("email");
            view.name = form.text("name");
            view.roles = form.text("roles");
            view.error = Some(refused(&e));
            page(PageStatus::Invalid, &console.locale, &view)
        }
        Err(e) => console.error(e),
    }
}

/// `GET /admin/users/{id}`.
pub async fn user_get(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    PageQuery(params): PageQuery,
) -> Response {
    match console.admin(&app).get_user(&id).await {
        Ok(u) => {
            let view = edit_view(
                &console,
                Some(&u),
                app.settings().password_min_length,
                notice(&params),
            );
            page(PageStatus::Shown, &console.locale, &view)
        }
        Err(e) => console.error(e),
    }
}

/// `POST /admin/users/{id}`: name, roles, disabled, email verified.
pub async fn user_post(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: CsrfForm<ConsoleForm>,
) -> Response {
    let form = &form.form;
    let patch = UserPatch {
        name: Some(form.text("name")),
        roles: Some(roles(&form.text("roles"))),
        disabled: Some(form.checked("disabled")),
        email_verified: Some(form.checked("email_verified")),
    };
    let admin = console.admin(&app);
    match admin.update_user(&id, patch).await {
        Ok(_) => done(&with_id(paths::USER, &id), "saved"),
        Err(e @ Error::InvalidRequest(_)) => match admin.get_user(&id).await {
            Ok(u) => {
                let mut view = edit_view(&console, Some(&u), 0, None);
                view.name = form.text("name");
                view.roles = form.text("roles");
                view.error = Some(refused(&e));
                page(PageStatus::Invalid, &console.locale, &view)
            }
            Err(e) => console.error(e),
        },
        Err(e) => console.error(e),
    }
}

/// `POST /admin/users/{id}/delete`.
pub async fn user_delete(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    _form: CsrfForm<ConsoleForm>,
) -> Response {
    match console.admin(&app).delete_user(&id).await {
        Ok(_) => done(paths::USERS, "deleted"),
        Err(e) => console.error(e),
    }
}

/// `POST /admin/users/{id}/sessions`: every refresh token and browser
/// session of the user ends.
pub async fn user_revoke_sessions(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    _form: CsrfForm<ConsoleForm>,
) -> Response {
    match console.admin(&app).revoke_sessions(&id).await {
        Ok(_) => done(&with_id(paths::USER, &id), "revoked"),
        Err(e) => console.error(e),
    }
}

pub fn samples() -> Vec<Sample> {
    let line = UserLine {
        id: "zz".into(),
        href: "/admin/users/zz".into(),
        email: SAMPLE_EMAIL.into(),
        name: Some(SAMPLE_NAME.into()),
        roles: vec!["zz".into()],
        disabled: true,
        email_verified: false,
        created_at: "2026-12-07 04:16 UTC".into(),
    };
    let edit = |id: Option<&str>, error: Option<&str>, notice| UserEditView {
        shell: sample_shell("users"),
        id: id.map(str::to_owned),
        action: "/admin/users/zz".into(),
        email: SAMPLE_EMAIL.into(),
        name: SAMPLE_NAME.into(),
        roles: "zz".into(),
        disabled: id.is_some(),
        email_verified: id.is_none(),
        created_at: id.map(|_| "2026-12-07 04:16 UTC".into()),
        min_length: 8,
        error: error.map(str::to_owned),
        notice,
    };
    vec![
        Sample::of(&UsersView {
            shell: sample_shell("users"),
            q: "zz".into(),
            users: vec![
                line,
                UserLine {
                    id: "zz".into(),
                    href: "/admin/users/zz".into(),
                    email: SAMPLE_EMAIL.into(),
                    name: None,
                    roles: Vec::new(),
                    disabled: false,
                    email_verified: true,
                    created_at: "2026-12-07 04:16 UTC".into(),
                },
            ],
            next_href: Some("/admin/users?cursor=zz".into()),
            notice: Some("admin.done_deleted"),
        }),
        Sample::of(&UsersView {
            shell: sample_shell("users"),
            q: String::new(),
            users: Vec::new(),
            next_href: None,
            notice: None,
        }),
        Sample::of(&edit(Some("zz"), Some("zz"), Some("admin.done_saved"))),
        Sample::of(&edit(Some("zz"), None, Some("admin.done_revoked"))),
        Sample::of(&edit(None, Some("zz"), None)),
    ]
}
