//! Branding and themes (docs/theming.md): `brand_*` settings, a
//! `theme_dir` whose templates, stylesheet and catalogues replace the
//! built-in ones by name, `/assets/latchkey.css` with its cache headers,
//! the CSP that goes with a logo elsewhere, and a broken theme refused at
//! start by the real binary, naming the file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestServer;
use crate::common::browser::{Browser, Page, code_client, code_params, pkce};

/// A theme that overrides the login template (extending the built-in
/// base), the stylesheet, a German string, and adds Portuguese.
fn write_theme(dir: &Path) {
    std::fs::create_dir_all(dir.join("locales")).unwrap();
    std::fs::write(
        dir.join("login.html"),
        r#"{% extends "base.html" %}
{% block title %}{{ t("login.title") }}{% endblock %}
{% block content %}
<h1 class="acme-login">{{ t("login.title") }}</h1>
<p>{{ t("acme.welcome", brand=brand_name) }}</p>
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<input type="hidden" name="request" value="{{ request_id }}">
{% if return_to %}<input type="hidden" name="return_to" value="{{ return_to }}">{% endif %}
{% if error %}<p class="alert">{{ t(error) }}</p>{% endif %}
<label for="username">{{ t("login.email") }}</label>
<input id="username" name="username" type="email" value="{{ username }}">
<input id="password" name="password" type="password">
<button type="submit">{{ t("login.submit") }}{% if client_name %} · {{ client_name }}{% endif %}</button>
</form>
{% endblock %}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("latchkey.css"),
        "body{background:#fafafa}.acme-login{color:var(--lk-brand)}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("locales/en.toml"),
        "[acme]\nwelcome = \"Welcome to {brand}.\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("locales/de.toml"),
        "[login]\ntitle = \"Bei Acme anmelden\"\n[acme]\nwelcome = \"Willkommen bei {brand}.\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("locales/pt-BR.toml"),
        "[login]\ntitle = \"Entrar\"\nsubmit = \"Entrar\"\n",
    )
    .unwrap();
}

fn lang(page: &Page) -> &str {
    let start = page.body.find("<html lang=\"").unwrap() + "<html lang=\"".len();
    &page.body[start..start + page.body[start..].find('"').unwrap()]
}

/// The stylesheet URL a page links.
fn stylesheet_url(page: &Page) -> String {
    let start = page.body.find("<link rel=\"stylesheet\" href=\"").unwrap() + 29;
    page.body[start..start + page.body[start..].find('"').unwrap()].to_owned()
}

both_backends! {
    /// The theme's template, stylesheet and strings are what the pages
    /// serve; a language only the theme has is offered, with English for
    /// what it lacks; the brand's name, colour and logo are on the page,
    /// in the stylesheet and in the CSP.
    async fn a_theme_overrides_templates_stylesheet_and_strings(db) {
        let theme = tempfile::tempdir().unwrap();
        write_theme(theme.path());
        let dir = theme.path().display().to_string();
        let srv = TestServer::start_with(&db, |s| {
            s.theme_dir = Some(dir);
            s.brand_name = "Acme ID".into();
            s.brand_color = Some("#0F766E".parse().unwrap());
            s.brand_logo_url = Some("https://cdn.acme.example/logo.svg".into());
        })
        .await;
        let client = srv.client(code_client(true)).await;
        let (_, challenge) = pkce();

        // German: the theme's template and its override of a built-in string.
        let b = Browser::speaking(&srv, "de");
        let first = b.authorize(&code_params(&client.id, &challenge, "openid")).await;
        let login = b.get(first.location.as_deref().unwrap()).await;
        assert_eq!(login.status, 200, "{}", login.body);
        assert_eq!(lang(&login), "de");
        assert!(login.body.contains(r#"<h1 class="acme-login">Bei Acme anmelden</h1>"#), "{}", login.body);
        assert!(login.body.contains("Willkommen bei Acme ID."), "{}", login.body);
        // Built-in strings the theme did not override stay German.
        assert!(login.body.contains("E-Mail-Adresse"), "{}", login.body);
        // The brand: its name and its logo instead of the built-in mark.
        assert!(login.body.contains("<title>Bei Acme anmelden · Acme ID</title>"), "{}", login.body);
        assert!(login.body.contains(r#"<img class="logo" src="https://cdn.acme.example/logo.svg" alt="Acme ID">"#), "{}", login.body);
        let csp = login.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("style-src 'self';"), "{csp}");
        assert!(csp.contains("img-src 'self' https://cdn.acme.example;"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

        // Portuguese, which only the theme has: its strings, English for the rest.
        let pt = Browser::speaking(&srv, "pt-BR,pt;q=0.9");
        let first = pt.authorize(&code_params(&client.id, &challenge, "openid")).await;
        let login_pt = pt.get(first.location.as_deref().unwrap()).await;
        assert_eq!(lang(&login_pt), "pt-BR");
        assert!(login_pt.body.contains("<h1 class=\"acme-login\">Entrar</h1>"), "{}", login_pt.body);
        assert!(login_pt.body.contains("Welcome to Acme ID."), "{}", login_pt.body);

        // The page that the theme does not override keeps the built-in
        // template, with the brand.
        let gone = b.get("/login?request=unknown").await;
        assert_eq!(gone.status, 400);
        assert!(gone.body.contains("Dieser Anmeldelink ist abgelaufen"), "{}", gone.body);

        // The stylesheet: the theme's CSS under the brand's variables.
        let url = stylesheet_url(&login);
        assert!(url.starts_with("/assets/latchkey.css?v="), "{url}");
        let css = srv.http.get(srv.url(&url)).send().await.unwrap();
        assert_eq!(css.status(), 200);
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
        let etag = css.headers()["etag"].clone();
        let body = css.text().await.unwrap();
        assert!(body.starts_with(":root{--lk-brand:#0f766e;--lk-on-brand:#ffffff}"), "{body}");
        assert!(body.contains(".acme-login{color:var(--lk-brand)}"), "{body}");
        assert!(!body.contains(".who{"), "the built-in stylesheet is replaced: {body}");
        let again = srv.http.get(srv.url(&url)).header("if-none-match", etag.clone()).send().await.unwrap();
        assert_eq!(again.status(), 304);
        assert!(again.text().await.unwrap().is_empty());
        // Without the version (or with an old one): revalidated every time.
        let bare = srv.http.get(srv.url("/assets/latchkey.css?v=old")).send().await.unwrap();
        assert_eq!(bare.status(), 200);
        assert_eq!(bare.headers()["cache-control"], "no-cache");
        assert_eq!(bare.headers()["etag"], etag);
    }
}

both_backends! {
    /// Without a theme: the built-in stylesheet, the default brand, no
    /// image origin but this one.
    async fn the_builtin_look(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        let (_, challenge) = pkce();
        let b = Browser::new(&srv);
        let first = b.authorize(&code_params(&client.id, &challenge, "openid")).await;
        let login = b.get(first.location.as_deref().unwrap()).await;
        assert!(login.body.contains("<title>Sign in · latchkey</title>"), "{}", login.body);
        assert!(!login.body.contains("<img"), "{}", login.body);
        assert!(!login.body.contains("style="), "no inline style: {}", login.body);
        assert!(!login.body.contains("<style"), "no inline style: {}", login.body);
        let csp = login.headers["content-security-policy"].to_str().unwrap();
        assert_eq!(
            csp,
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        assert!(!login.body.contains("<script>"), "no inline script: {}", login.body);
        let css = srv.http.get(srv.url(&stylesheet_url(&login))).send().await.unwrap();
        assert_eq!(css.status(), 200);
        let body = css.text().await.unwrap();
        assert!(body.contains(".who{"), "{body}");
        assert!(!body.contains("--lk-brand:"), "no brand colour set: {body}");
    }
}

/// Runs `latchkey serve` with `env` and waits for it to exit (it should, at
/// once); returns its exit success and stderr.
fn serve_until_exit(env: &[(&str, &str)]) -> (bool, String) {
    let db = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env(
            "LATCHKEY_DATABASE_URL",
            format!("sqlite://{}", db.path().join("db").display()),
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("latchkey serve started with a broken theme");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.success(), stderr)
}

/// A theme whose template does not compile, or compiles but does not render
/// (an unknown variable, an unknown catalogue key, in some language only),
/// stops `serve` at start with an error that names the file; so does a
/// catalogue that does not parse. `config check` says the same.
#[test]
fn a_broken_theme_is_refused_at_start_naming_the_file() {
    for (file, text, says) in [
        (
            "consent.html",
            "{% extends \"decision.html\" %}{% block action %}{% if %}{% endblock %}",
            "consent.html",
        ),
        (
            "device.html",
            "{% extends \"base.html\" %}{% block content %}{{ no_such_variable.x }}{% endblock %}",
            "device.html",
        ),
        (
            "message.html",
            "{% extends \"base.html\" %}{% block content %}{{ t(\"no.such.key\") }}{% endblock %}",
            "no.such.key",
        ),
        ("locales/fr.toml", "[login\ntitle = 1", "fr.toml"),
    ] {
        let theme = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(theme.path().join("locales")).unwrap();
        let path = theme.path().join(file);
        std::fs::write(&path, text).unwrap();
        let dir = theme.path().display().to_string();
        let (ok, stderr) = serve_until_exit(&[("LATCHKEY_THEME_DIR", &dir)]);
        assert!(!ok, "{file}: serve must exit non-zero");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{file}: the message names the file: {stderr}"
        );
        assert!(stderr.contains(says), "{file}: {stderr}");

        let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["config", "check"])
            .env("LATCHKEY_THEME_DIR", &dir)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("theme_dir:") && stderr.contains(&path.display().to_string()),
            "{stderr}"
        );
    }
    // A string that would break a page in one language only: its German
    // text wants a placeholder the page does not fill in.
    let theme = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(theme.path().join("locales")).unwrap();
    let de = theme.path().join("locales/de.toml");
    std::fs::write(&de, "[login]\ntitle = \"Anmelden bei {brand}\"\n").unwrap();
    let (ok, stderr) =
        serve_until_exit(&[("LATCHKEY_THEME_DIR", &theme.path().display().to_string())]);
    assert!(!ok);
    assert!(
        stderr.contains(&de.display().to_string()) && stderr.contains("{brand}"),
        "{stderr}"
    );
    // A theme template that renders in one language only (it passes no
    // value for a placeholder a theme string of its own needs in German).
    std::fs::write(&de, "[acme]\nhello = \"Hallo {name}\"\n").unwrap();
    std::fs::write(
        theme.path().join("locales/en.toml"),
        "[acme]\nhello = \"Hello\"\n",
    )
    .unwrap();
    let login = theme.path().join("login.html");
    std::fs::write(
        &login,
        "{% extends \"base.html\" %}{% block content %}{{ t(\"acme.hello\") }}{% endblock %}",
    )
    .unwrap();
    let (ok, stderr) =
        serve_until_exit(&[("LATCHKEY_THEME_DIR", &theme.path().display().to_string())]);
    assert!(!ok);
    assert!(
        stderr.contains(&login.display().to_string()) && stderr.contains("language de"),
        "{stderr}"
    );
    // A theme directory that is not there.
    let (ok, stderr) = serve_until_exit(&[("LATCHKEY_THEME_DIR", "/nonexistent/theme")]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/theme"), "{stderr}");
}

/// Brand settings are checked like any other: a colour that is not hex, a
/// logo URL that is neither http(s) nor a path.
#[test]
fn bad_brand_settings_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["config", "check"])
        .env("LATCHKEY_BRAND_COLOR", "red;}body{display:none")
        .env("LATCHKEY_BRAND_LOGO_URL", "javascript:alert(1)")
        .env("LATCHKEY_BRAND_NAME", " ")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for setting in ["brand_color:", "brand_logo_url:", "brand_name:"] {
        assert!(stderr.contains(setting), "{setting} {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["config", "check"])
        .env("LATCHKEY_BRAND_COLOR", "#0f766e")
        .env("LATCHKEY_BRAND_LOGO_URL", "/static/logo.png")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The example theme of docs/theming.md, file by file as printed there,
/// loads and renders: the documentation shows a theme that works.
#[test]
fn the_documented_example_theme_works() {
    let doc = include_str!("../../../../docs/theming.md");
    let example = &doc[doc.find("## An example theme").unwrap()..];
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("locales")).unwrap();
    let mut written = 0;
    for piece in example.split("`/etc/latchkey/theme/").skip(1) {
        let name = &piece[..piece.find('`').unwrap()];
        let fence = piece.find("\n```").unwrap();
        let body_start = fence + 4 + piece[fence + 4..].find('\n').unwrap() + 1;
        let body = &piece[body_start..body_start + piece[body_start..].find("```").unwrap()];
        let text = if name == "latchkey.css" {
            // "a copy of the built-in stylesheet, plus" the block.
            format!("{}{body}", latchkey::http::html::STYLE)
        } else {
            body.to_owned()
        };
        std::fs::write(dir.path().join(name), text).unwrap();
        written += 1;
    }
    assert_eq!(written, 5, "login.html, latchkey.css and three catalogues");
    let settings = latchkey::config::Settings {
        theme_dir: Some(dir.path().display().to_string()),
        brand_name: "Acme ID".into(),
        ..Default::default()
    };
    let pages = latchkey::http::load_pages(&settings).unwrap();
    let view = latchkey::http::pages::login::LoginView {
        client_name: None,
        csrf_token: "t",
        request_id: "r",
        username: "",
        error: None,
        passkeys: true,
        passkey_error: None,
        return_to: "",
        register_href: None,
    };
    let de = pages.render("de", &view).unwrap();
    assert!(
        de.contains("Bei Acme anmelden") && de.contains("Willkommen zurück bei Acme ID."),
        "{de}"
    );
    let pt = pages.render("pt-BR", &view).unwrap();
    assert!(
        pt.contains("<html lang=\"pt-BR\">") && pt.contains("Senha"),
        "{pt}"
    );
    assert!(
        String::from_utf8_lossy(&pages.stylesheet().body)
            .contains(".acme-title{color:var(--lk-brand)}")
    );
}
