//! The HTML pages of the browser flows: `/login`, `/consent`, `/device`.
//!
//! A page handler has the shape of an API handler: extractors, one `core`
//! call that returns an outcome enum, one `match` that maps each outcome to
//! a template or a redirect.
//!
//! ```text
//! pub async fn post(
//!     State(app): State<AppState>,                  // the Authority
//!     form: CsrfForm<ConsentForm>,                  // browser + session + checked form + locale
//! ) -> Response {
//!     let locale = &form.locale;
//!     let outcome = authorize::consent(&app, …).await;   // one core call
//!     match outcome {                               // one mapping
//!         Ok(Some(next)) => authorize_outcome(next, locale),
//!         Ok(None) => expired(locale),
//!         Err(e) => PageError(e, locale.clone()).into_response(),
//!     }
//! }
//! ```
//!
//! - Read the browser with `http::browser`'s extractors: [`Browser`] (no
//!   database), [`BrowserSession`] (plus the live session, one lookup),
//!   [`CsrfForm<T>`] for a posted form (implement [`PageForm`] for `T`:
//!   its fields and what its CSRF token is bound to), [`PageQuery`].
//! - Take the page's language as a [`Locale`] (a GET handler extracts it;
//!   a form handler uses `CsrfForm::locale`, which knows the form's pending
//!   request).
//! - Give each template a context struct that implements [`View`] (its
//!   fields are the template's variables: data, and catalogue keys for
//!   any text the handler chooses) and send it with
//!   `error::page(PageStatus::…, &locale, &view)`; redirect with
//!   `error::see_other`; answer a `core::Error` with `PageError(e,
//!   locale)`. Never name a status code here: `http::error` chooses them.
//! - Every word the page shows is a catalogue key (`locales/*.toml`, in
//!   every built-in language); add a sample of each new view to
//!   [`samples`], which every language renders at start and in the tests.
//! - A handler that binds something to a fresh browser value (a pending
//!   request, a form's CSRF token) returns `browser.cookie()` with its
//!   answer, so that the browser keeps the value.
//! - Rules (who may see what, where a login returns to, what a decision
//!   does) live in `core`; a page only maps their outcome.
//!
//! [`Browser`]: super::browser::Browser
//! [`BrowserSession`]: super::browser::BrowserSession
//! [`CsrfForm<T>`]: super::browser::CsrfForm
//! [`PageForm`]: super::browser::PageForm
//! [`PageQuery`]: super::browser::PageQuery
//! [`View`]: super::html::View
//! [`Locale`]: super::locale::Locale

pub mod account;
pub mod consent;
pub mod device;
pub mod login;
pub mod mfa;
pub mod passkeys;

use axum::response::{IntoResponse as _, Response};

use super::AppState;
use super::error::{PageError, PageStatus, page, see_other};
use super::html::{MessageView, Sample};
use super::locale::Locale;
use crate::core::authorize::{AuthorizeOutcome, ScopeItem};
use crate::core::discovery::paths;
use crate::core::login::AfterLogin;
use crate::core::secret::Secret;

/// Maps the authorization decision to a response: an error page, or a `303`
/// to the client, the login page or the consent page.
pub fn authorize_outcome(outcome: AuthorizeOutcome, locale: &Locale) -> Response {
    match outcome {
        AuthorizeOutcome::ErrorPage(e) => PageError(e, locale.clone()).into_response(),
        AuthorizeOutcome::Redirect(url) => see_other(&url),
        AuthorizeOutcome::LoginRequired { request_id } => {
            to_page(paths::LOGIN_PAGE, request_id.expose())
        }
        AuthorizeOutcome::ConsentRequired { request_id } => {
            to_page(paths::CONSENT_PAGE, request_id.expose())
        }
        AuthorizeOutcome::SecondFactorRequired { challenge } => to_second_factor(&challenge),
        AuthorizeOutcome::EnrollmentRequired { request_id } => {
            to_page(paths::ACCOUNT_TOTP, request_id.expose())
        }
    }
}

/// A `303` to the second-step page of `challenge`.
pub fn to_second_factor(challenge: &Secret) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("challenge", challenge.expose())
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_MFA_PAGE))
}

/// A browser that just signed in (a password, a second step, a passkey):
/// its new session cookie, and where it goes next.
pub fn signed_in(app: &AppState, session: &Secret, next: AfterLogin, locale: &Locale) -> Response {
    let settings = app.settings();
    let cookie = super::cookies::session(
        settings,
        session.expose(),
        settings.session_absolute_ttl_seconds,
    );
    (cookie, login_next(next, locale)).into_response()
}

/// Where a browser goes once signed in (by `/login` or `/login/mfa`).
pub fn login_next(next: AfterLogin, locale: &Locale) -> Response {
    match next {
        AfterLogin::Authorize(outcome) => authorize_outcome(outcome, locale),
        AfterLogin::Expired => expired(locale),
        AfterLogin::ReturnTo(back) => see_other(&back),
        AfterLogin::Enrol => see_other(paths::ACCOUNT_TOTP),
        AfterLogin::Done => message(
            locale,
            "message.signed_in_heading",
            "message.signed_in_body",
            None,
        ),
    }
}

/// A `303` to one of the pages, for the pending request `request_id`.
pub fn to_page(path: &str, request_id: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("request", request_id)
        .finish();
    see_other(&format!("{path}?{q}"))
}

/// A page with a heading and a sentence (signed in, signed out): catalogue
/// keys, and the client's name for a `{client}` in them.
pub fn message(
    locale: &Locale,
    heading: &'static str,
    message: &'static str,
    client_name: Option<&str>,
) -> Response {
    page(
        PageStatus::Shown,
        locale,
        &MessageView {
            heading,
            message,
            client_name,
            detail: None,
        },
    )
}

/// The page for a request id that is unknown, expired, already used, or
/// started in another browser.
pub fn expired(locale: &Locale) -> Response {
    page(
        PageStatus::Invalid,
        locale,
        &MessageView {
            heading: "message.expired_heading",
            message: "message.expired_body",
            client_name: None,
            detail: None,
        },
    )
}

/// One view of every page, with every optional part present, for the
/// render of every template in every language at start
/// (`html::Pages::check`) and for the tests. A new page adds its views
/// here; a new message adds its keys to [`MESSAGES`].
pub fn samples() -> Vec<Sample> {
    let scopes = || {
        [
            "scope.openid",
            "scope.profile",
            "scope.email",
            "scope.offline_access",
            "scope.other",
        ]
        .into_iter()
        .map(|key| ScopeItem {
            key,
            scope: "zz:scope".into(),
        })
        .collect::<Vec<_>>()
    };
    let mut out = vec![
        Sample::of(&login::LoginView {
            client_name: Some(SAMPLE_CLIENT),
            csrf_token: "t",
            request_id: "r",
            username: SAMPLE_EMAIL,
            error: Some(login::WRONG_PASSWORD),
            passkeys: true,
            passkey_error: Some(passkeys::PASSKEY_FAILED),
            return_to: "/device",
            register_href: Some("/register?request=r".into()),
        }),
        Sample::of(&login::LoginView {
            client_name: None,
            csrf_token: "t",
            request_id: "",
            username: SAMPLE_EMAIL,
            error: Some(login::UNVERIFIED),
            passkeys: false,
            passkey_error: None,
            return_to: "",
            register_href: None,
        }),
        Sample::of(&login::LoginView {
            client_name: None,
            csrf_token: "t",
            request_id: "",
            username: "",
            error: None,
            passkeys: false,
            passkey_error: None,
            return_to: "",
            register_href: None,
        }),
        Sample::of(&mfa::MfaView {
            client_name: Some(SAMPLE_CLIENT),
            csrf_token: "t",
            challenge: "c",
            error: Some(mfa::WRONG_CODE),
            otp: true,
            passkey: true,
        }),
        Sample::of(&mfa::MfaView {
            client_name: None,
            csrf_token: "t",
            challenge: "c",
            error: None,
            otp: true,
            passkey: false,
        }),
        Sample::of(&mfa::TotpView {
            csrf_token: "t",
            request_id: "r",
            error: Some(mfa::WRONG_SETUP_CODE),
            secret: Some("ZZZZ"),
            qr_svg: mfa::qr_svg("otpauth://totp/x:y?secret=ZZZZ"),
            required: true,
            enrolled: false,
            recovery_left: 0,
            recovery_codes: Vec::new(),
        }),
        Sample::of(&mfa::TotpView {
            csrf_token: "t",
            request_id: "",
            error: None,
            secret: None,
            qr_svg: None,
            required: false,
            enrolled: true,
            recovery_left: 7,
            recovery_codes: Vec::new(),
        }),
        Sample::of(&mfa::TotpView {
            csrf_token: "t",
            request_id: "r",
            error: None,
            secret: None,
            qr_svg: None,
            required: false,
            enrolled: false,
            recovery_left: 0,
            recovery_codes: vec!["zzzzz-zzzzz"],
        }),
        Sample::of(&consent::ConsentView {
            client_name: SAMPLE_CLIENT,
            user_email: SAMPLE_EMAIL,
            scopes: scopes(),
            csrf_token: "t",
            request_id: "r",
        }),
        Sample::of(&device::DeviceConfirmView {
            client_name: SAMPLE_CLIENT,
            user_email: SAMPLE_EMAIL,
            user_code: "WDJB-MJHT".into(),
            scopes: scopes(),
            csrf_token: "t",
        }),
    ];
    for error in [
        None,
        Some(device::UNKNOWN_CODE),
        Some(device::NO_LONGER_PENDING),
    ] {
        out.push(Sample::of(&device::DeviceEntryView {
            csrf_token: "t",
            user_email: SAMPLE_EMAIL,
            user_code: "WDJB",
            error,
        }));
    }
    out.extend(account_samples());
    out.extend(super::console::samples());
    for (heading, message) in MESSAGES {
        out.push(Sample::of(&MessageView {
            heading,
            message,
            client_name: Some(SAMPLE_CLIENT),
            detail: Some("zz-detail"),
        }));
    }
    out
}

/// One view of each accounts page, and each of its messages.
fn account_samples() -> Vec<Sample> {
    use crate::core::password_rules::Broken;
    let mut out = Vec::new();
    for error in [
        None,
        Some(Broken::TooShort.key()),
        Some(Broken::TooLong.key()),
        Some(Broken::Common.key()),
        Some("register.invalid_email"),
    ] {
        out.push(Sample::of(&account::RegisterView {
            client_name: Some(SAMPLE_CLIENT),
            csrf_token: "t",
            request_id: "r",
            email: SAMPLE_EMAIL,
            name: SAMPLE_CLIENT,
            error,
            min_length: 8,
            login_href: "/login?request=r",
        }));
        out.push(Sample::of(&account::ResetView {
            csrf_token: "t",
            token: "zz",
            error,
            min_length: 8,
        }));
    }
    out.push(Sample::of(&account::RegisterView {
        client_name: None,
        csrf_token: "t",
        request_id: "",
        email: "",
        name: "",
        error: None,
        min_length: 8,
        login_href: "/login",
    }));
    for (heading, message, link) in NOTICES {
        out.push(Sample::of(&account::NoticeView {
            heading,
            message,
            link_href: Some("/login"),
            link_label: Some(link),
        }));
    }
    for (heading, message) in [
        ("notice.verified_heading", "notice.verified_body"),
        ("notice.bad_link_heading", "notice.bad_link_body"),
    ] {
        out.push(Sample::of(&account::VerifyEmailView { heading, message }));
    }
    out.push(Sample::of(&account::ForgotView {
        csrf_token: "t",
        email: SAMPLE_EMAIL,
    }));
    for (notice, error) in [
        (Some("account.signed_out"), Some("account.wrong_password")),
        (Some("account.revoked"), Some(Broken::TooShort.key())),
        (Some("account.password_changed"), None),
    ] {
        out.push(Sample::of(&account::AccountView {
            email: SAMPLE_EMAIL,
            name: Some(SAMPLE_CLIENT),
            email_verified: notice == Some("account.revoked"),
            sessions: vec![account::SessionLine {
                handle: "zz".into(),
                created_at: "2026-12-07 04:16 UTC".into(),
                last_used_at: "2026-12-07 04:16 UTC".into(),
                current: true,
            }],
            apps: vec![account::AppLine {
                family_id: "zz".into(),
                client_name: SAMPLE_CLIENT.into(),
                created_at: "2026-12-07 04:16 UTC".into(),
                last_used_at: "2026-12-07 04:16 UTC".into(),
            }],
            consents: vec![account::ConsentLine {
                client_id: "zz".into(),
                client_name: SAMPLE_CLIENT.into(),
                scope: "zz:scope".into(),
            }],
            csrf_token: "t",
            notice,
            error,
            min_length: 8,
            second_factors: Some(account::factor_lines(&crate::core::mfa::SecondFactors {
                totp: notice.is_some(),
                ..Default::default()
            })),
        }));
    }
    out.push(Sample::of(&account::AccountView {
        email: SAMPLE_EMAIL,
        name: None,
        email_verified: true,
        sessions: Vec::new(),
        apps: Vec::new(),
        consents: Vec::new(),
        csrf_token: "t",
        notice: None,
        error: None,
        min_length: 8,
        second_factors: None,
    }));
    for (notice, error) in [
        (Some("passkeys.added"), Some("passkeys.failed_register")),
        (Some("passkeys.removed"), Some("passkeys.duplicate")),
    ] {
        out.push(Sample::of(&passkeys::PasskeysView {
            passkeys: vec![
                passkeys::PasskeyLine {
                    id: "zz".into(),
                    name: SAMPLE_CLIENT.into(),
                    created_at: "2026-12-07 04:16 UTC".into(),
                    last_used_at: Some("2026-12-07 04:16 UTC".into()),
                },
                passkeys::PasskeyLine {
                    id: "zy".into(),
                    name: SAMPLE_EMAIL.into(),
                    created_at: "2026-12-07 04:16 UTC".into(),
                    last_used_at: None,
                },
            ],
            csrf_token: "t",
            notice,
            error,
        }));
    }
    out.push(Sample::of(&passkeys::PasskeysView {
        passkeys: Vec::new(),
        csrf_token: "t",
        notice: None,
        error: None,
    }));
    out
}

/// Every (heading, message, link label) a `NoticeView` is shown with.
pub const NOTICES: &[(&str, &str, &str)] = &[
    (
        "notice.registered_heading",
        "notice.registered_body",
        "notice.continue",
    ),
    (
        "notice.reset_sent_heading",
        "notice.reset_sent_body",
        "notice.sign_in",
    ),
    (
        "notice.reset_done_heading",
        "notice.reset_done_body",
        "notice.sign_in",
    ),
    (
        "notice.bad_link_heading",
        "notice.bad_link_body",
        "login.forgot",
    ),
];

/// Every (heading, message) pair a `MessageView` is shown with, error
/// pages included.
pub const MESSAGES: &[(&str, &str)] = &[
    ("message.signed_in_heading", "message.signed_in_body"),
    ("message.signed_out_heading", "message.signed_out_body"),
    ("message.expired_heading", "message.expired_body"),
    (
        "message.device_allowed_heading",
        "message.device_allowed_body",
    ),
    (
        "message.device_denied_heading",
        "message.device_denied_body",
    ),
    ("error.csrf_heading", "error.csrf_body"),
    ("error.too_many_heading", "error.too_many_body"),
    ("error.unavailable_heading", "error.unavailable_body"),
    ("error.not_found_heading", "error.not_found_body"),
    ("error.invalid_heading", "error.invalid_body"),
];

/// Sample data that is no word of any language, so that the tests can tell
/// the page's own words from the data.
const SAMPLE_CLIENT: &str = "Zqx Qzv";
const SAMPLE_EMAIL: &str = "zq@example.com";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeSet;

    use super::*;
    use crate::core::i18n::{self, BUILTIN};
    use crate::http::html::{self, Pages};
    use axum::http::{StatusCode, header};

    fn en() -> Locale {
        Locale::new(Pages::builtin(), "en")
    }

    /// Every page's views render with their templates in every language
    /// (what `serve` checks at start).
    #[test]
    fn every_page_renders_in_every_language() {
        Pages::builtin().check(&samples()).unwrap();
        let r = page(
            PageStatus::Shown,
            &en(),
            &login::LoginView {
                client_name: Some("<Demo>"),
                csrf_token: "t",
                request_id: "r",
                username: "",
                error: None,
                passkeys: false,
                passkey_error: None,
                return_to: "",
                register_href: None,
            },
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_LANGUAGE], "en");
        let r = message(
            &en(),
            "message.signed_out_heading",
            "message.signed_out_body",
            None,
        );
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(expired(&en()).status(), StatusCode::BAD_REQUEST);
    }

    /// The decision forms carry what the spec names: the CSRF token, the
    /// request or user code, and `decision=allow|deny` buttons.
    #[test]
    fn decision_forms_carry_their_fields() {
        let pages = Pages::builtin();
        for (view, hidden) in [
            (
                pages.render(
                    "en",
                    &consent::ConsentView {
                        client_name: "Demo",
                        user_email: "a@example.com",
                        scopes: vec![ScopeItem {
                            key: "scope.profile",
                            scope: "profile".into(),
                        }],
                        csrf_token: "t",
                        request_id: "r",
                    },
                ),
                r#"<input type="hidden" name="request" value="r">"#,
            ),
            (
                pages.render(
                    "en",
                    &device::DeviceConfirmView {
                        client_name: "TV",
                        user_email: "a@example.com",
                        user_code: "WDJB-MJHT".into(),
                        scopes: vec![ScopeItem {
                            key: "scope.profile",
                            scope: "profile".into(),
                        }],
                        csrf_token: "t",
                    },
                ),
                r#"<input type="hidden" name="user_code" value="WDJB-MJHT">"#,
            ),
        ] {
            let text = view.unwrap();
            assert!(text.contains(hidden), "{text}");
            assert!(text.contains(r#"<input type="hidden" name="csrf_token" value="t">"#));
            assert!(text.contains(r#"name="decision" value="allow""#));
            assert!(text.contains(r#"name="decision" value="deny""#));
            assert!(text.contains("See your name"));
        }
    }

    /// The words a page shows: text between tags and the attributes people
    /// read, entities decoded, split at anything but letters, lowercased.
    fn visible_words(html: &str) -> BTreeSet<String> {
        words(&visible_text(html))
    }

    /// The text between tags and of the attributes people read, entities
    /// decoded.
    fn visible_text(html: &str) -> String {
        let mut text = String::new();
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            text.push_str(&rest[..open]);
            text.push(' ');
            let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
            let tag = &rest[open..close];
            for attr in ["placeholder", "alt", "title", "aria-label"] {
                let key = format!(" {attr}=\"");
                if let Some(start) = tag.find(&key) {
                    let value = &tag[start + key.len()..];
                    text.push_str(&value[..value.find('"').unwrap_or(value.len())]);
                    text.push(' ');
                }
            }
            rest = &rest[close..];
        }
        text.push_str(rest);
        text.replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
    }

    fn words(text: &str) -> BTreeSet<String> {
        text.split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    /// The words of every text of a language's catalogue.
    fn catalogue_words(lang: &str) -> BTreeSet<String> {
        let pages = Pages::builtin();
        let c = pages.catalogue();
        c.keys(lang)
            .flat_map(|k| words(c.text(lang, k).unwrap()))
            .collect()
    }

    /// A page in German, French or Spanish shows no English word that its
    /// own catalogue lacks (an untranslated string, or a template's literal
    /// text), and no page shows a raw catalogue key. Sample data is made of
    /// no language's words, so every word on the page is the page's own.
    #[test]
    fn no_page_speaks_english_in_another_language() {
        let pages = Pages::builtin();
        let english = catalogue_words(i18n::DEFAULT_LANG);
        let data: BTreeSet<String> = [
            "zqx", "qzv", "zq", "example", "com", "zz", "scope", "detail", "wdjb", "mjht",
            "latchkey",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        let keys: Vec<&str> = pages.catalogue().keys("en").collect();
        for (lang, _) in BUILTIN {
            let own = catalogue_words(lang);
            for sample in samples() {
                let html = pages
                    .render_sample(lang, &sample)
                    .unwrap_or_else(|e| panic!("{} in {lang}: {e:#}", sample.template));
                assert!(html.contains(&format!("<html lang=\"{lang}\">")), "{html}");
                for key in &keys {
                    assert!(
                        !html.contains(key),
                        "{lang} {}: raw key {key}",
                        sample.template
                    );
                }
                if *lang == i18n::DEFAULT_LANG {
                    continue;
                }
                let stray: Vec<_> = visible_words(&html)
                    .into_iter()
                    .filter(|w| english.contains(w) && !own.contains(w) && !data.contains(w))
                    .collect();
                assert!(
                    stray.is_empty(),
                    "{lang} {}: English words {stray:?} in\n{html}",
                    sample.template
                );
            }
        }
    }

    /// The check above can fail: an English sentence on a German page is
    /// found.
    #[test]
    fn the_english_check_finds_english() {
        let english = catalogue_words("en");
        let own = catalogue_words("de");
        let page = "<p>Anmelden</p><p>Enter the code</p><input placeholder=\"Password\">";
        let stray: Vec<_> = visible_words(page)
            .into_iter()
            .filter(|w| english.contains(w) && !own.contains(w))
            .collect();
        assert_eq!(stray, ["enter", "password", "the"]);
    }

    /// Templates hold no words of their own: every text a person reads is
    /// a `{{ t(...) }}` (or data), outside tags and in the attributes people
    /// read (`placeholder`, `alt`, `title`, `aria-label`). A path (a form's
    /// `action` filled by a block) is no word.
    #[test]
    fn templates_contain_no_literal_text() {
        for (name, text) in html::TEMPLATES {
            let text = visible_text(&strip_template_syntax(text));
            let not_paths: Vec<&str> = text
                .split_whitespace()
                .filter(|token| !token.starts_with('/'))
                .collect();
            let words = words(&not_paths.join(" "));
            assert!(words.is_empty(), "{name} has literal text: {words:?}");
        }
        // The check can fail.
        let found = visible_words(&strip_template_syntax(
            "<p>{{ t(\"x\") }} Sign in</p><input placeholder=\"Email\">{# ok #}",
        ));
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            ["email", "in", "sign"]
        );
    }

    /// The template text with `{{ }}`, `{% %}` and `{# #}` removed.
    fn strip_template_syntax(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        loop {
            let next = ["{{", "{%", "{#"]
                .iter()
                .filter_map(|o| rest.find(o).map(|i| (i, *o)))
                .min();
            let Some((i, open)) = next else {
                out.push_str(rest);
                return out;
            };
            out.push_str(&rest[..i]);
            let close = match open {
                "{{" => "}}",
                "{%" => "%}",
                _ => "#}",
            };
            let after = &rest[i + 2..];
            rest = after.find(close).map_or("", |c| &after[c + 2..]);
        }
    }
}
