//! The console's signing keys (list, rotate) and audit log (filters by
//! type, user, client, since and until; newest first; paged).

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::{
    Console, ConsoleForm, EventLine, Shell, done, event_lines, next_href, notice, page_request,
    paths, sample_event, sample_shell,
};
use crate::core::admin::{self, AuditFilters};
use crate::core::audit::Kind;
use crate::core::error::Error;
use crate::core::params::Params;
use crate::http::AppState;
use crate::http::browser::{CsrfForm, PageQuery};
use crate::http::error::{PageStatus, page};
use crate::http::html::when;
use crate::http::html::{Sample, View};

/// One signing key.
#[derive(Debug, Serialize)]
pub struct KeyLine {
    pub kid: String,
    pub alg: String,
    /// `next`, `current` or `retired`: a catalogue key `admin.key_<state>`.
    pub state: String,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub retired_at: Option<String>,
    pub remove_after: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct KeysView {
    pub shell: Shell,
    pub keys: Vec<KeyLine>,
    pub notice: Option<&'static str>,
}

impl View for KeysView {
    const TEMPLATE: &'static str = "admin_keys.html";
}

/// `GET /admin/keys`.
pub async fn keys(
    State(app): State<AppState>,
    console: Console,
    PageQuery(params): PageQuery,
) -> Response {
    let keys = match console.admin(&app).list_keys().await {
        Ok(k) => k.items,
        Err(e) => return console.error(e),
    };
    let keys = keys
        .into_iter()
        .map(|k| KeyLine {
            kid: k.kid,
            alg: k.alg,
            state: match k.state.as_str() {
                "next" => "next",
                "current" => "current",
                _ => "retired",
            }
            .to_owned(),
            created_at: when(k.created_at),
            activated_at: k.activated_at.map(when),
            retired_at: k.retired_at.map(when),
            remove_after: k.remove_after.map(when),
        })
        .collect();
    page(
        PageStatus::Shown,
        &console.locale,
        &KeysView {
            shell: console.shell("keys"),
            keys,
            notice: notice(&params),
        },
    )
}

/// `POST /admin/keys/rotate`: this process signs with the new key at once.
pub async fn keys_rotate(
    State(app): State<AppState>,
    console: Console,
    _form: CsrfForm<ConsoleForm>,
) -> Response {
    let admin = console.admin(&app);
    match admin::rotate_keys_here(&app, &admin).await {
        Ok(_) => done(paths::KEYS, "rotated"),
        Err(e) => console.error(e),
    }
}

/// The audit page's filters, as typed (shown again in the form).
#[derive(Debug, Default, Serialize)]
pub struct AuditForm {
    pub kind: String,
    pub user: String,
    pub client: String,
    /// `YYYY-MM-DDTHH:MM`, UTC (an `<input type="datetime-local">`).
    pub since: String,
    pub until: String,
}

#[derive(Debug, Serialize)]
pub struct AuditView {
    pub shell: Shell,
    pub filters: AuditForm,
    /// Every event kind, for the type filter.
    pub kinds: Vec<&'static str>,
    pub events: Vec<EventLine>,
    pub next_href: Option<String>,
    /// What the server refused in the filters (English, from `core`).
    pub error: Option<String>,
}

impl View for AuditView {
    const TEMPLATE: &'static str = "admin_audit.html";
}

/// A time of the filter form: RFC 3339 as the API takes it, or the
/// `YYYY-MM-DDTHH:MM[:SS]` of a `datetime-local` input, read as UTC.
fn rfc3339(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let has_zone =
        v.ends_with('Z') || v.ends_with('z') || v.rfind(['+', '-']).is_some_and(|i| i > 10);
    Some(match (has_zone, v.len()) {
        (true, _) => v.to_owned(),
        (false, 16) => format!("{v}:00Z"),
        (false, _) => format!("{v}Z"),
    })
}

fn audit_form(params: &Params) -> AuditForm {
    let f = |n| params.get(n).unwrap_or("").trim().to_owned();
    AuditForm {
        kind: f("type"),
        user: f("user"),
        client: f("client"),
        since: f("since"),
        until: f("until"),
    }
}

/// `GET /admin/audit`.
pub async fn audit(
    State(app): State<AppState>,
    console: Console,
    PageQuery(params): PageQuery,
) -> Response {
    let form = audit_form(&params);
    let filters = AuditFilters {
        kind: Some(form.kind.clone()),
        since: rfc3339(&form.since),
        until: rfc3339(&form.until),
        user: Some(form.user.clone()),
        client: Some(form.client.clone()),
        newest_first: true,
    };
    let admin = console.admin(&app);
    let (events, next, error) = match admin.list_audit(filters, &page_request(&params)).await {
        Ok(p) => {
            let next = next_href(
                paths::AUDIT,
                &[
                    ("type", &form.kind),
                    ("user", &form.user),
                    ("client", &form.client),
                    ("since", &form.since),
                    ("until", &form.until),
                ],
                p.next_cursor.as_deref(),
            );
            (event_lines(&admin, p.items).await, next, None)
        }
        Err(e @ Error::InvalidRequest(_)) => {
            (Vec::new(), None, e.description().map(|d| d.into_owned()))
        }
        Err(e) => return console.error(e),
    };
    let status = if error.is_some() {
        PageStatus::Invalid
    } else {
        PageStatus::Shown
    };
    page(
        status,
        &console.locale,
        &AuditView {
            shell: console.shell("audit"),
            filters: form,
            kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
            events,
            next_href: next,
            error,
        },
    )
}

pub fn samples() -> Vec<Sample> {
    let key = |state: &str| KeyLine {
        kid: "zz".into(),
        alg: "zz".into(),
        state: state.into(),
        created_at: "2026-12-07 04:16 UTC".into(),
        activated_at: Some("2026-12-07 04:16 UTC".into()),
        retired_at: Some("2026-12-07 04:16 UTC".into()),
        remove_after: Some("2026-12-07 04:16 UTC".into()),
    };
    vec![
        Sample::of(&KeysView {
            shell: sample_shell("keys"),
            keys: vec![key("next"), key("current"), key("retired")],
            notice: Some("admin.done_rotated"),
        }),
        Sample::of(&AuditView {
            shell: sample_shell("audit"),
            filters: AuditForm {
                kind: "zz_kind".into(),
                user: "zz".into(),
                client: "zz".into(),
                since: "2026-12-07T04:16".into(),
                until: "2026-12-07T04:16".into(),
            },
            kinds: vec!["zz_kind"],
            events: vec![sample_event()],
            next_href: Some("/admin/audit?cursor=zz".into()),
            error: Some("zz".into()),
        }),
        Sample::of(&AuditView {
            shell: sample_shell("audit"),
            filters: AuditForm::default(),
            kinds: Vec::new(),
            events: Vec::new(),
            next_href: None,
            error: None,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn form_times_are_utc() {
        assert_eq!(
            rfc3339("2026-12-07T04:16").as_deref(),
            Some("2026-12-07T04:16:00Z")
        );
        assert_eq!(
            rfc3339("2026-12-07T04:16:05").as_deref(),
            Some("2026-12-07T04:16:05Z")
        );
        assert_eq!(
            rfc3339("2026-12-07T04:16:05Z").as_deref(),
            Some("2026-12-07T04:16:05Z")
        );
        assert_eq!(
            rfc3339("2026-12-07T04:16:05+01:00").as_deref(),
            Some("2026-12-07T04:16:05+01:00")
        );
        assert_eq!(rfc3339(" "), None);
    }
}
