//! The console's clients: list and search, register (the secret shown
//! once), edit, delete, rotate the secret with a grace period.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::{
    Console, ConsoleForm, PageRequest, SAMPLE_NAME, Shell, done, next_href, notice, page_request,
    paths, sample_shell, with_id,
};
use crate::core::admin::{
    ClientInput, ClientPatch, ClientView, Delivery, GrantTypeName, MAX_LIMIT,
};
use crate::core::error::Error;
use crate::http::AppState;
use crate::http::browser::{CsrfForm, PageQuery};
use crate::http::error::{PageStatus, page};
use crate::http::html::when;
use crate::http::html::{Sample, View};

/// Every grant type a form offers: its checkbox name, its catalogue key,
/// its value.
const GRANTS: &[(&str, &str, GrantTypeName)] = &[
    (
        "grant_authorization_code",
        "admin.grant_authorization_code",
        GrantTypeName::AuthorizationCode,
    ),
    (
        "grant_refresh_token",
        "admin.grant_refresh_token",
        GrantTypeName::RefreshToken,
    ),
    (
        "grant_client_credentials",
        "admin.grant_client_credentials",
        GrantTypeName::ClientCredentials,
    ),
    (
        "grant_password",
        "admin.grant_password",
        GrantTypeName::Password,
    ),
    (
        "grant_device_code",
        "admin.grant_device_code",
        GrantTypeName::DeviceCode,
    ),
    (
        "grant_token_exchange",
        "admin.grant_token_exchange",
        GrantTypeName::TokenExchange,
    ),
];

fn grant_label(g: GrantTypeName) -> &'static str {
    GRANTS
        .iter()
        .find(|(_, _, v)| *v == g)
        .map_or("admin.grant_authorization_code", |(_, k, _)| *k)
}

/// One client in the list.
#[derive(Debug, Serialize)]
pub struct ClientLine {
    pub client_id: String,
    pub href: String,
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    /// Catalogue keys.
    pub grants: Vec<&'static str>,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct ClientsView {
    pub shell: Shell,
    pub q: String,
    pub clients: Vec<ClientLine>,
    pub next_href: Option<String>,
    pub notice: Option<&'static str>,
}

impl View for ClientsView {
    const TEMPLATE: &'static str = "admin_clients.html";
}

/// A grant type's checkbox.
#[derive(Debug, Serialize)]
pub struct GrantBox {
    pub field: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// The form of a new client, or of a registered one.
#[derive(Debug, Serialize)]
pub struct ClientEditView {
    pub shell: Shell,
    /// `None` for a new client.
    pub client_id: Option<String>,
    pub action: String,
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub scope: String,
    pub audiences: String,
    pub allowed_origins: String,
    pub backchannel_logout_uri: String,
    pub cookie_delivery: bool,
    pub require_dpop: bool,
    pub require_par: bool,
    pub grants: Vec<GrantBox>,
    pub created_at: Option<String>,
    /// While a rotated secret still works: until when.
    pub previous_secret_until: Option<String>,
    /// What the server refused (English, from `core`), shown as an alert.
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

impl View for ClientEditView {
    const TEMPLATE: &'static str = "admin_client.html";
}

/// A secret, shown this once (a new client, or a rotation).
#[derive(Debug, Serialize)]
pub struct SecretView {
    pub shell: Shell,
    pub client_id: String,
    pub client_href: String,
    pub name: String,
    pub client_secret: Option<String>,
    /// A rotation's grace: the old secret works until then.
    pub previous_secret_until: Option<String>,
    /// `admin.client_created` or `admin.secret_rotated`.
    pub heading: &'static str,
}

impl View for SecretView {
    const TEMPLATE: &'static str = "admin_secret.html";
}

fn lines(text: &str) -> Vec<String> {
    text.split(['\n', ' ', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn edit_view(
    shell: Shell,
    c: Option<&ClientView>,
    error: Option<String>,
    notice: Option<&'static str>,
) -> ClientEditView {
    let join = |v: &[String]| v.join("\n");
    ClientEditView {
        shell,
        client_id: c.map(|c| c.client_id.clone()),
        action: c.map_or_else(
            || paths::CLIENTS.to_owned(),
            |c| with_id(paths::CLIENT, &c.client_id),
        ),
        name: c.map(|c| c.name.clone()).unwrap_or_default(),
        public: c.is_some_and(|c| c.public),
        first_party: c.is_some_and(|c| c.first_party),
        redirect_uris: c.map(|c| join(&c.redirect_uris)).unwrap_or_default(),
        post_logout_redirect_uris: c
            .map(|c| join(&c.post_logout_redirect_uris))
            .unwrap_or_default(),
        scope: c.map(|c| c.scope.clone()).unwrap_or_default(),
        audiences: c.map(|c| join(&c.audiences)).unwrap_or_default(),
        allowed_origins: c.map(|c| join(&c.allowed_origins)).unwrap_or_default(),
        backchannel_logout_uri: c
            .and_then(|c| c.backchannel_logout_uri.clone())
            .unwrap_or_default(),
        cookie_delivery: c.is_some_and(|c| c.token_delivery == Delivery::Cookie),
        require_dpop: c.is_some_and(|c| c.require_dpop),
        require_par: c.is_some_and(|c| c.require_par),
        grants: GRANTS
            .iter()
            .map(|(field, label, g)| GrantBox {
                field,
                label,
                checked: c.is_some_and(|c| c.grant_types.contains(g)),
            })
            .collect(),
        created_at: c.map(|c| when(c.created_at)),
        previous_secret_until: c.and_then(|c| c.previous_secret_expires_at).map(when),
        error,
        notice,
    }
}

/// The form as posted, back into a view (after a refusal).
fn posted_view(
    shell: Shell,
    id: Option<&str>,
    form: &ConsoleForm,
    error: String,
) -> ClientEditView {
    ClientEditView {
        shell,
        client_id: id.map(str::to_owned),
        action: id.map_or_else(
            || paths::CLIENTS.to_owned(),
            |id| with_id(paths::CLIENT, id),
        ),
        name: form.text("name"),
        public: form.checked("public"),
        first_party: form.checked("first_party"),
        redirect_uris: form.text("redirect_uris"),
        post_logout_redirect_uris: form.text("post_logout_redirect_uris"),
        scope: form.text("scope"),
        audiences: form.text("audiences"),
        allowed_origins: form.text("allowed_origins"),
        backchannel_logout_uri: form.text("backchannel_logout_uri"),
        cookie_delivery: form.checked("cookie_delivery"),
        require_dpop: form.checked("require_dpop"),
        require_par: form.checked("require_par"),
        grants: GRANTS
            .iter()
            .map(|(field, label, _)| GrantBox {
                field,
                label,
                checked: form.checked(field),
            })
            .collect(),
        created_at: None,
        previous_secret_until: None,
        error: Some(error),
        notice: None,
    }
}

fn posted_grants(form: &ConsoleForm) -> Vec<GrantTypeName> {
    GRANTS
        .iter()
        .filter(|(field, _, _)| form.checked(field))
        .map(|(_, _, g)| *g)
        .collect()
}

fn delivery(form: &ConsoleForm) -> Delivery {
    if form.checked("cookie_delivery") {
        Delivery::Cookie
    } else {
        Delivery::Body
    }
}

fn refused(e: &Error) -> String {
    e.description().map(|d| d.into_owned()).unwrap_or_default()
}

/// `GET /admin/clients`: every client, `q` matching a part of the name or
/// the id (clients are few; the match is made on the whole list).
pub async fn clients(
    State(app): State<AppState>,
    console: Console,
    PageQuery(params): PageQuery,
) -> Response {
    let admin = console.admin(&app);
    let q = params.get("q").unwrap_or("").trim().to_lowercase();
    let wanted = if q.is_empty() {
        page_request(&params)
    } else {
        PageRequest {
            cursor: None,
            limit: Some(MAX_LIMIT),
        }
    };
    let found = match admin.list_clients(&wanted).await {
        Ok(p) => p,
        Err(e) => return console.error(e),
    };
    let next = if q.is_empty() {
        next_href(paths::CLIENTS, &[], found.next_cursor.as_deref())
    } else {
        None
    };
    let clients = found
        .items
        .into_iter()
        .filter(|c| {
            q.is_empty()
                || c.name.to_lowercase().contains(&q)
                || c.client_id.to_lowercase().contains(&q)
        })
        .map(|c| ClientLine {
            href: with_id(paths::CLIENT, &c.client_id),
            grants: c.grant_types.iter().map(|g| grant_label(*g)).collect(),
            created_at: when(c.created_at),
            client_id: c.client_id,
            name: c.name,
            public: c.public,
            first_party: c.first_party,
        })
        .collect();
    page(
        PageStatus::Shown,
        &console.locale,
        &ClientsView {
            shell: console.shell("clients"),
            q: params.get("q").unwrap_or("").to_owned(),
            clients,
            next_href: next,
            notice: notice(&params),
        },
    )
}

/// `GET /admin/clients/new`.
pub async fn client_new(console: Console) -> Response {
    let mut view = edit_view(console.shell("clients"), None, None, None);
    // A new client signs people in, by default: the usual grants ticked.
    for g in &mut view.grants {
        g.checked = matches!(g.field, "grant_authorization_code" | "grant_refresh_token");
    }
    page(PageStatus::Shown, &console.locale, &view)
}

/// `POST /admin/clients`: registers the client and shows its secret once.
pub async fn clients_create(
    State(app): State<AppState>,
    console: Console,
    form: CsrfForm<ConsoleForm>,
) -> Response {
    let form = &form.form;
    let scope = form.text("scope");
    let bc = form.text("backchannel_logout_uri");
    let input = ClientInput {
        name: form.text("name"),
        public: form.checked("public"),
        first_party: form.checked("first_party"),
        redirect_uris: lines(&form.text("redirect_uris")),
        post_logout_redirect_uris: lines(&form.text("post_logout_redirect_uris")),
        grant_types: posted_grants(form),
        scope: (!scope.is_empty()).then_some(scope),
        audiences: lines(&form.text("audiences")),
        allowed_origins: lines(&form.text("allowed_origins")),
        token_delivery: Some(delivery(form)),
        require_dpop: form.checked("require_dpop"),
        require_par: form.checked("require_par"),
        backchannel_logout_uri: (!bc.is_empty()).then_some(bc),
        ..ClientInput::default()
    };
    match console.admin(&app).create_client(input).await {
        Ok(created) => page(
            PageStatus::Shown,
            &console.locale,
            &SecretView {
                shell: console.shell("clients"),
                client_href: with_id(paths::CLIENT, &created.client.client_id),
                client_id: created.client.client_id,
                name: created.client.name,
                client_secret: created.client_secret,
                previous_secret_until: None,
                heading: "admin.client_created",
            },
        ),
        Err(e @ (Error::InvalidRequest(_) | Error::InvalidClientMetadata(_))) => page(
            PageStatus::Invalid,
            &console.locale,
            &posted_view(console.shell("clients"), None, form, refused(&e)),
        ),
        Err(e) => console.error(e),
    }
}

/// `GET /admin/clients/{id}`.
pub async fn client_get(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    PageQuery(params): PageQuery,
) -> Response {
    match console.admin(&app).get_client(&id).await {
        Ok(c) => page(
            PageStatus::Shown,
            &console.locale,
            &edit_view(console.shell("clients"), Some(&c), None, notice(&params)),
        ),
        Err(e) => console.error(e),
    }
}

/// `POST /admin/clients/{id}`: every field of the form replaces the
/// stored one.
pub async fn client_post(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: CsrfForm<ConsoleForm>,
) -> Response {
    let form = &form.form;
    let patch = ClientPatch {
        name: Some(form.text("name")),
        first_party: Some(form.checked("first_party")),
        redirect_uris: Some(lines(&form.text("redirect_uris"))),
        post_logout_redirect_uris: Some(lines(&form.text("post_logout_redirect_uris"))),
        grant_types: Some(posted_grants(form)),
        scope: Some(form.text("scope")),
        audiences: Some(lines(&form.text("audiences"))),
        allowed_origins: Some(lines(&form.text("allowed_origins"))),
        token_delivery: Some(delivery(form)),
        require_dpop: Some(form.checked("require_dpop")),
        require_par: Some(form.checked("require_par")),
        backchannel_logout_uri: Some(form.text("backchannel_logout_uri")),
    };
    match console.admin(&app).update_client(&id, patch).await {
        Ok(_) => done(&with_id(paths::CLIENT, &id), "saved"),
        Err(e @ (Error::InvalidRequest(_) | Error::InvalidClientMetadata(_))) => {
            let mut view = posted_view(console.shell("clients"), Some(&id), form, refused(&e));
            // The kind of client is fixed once registered.
            if let Ok(c) = console.admin(&app).get_client(&id).await {
                view.public = c.public;
                view.created_at = Some(when(c.created_at));
            }
            page(PageStatus::Invalid, &console.locale, &view)
        }
        Err(e) => console.error(e),
    }
}

/// `POST /admin/clients/{id}/delete`.
pub async fn client_delete(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    _form: CsrfForm<ConsoleForm>,
) -> Response {
    match console.admin(&app).delete_client(&id).await {
        Ok(_) => done(paths::CLIENTS, "deleted"),
        Err(e) => console.error(e),
    }
}

/// `POST /admin/clients/{id}/secret`: a new secret, shown once; the old
/// one keeps working for `grace_seconds`.
pub async fn client_rotate(
    State(app): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    form: CsrfForm<ConsoleForm>,
) -> Response {
    let grace = match form.form.get("grace_seconds").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return console.error(Error::invalid_request(
                "grace_seconds: a whole number of seconds",
            ));
        }
    };
    let admin = console.admin(&app);
    let rotated = match admin.rotate_secret(&id, grace).await {
        Ok(r) => r,
        Err(e) => return console.error(e),
    };
    let name = admin
        .get_client(&id)
        .await
        .map(|c| c.name)
        .unwrap_or_default();
    page(
        PageStatus::Shown,
        &console.locale,
        &SecretView {
            shell: console.shell("clients"),
            client_href: with_id(paths::CLIENT, &id),
            client_id: rotated.client_id,
            name,
            client_secret: Some(rotated.client_secret),
            previous_secret_until: rotated.previous_secret_expires_at.map(when),
            heading: "admin.secret_rotated",
        },
    )
}

pub fn samples() -> Vec<Sample> {
    let view = ClientView {
        client_id: "zz".into(),
        name: SAMPLE_NAME.into(),
        public: false,
        first_party: true,
        redirect_uris: vec!["https://zz.example.com/cb".into()],
        post_logout_redirect_uris: vec!["https://zz.example.com/".into()],
        grant_types: GRANTS.iter().map(|(_, _, g)| *g).collect(),
        scope: "zz".into(),
        audiences: vec!["https://zz.example.com".into()],
        token_delivery: Delivery::Cookie,
        allowed_origins: vec!["https://zz.example.com".into()],
        require_dpop: true,
        require_par: true,
        token_endpoint_auth_method: "zz".into(),
        jwks_uri: None,
        profile: None,
        backchannel_logout_uri: Some("https://zz.example.com/bc".into()),
        created_at: 0,
        previous_secret_expires_at: Some(0),
    };
    vec![
        Sample::of(&ClientsView {
            shell: sample_shell("clients"),
            q: "zz".into(),
            clients: vec![ClientLine {
                client_id: "zz".into(),
                href: "/admin/clients/zz".into(),
                name: SAMPLE_NAME.into(),
                public: true,
                first_party: true,
                grants: GRANTS.iter().map(|(_, k, _)| *k).collect(),
                created_at: "2026-12-07 04:16 UTC".into(),
            }],
            next_href: Some("/admin/clients?cursor=zz".into()),
            notice: Some("admin.done_deleted"),
        }),
        Sample::of(&ClientsView {
            shell: sample_shell("clients"),
            q: String::new(),
            clients: Vec::new(),
            next_href: None,
            notice: None,
        }),
        Sample::of(&edit_view(
            sample_shell("clients"),
            Some(&view),
            Some("zz".into()),
            Some("admin.done_saved"),
        )),
        Sample::of(&edit_view(sample_shell("clients"), None, None, None)),
        Sample::of(&SecretView {
            shell: sample_shell("clients"),
            client_id: "zz".into(),
            client_href: "/admin/clients/zz".into(),
            name: SAMPLE_NAME.into(),
            client_secret: Some("zz".into()),
            previous_secret_until: Some("2026-12-07 04:16 UTC".into()),
            heading: "admin.secret_rotated",
        }),
        Sample::of(&SecretView {
            shell: sample_shell("clients"),
            client_id: "zz".into(),
            client_href: "/admin/clients/zz".into(),
            name: SAMPLE_NAME.into(),
            client_secret: None,
            previous_secret_until: None,
            heading: "admin.client_created",
        }),
    ]
}
