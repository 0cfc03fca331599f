//! HTML rendering for the browser flows: minijinja templates (built in, or
//! a theme's), one context struct per template ([`View`]), the strings of
//! the locale catalogue (`t("login.title")` in a template), and the
//! security headers every page carries. It chooses no status code:
//! `http::error` does (`error::page`), so this module depends on nothing
//! else in `http` but [`Locale`]'s type.
//!
//! Every page is sent with `X-Frame-Options: DENY` and a CSP with
//! `frame-ancestors 'none'` (no clickjacking of the login or consent
//! buttons), `Cache-Control: no-store` (a shared computer's back button
//! shows no form with a CSRF token), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer` (URLs carry request ids). The stylesheet
//! is `/assets/latchkey.css` (`style-src 'self'`), images come from this
//! origin and the brand logo's origin only, and the one script is
//! `/assets/passkeys.js` (`script-src 'self'`, no inline script; it
//! fetches the WebAuthn options from this origin, `connect-src 'self'`).
//! The CSP has no `form-action`: browsers apply it to the redirect that
//! follows a form post too, and the consent form's answer is a redirect to
//! the client's `redirect_uri`, which is checked against the registration
//! instead.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::http::{HeaderMap, HeaderValue, header};
use minijinja::value::Kwargs;
use minijinja::{Environment, ErrorKind, HtmlEscape, State, UndefinedBehavior, Value};
use serde::Serialize;

use crate::core::i18n::{self, Catalogue};

/// The built-in stylesheet (a theme's `latchkey.css` replaces it).
pub const STYLE: &str = include_str!("pages/templates/latchkey.css");

/// The path of the stylesheet every page links.
pub const STYLESHEET_PATH: &str = "/assets/latchkey.css";

/// The file name of the stylesheet in a theme.
pub const STYLESHEET_FILE: &str = "latchkey.css";

/// Each built-in template: its name and text. A page's template is named
/// after its path (`login.html` for `/login`); the others are the pieces
/// pages extend (`base.html`, `decision.html`).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("pages/templates/base.html")),
    (
        "decision.html",
        include_str!("pages/templates/decision.html"),
    ),
    ("login.html", include_str!("pages/templates/login.html")),
    ("consent.html", include_str!("pages/templates/consent.html")),
    ("message.html", include_str!("pages/templates/message.html")),
    ("device.html", include_str!("pages/templates/device.html")),
    (
        "device_confirm.html",
        include_str!("pages/templates/device_confirm.html"),
    ),
    (
        "register.html",
        include_str!("pages/templates/register.html"),
    ),
    (
        "verify_email.html",
        include_str!("pages/templates/verify_email.html"),
    ),
    (
        "forgot_password.html",
        include_str!("pages/templates/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("pages/templates/reset_password.html"),
    ),
    ("account.html", include_str!("pages/templates/account.html")),
    ("notice.html", include_str!("pages/templates/notice.html")),
    (
        "passkeys.html",
        include_str!("pages/templates/passkeys.html"),
    ),
    (
        "admin_base.html",
        include_str!("pages/templates/admin_base.html"),
    ),
    ("admin.html", include_str!("pages/templates/admin.html")),
    (
        "admin_events.html",
        include_str!("pages/templates/admin_events.html"),
    ),
    (
        "admin_forbidden.html",
        include_str!("pages/templates/admin_forbidden.html"),
    ),
    (
        "admin_clients.html",
        include_str!("pages/templates/admin_clients.html"),
    ),
    (
        "admin_client.html",
        include_str!("pages/templates/admin_client.html"),
    ),
    (
        "admin_secret.html",
        include_str!("pages/templates/admin_secret.html"),
    ),
    (
        "admin_users.html",
        include_str!("pages/templates/admin_users.html"),
    ),
    (
        "admin_user.html",
        include_str!("pages/templates/admin_user.html"),
    ),
    (
        "admin_keys.html",
        include_str!("pages/templates/admin_keys.html"),
    ),
    (
        "admin_audit.html",
        include_str!("pages/templates/admin_audit.html"),
    ),
];

/// The product's own name, for "Secured by latchkey" whatever the brand.
const PRODUCT: &str = "latchkey";

/// What a template shows: a struct whose fields are the template's
/// variables, so that a page cannot pass a variable its template does not
/// expect, nor forget one, without the compiler seeing the struct change.
/// Strings the page shows are catalogue keys or the user's own data, never
/// English sentences.
pub trait View: Serialize {
    /// The template file this view fills.
    const TEMPLATE: &'static str;
}

/// A page with a heading and a sentence: signed in, signed out, device
/// connected, and every error page. `heading` and `message` are catalogue
/// keys; `client_name` fills the `{client}` of either.
#[derive(Debug, Serialize)]
pub struct MessageView<'a> {
    pub heading: &'static str,
    pub message: &'static str,
    pub client_name: Option<&'a str>,
    /// A line under the message, shown as an alert: an error's description
    /// for the application's developer (RFC 6749 `error_description`,
    /// which is English ASCII; the page marks it `lang="en"`).
    pub detail: Option<&'a str>,
}

impl View for MessageView<'_> {
    const TEMPLATE: &'static str = "message.html";
}

/// A view ready to render, for the check that renders every page at start
/// ([`Pages::check`]).
pub struct Sample {
    pub template: &'static str,
    pub context: Value,
}

impl Sample {
    pub fn of<V: View>(view: &V) -> Sample {
        Sample {
            template: V::TEMPLATE,
            context: Value::from(minijinja::value::Serde(view)),
        }
    }
}

/// What a browser gets when a page cannot be made (a template that fails
/// to render, which the render of every page at start is there to catch
/// first). No words: there is no language to say them in.
pub const FALLBACK: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>!</title></head><body></body></html>";

/// The served stylesheet: the brand's variables and the (built-in or
/// theme) CSS, with its validator.
#[derive(Debug, Clone)]
pub struct Stylesheet {
    pub body: bytes::Bytes,
    /// A strong `ETag` (RFC 9110 §8.8.3): a hash of the body.
    pub etag: HeaderValue,
    /// The hash's first characters, in the URL pages link
    /// (`?v=…`), so that a changed stylesheet is a new URL and the old one
    /// may be cached for good.
    pub version: String,
}

impl Stylesheet {
    fn new(css: String) -> Stylesheet {
        let digest = crate::core::secret::sha256(css.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let version = hex[..16].to_owned();
        Stylesheet {
            etag: HeaderValue::from_str(&format!("\"{hex}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
            body: bytes::Bytes::from(css),
            version,
        }
    }
}

/// Where a template came from, for errors that name the file.
#[derive(Debug, Clone)]
pub enum Origin {
    BuiltIn,
    /// A theme's file, by its path.
    Theme(String),
}

/// A theme, read from its directory: templates and stylesheet that replace
/// the built-in ones by name, and catalogues laid over the built-in ones.
#[derive(Debug, Default, Clone)]
pub struct ThemeFiles {
    /// `(name, text, path)` of each template file.
    pub templates: Vec<(String, String, String)>,
    /// The theme's `latchkey.css`.
    pub stylesheet: Option<String>,
    /// `(tag, text, path)` of each `locales/<tag>.toml`.
    pub locales: Vec<(String, String, String)>,
}

/// The brand the pages carry (`brand_*` settings).
#[derive(Debug, Clone)]
pub struct Brand {
    pub name: String,
    pub logo_url: Option<String>,
    /// The logo's origin, when it is not this server's (for `img-src`).
    pub logo_origin: Option<String>,
    pub color: Option<[u8; 3]>,
}

impl Default for Brand {
    fn default() -> Self {
        Brand {
            name: PRODUCT.to_owned(),
            logo_url: None,
            logo_origin: None,
            color: None,
        }
    }
}

/// A template, catalogue or stylesheet that cannot be used, naming its
/// file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ThemeError(pub String);

/// Everything the pages are made of, loaded once per process: the
/// templates, the catalogue, the stylesheet and the CSP that goes with the
/// brand.
pub struct Pages {
    env: Environment<'static>,
    catalogue: Arc<Catalogue>,
    origins: HashMap<String, Origin>,
    stylesheet: Stylesheet,
    csp: HeaderValue,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("templates", &self.origins.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The strictest CSP, for answers without a body (redirects).
const BASE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

static BUILTIN: LazyLock<Arc<Pages>> = LazyLock::new(|| {
    // The built-in files are checked by unit tests: failing here would be a
    // broken build, and pages that answer FALLBACK beat a panic.
    Arc::new(
        Pages::new(&ThemeFiles::default(), &Brand::default()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the built-in pages do not load");
            Pages::empty()
        }),
    )
});

impl Pages {
    /// The built-in pages with the default brand (for code that runs
    /// without a router: unit tests, and a request that somehow lacks the
    /// router's pages).
    pub fn builtin() -> Arc<Pages> {
        BUILTIN.clone()
    }

    /// The built-in templates, stylesheet and catalogue, with `theme`'s
    /// files laid over them and `brand` applied. Every template must
    /// compile; [`Pages::check`] then renders them.
    pub fn new(theme: &ThemeFiles, brand: &Brand) -> Result<Pages, ThemeError> {
        let mut catalogue = Catalogue::builtin().map_err(|e| ThemeError(e.to_string()))?;
        for (tag, text, path) in &theme.locales {
            catalogue
                .overlay(tag, text, path)
                .map_err(|e| ThemeError(e.to_string()))?;
        }
        let catalogue = Arc::new(catalogue);
        let css = theme.stylesheet.as_deref().unwrap_or(STYLE);
        let stylesheet = Stylesheet::new(format!("{}{css}", brand_variables(brand.color)));

        let mut env = Environment::new();
        // A theme's misspelt variable fails the check at start instead of
        // printing nothing.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        let mut origins = HashMap::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .map_err(|e| ThemeError(format!("built-in template {name}: {e}")))?;
            origins.insert((*name).to_owned(), Origin::BuiltIn);
        }
        for (name, text, path) in &theme.templates {
            env.add_template_owned(name.clone(), text.clone())
                .map_err(|e| ThemeError(format!("{path}: {}", describe(&e))))?;
            origins.insert(name.clone(), Origin::Theme(path.clone()));
        }
        env.add_global("brand_name", brand.name.clone());
        // URLs go into attributes as they are (HTML escaping would spell
        // every `/` as `&#x2f;`): ours is made of hex, and the logo's was
        // checked to hold no quote, `<`, `>` or space; its `&` is escaped.
        env.add_global(
            "brand_logo_url",
            brand
                .logo_url
                .as_ref()
                .map(|u| Value::from_safe_string(u.replace('&', "&amp;"))),
        );
        env.add_global("product", PRODUCT);
        env.add_global(
            "stylesheet_url",
            Value::from_safe_string(format!("{STYLESHEET_PATH}?v={}", stylesheet.version)),
        );
        let texts = catalogue.clone();
        env.add_function(
            "t",
            move |state: &State, key: &str, args: Kwargs| -> Result<Value, minijinja::Error> {
                translate(&texts, state, key, &args)
            },
        );

        let img = match &brand.logo_origin {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_owned(),
        };
        let csp = HeaderValue::from_str(&format!(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src {img}; base-uri 'none'; frame-ancestors 'none'"
        ))
        .map_err(|_| ThemeError("brand_logo_url: not usable in a header".into()))?;
        Ok(Pages {
            env,
            catalogue,
            origins,
            stylesheet,
            csp,
        })
    }

    /// Pages that only ever answer [`FALLBACK`].
    fn empty() -> Pages {
        Pages {
            env: Environment::new(),
            catalogue: Arc::new(Catalogue::empty()),
            origins: HashMap::new(),
            stylesheet: Stylesheet::new(String::new()),
            csp: HeaderValue::from_static(BASE_CSP),
        }
    }

    /// Renders every sample in every language, so that a template that
    /// fails (a syntax error, an unknown variable or catalogue key, a
    /// missing placeholder value) stops the start, naming its file, instead
    /// of failing a user's request.
    pub fn check(&self, samples: &[Sample]) -> Result<(), ThemeError> {
        for lang in self.catalogue.languages() {
            for sample in samples {
                self.render_sample(lang, sample).map_err(|e| {
                    let name = e.name().unwrap_or(sample.template);
                    let file = match self.origins.get(name) {
                        Some(Origin::Theme(path)) => path.clone(),
                        _ => format!("built-in template {name}"),
                    };
                    ThemeError(format!(
                        "{file}: does not render (language {lang}, page {}): {}",
                        sample.template,
                        describe(&e)
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Fills `V::TEMPLATE` with `view`, in the language `lang`.
    pub fn render<V: View>(&self, lang: &str, view: &V) -> Result<String, minijinja::Error> {
        self.render_value(
            lang,
            V::TEMPLATE,
            Value::from(minijinja::value::Serde(view)),
        )
    }

    /// Renders a [`Sample`] in `lang`.
    pub fn render_sample(&self, lang: &str, sample: &Sample) -> Result<String, minijinja::Error> {
        self.render_value(lang, sample.template, sample.context.clone())
    }

    fn render_value(
        &self,
        lang: &str,
        template: &str,
        fields: Value,
    ) -> Result<String, minijinja::Error> {
        let ctx = minijinja::context! { lang => lang, ..fields };
        self.env.get_template(template)?.render(ctx)
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn stylesheet(&self) -> &Stylesheet {
        &self.stylesheet
    }

    /// The `Content-Security-Policy` of a rendered page.
    pub fn csp(&self) -> &HeaderValue {
        &self.csp
    }
}

/// `t(key, name=value, …)` in a template: the catalogue's text for `key`
/// in the page's language (`lang`), HTML-escaped, with its `{name}`
/// placeholders filled by the arguments (escaped too, unless the template
/// marked them safe: a `{% set %}` block that wraps a name in `<strong>`).
fn translate(
    catalogue: &Catalogue,
    state: &State,
    key: &str,
    args: &Kwargs,
) -> Result<Value, minijinja::Error> {
    let lang = state.lookup("lang");
    let lang = lang
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or(i18n::DEFAULT_LANG);
    let text = catalogue.text(lang, key).ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("no text for the key {key:?} in the catalogue"),
        )
    })?;
    let mut values = Vec::new();
    for name in args.args() {
        let v: Value = args.peek(name)?;
        // An absent value (`client=client_name` on a page without a
        // client) fills nothing: a text that needs it fails below.
        if v.is_none() || v.is_undefined() {
            continue;
        }
        let s = if v.is_safe() {
            v.to_string()
        } else {
            HtmlEscape(&v.to_string()).to_string()
        };
        values.push((name, s));
    }
    let filled = i18n::fill(text, &values, |s| HtmlEscape(s).to_string())
        .map_err(|m| minijinja::Error::new(ErrorKind::InvalidOperation, format!("{key}: {m}")))?;
    Ok(Value::from_safe_string(filled))
}

/// The error with its line, as minijinja words it.
fn describe(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("line {line}: {}", e.detail().unwrap_or(&e.to_string())),
        None => e.to_string(),
    }
}

/// The brand colour as CSS variables at the top of the served stylesheet:
/// no inline style (which the CSP forbids) is ever needed. The text on the
/// colour is white or near-black, whichever contrasts more (WCAG 2.1
/// relative luminance).
fn brand_variables(color: Option<[u8; 3]>) -> String {
    let Some([r, g, b]) = color else {
        return String::new();
    };
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
    // Contrast with white (1.05 / (L + 0.05)) against near-black #111.
    let on_white = 1.05 / (luminance + 0.05);
    let on_dark = (luminance + 0.05) / (0.0056 + 0.05);
    let on = if on_white >= on_dark {
        "#ffffff"
    } else {
        "#111827"
    };
    format!(":root{{--lk-brand:#{r:02x}{g:02x}{b:02x};--lk-on-brand:{on}}}\n")
}

/// A moment as the pages show it: `2026-12-07 04:16 UTC`.
pub fn when(t: crate::core::clock::UnixTime) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{}-{:02}-{:02} {:02}:{:02} UTC",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute()
        ),
        Err(_) => String::new(),
    }
}

/// The headers every HTML page carries, and the redirects between pages
/// too. `csp` is the pages' ([`Pages::csp`]); a redirect has no content
/// and gets the strictest one.
pub fn security_headers(h: &mut HeaderMap, csp: Option<&HeaderValue>) {
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        csp.cloned()
            .unwrap_or_else(|| HeaderValue::from_static(BASE_CSP)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let pages = Pages::builtin();
        for (name, _) in TEMPLATES {
            pages.env.get_template(name).unwrap();
        }
        let html = pages
            .render(
                "en",
                &MessageView {
                    heading: "message.device_allowed_heading",
                    message: "message.device_allowed_body",
                    client_name: Some("<TV>"),
                    detail: None,
                },
            )
            .unwrap();
        assert!(
            html.contains("&lt;TV&gt; now has access"),
            "autoescaped: {html}"
        );
        assert!(html.contains(r#"<html lang="en">"#), "{html}");
    }

    #[test]
    fn brand_colour_text_contrasts() {
        assert!(brand_variables(Some([0x3b, 0x5b, 0xdb])).contains("--lk-on-brand:#ffffff"));
        assert!(brand_variables(Some([0xff, 0xd4, 0x00])).contains("--lk-on-brand:#111827"));
        assert!(brand_variables(Some([0xff, 0xff, 0xff])).contains("--lk-on-brand:#111827"));
        assert!(brand_variables(Some([0, 0, 0])).contains("--lk-on-brand:#ffffff"));
        assert_eq!(brand_variables(None), "");
    }

    #[test]
    fn a_logo_elsewhere_is_allowed_by_origin_only() {
        let brand = Brand {
            logo_url: Some("https://cdn.example.com/acme/logo.svg".into()),
            logo_origin: Some("https://cdn.example.com".into()),
            ..Brand::default()
        };
        let pages = Pages::new(&ThemeFiles::default(), &brand).unwrap();
        assert_eq!(
            pages.csp().to_str().unwrap(),
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self' https://cdn.example.com; base-uri 'none'; frame-ancestors 'none'"
        );
    }
}
