//! The pages' languages through the real pages (docs/theming.md): English,
//! German, French and Spanish built in; the authorization request's
//! `ui_locales` (OIDC Core §3.1.2.1) before `Accept-Language`, and English
//! when neither names a language latchkey has. Both backends: the pending
//! request, which carries `ui_locales` from page to page, is stored.

use crate::common::TestServer;
use crate::common::browser::{Browser, Page, code_client, code_params, pkce};
use crate::common::first_party::PASSWORD;

const EMAIL: &str = "ada@example.com";

/// The language a page says it is in, and checks that its header agrees.
fn lang(page: &Page) -> String {
    let start = page.body.find("<html lang=\"").unwrap() + "<html lang=\"".len();
    let tag = &page.body[start..start + page.body[start..].find('"').unwrap()];
    assert_eq!(page.headers["content-language"], tag, "Content-Language");
    tag.to_owned()
}

/// Starts a code request (with `extra` parameters) and follows it to the
/// login page.
async fn login_page(b: &Browser, client_id: &str, extra: &[(&str, &str)]) -> Page {
    let (_, challenge) = pkce();
    let mut params = code_params(client_id, &challenge, "openid profile");
    params.extend_from_slice(extra);
    let first = b.authorize(&params).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let login = b.get(first.location.as_deref().unwrap()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    login
}

both_backends! {
    /// Each built-in language, chosen by `Accept-Language`: the login page,
    /// the wrong-password answer, the consent page and an error page each
    /// carry a word of that language, and none of English's.
    async fn pages_in_each_builtin_language(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        srv.user(EMAIL, &[]).await;
        for (accept, tag, sign_in, wrong, allow, expired) in [
            ("en-US,en;q=0.9", "en", "Sign in", "do not match", "Allow", "has expired"),
            ("de-DE,de;q=0.9,en;q=0.5", "de", "Anmelden", "passen nicht zusammen", "Erlauben", "ist abgelaufen"),
            ("fr-CA", "fr", "Mot de passe", "ne correspondent pas", "Autoriser", "a expiré"),
            ("es-419, en;q=0.1", "es", "Contraseña", "no coinciden", "Permitir", "ha caducado"),
        ] {
            let b = Browser::speaking(&srv, accept);
            let login = login_page(&b, &client.id, &[]).await;
            assert_eq!(lang(&login), tag);
            assert!(login.body.contains(sign_in), "{tag}: {}", login.body);
            if tag != "en" {
                assert!(!login.body.contains("Password"), "{tag}: {}", login.body);
            }

            // Step 2: a wrong password, the form again in the same language.
            let refused = b.submit_login(&login, EMAIL, "not it").await;
            assert_eq!(refused.status, 401);
            assert_eq!(lang(&refused), tag);
            assert!(refused.body.contains(wrong), "{tag}: {}", refused.body);

            // Step 3: the consent page.
            let signed_in = b.submit_login(&login, EMAIL, PASSWORD).await;
            let consent = b.get(signed_in.location.as_deref().unwrap()).await;
            assert_eq!(consent.status, 200, "{}", consent.body);
            assert_eq!(lang(&consent), tag);
            assert!(consent.body.contains(allow), "{tag}: {}", consent.body);

            // An error page: a request id nobody issued.
            let gone = b.get("/login?request=nothing-of-the-sort").await;
            assert_eq!(gone.status, 400);
            assert_eq!(lang(&gone), tag);
            assert!(gone.body.contains(expired), "{tag}: {}", gone.body);
        }
    }
}

both_backends! {
    /// `ui_locales` wins over `Accept-Language`, from the first page to the
    /// last: the login page, its answer to a wrong password (a POST, whose
    /// request id is in the body), the consent page that follows the
    /// login, and the authorization endpoint's own error page.
    async fn ui_locales_win_over_accept_language(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::speaking(&srv, "fr-FR,fr;q=0.9");

        // Unknown tags are skipped; de-AT falls back to de.
        let login = login_page(&b, &client.id, &[("ui_locales", "tlh de-AT es")]).await;
        assert_eq!(lang(&login), "de");
        assert!(login.body.contains("Anmelden"));

        let refused = b.submit_login(&login, EMAIL, "not it").await;
        assert_eq!(refused.status, 401);
        assert_eq!(lang(&refused), "de");

        let signed_in = b.submit_login(&login, EMAIL, PASSWORD).await;
        let consent = b.get(signed_in.location.as_deref().unwrap()).await;
        assert_eq!(lang(&consent), "de");
        assert!(consent.body.contains("möchte auf Ihr Konto zugreifen"), "{}", consent.body);

        // Without ui_locales the same browser gets its Accept-Language.
        let other = Browser::speaking(&srv, "fr-FR,fr;q=0.9");
        assert_eq!(lang(&login_page(&other, &client.id, &[]).await), "fr");

        // The authorization endpoint's error page (an unknown client: never
        // redirected) speaks the request's ui_locales too.
        let (_, challenge) = pkce();
        let mut params = code_params("no-such-client", &challenge, "openid");
        params.push(("ui_locales", "es"));
        let error = b.authorize(&params).await;
        assert_eq!(error.status, 400);
        assert_eq!(lang(&error), "es");
        assert!(error.body.contains("No se puede completar"), "{}", error.body);
    }
}

both_backends! {
    /// Neither `ui_locales` nor `Accept-Language` names a language latchkey
    /// has (or they are malformed, or absent): English.
    async fn english_when_nothing_matches(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        for (accept, ui) in [
            ("ja-JP, zh;q=0.8, *;q=0.1", "tlh"),
            ("de;q=0, fr;q=0", ""),
            (";q=;;,,", "x-klingon !!"),
        ] {
            let b = Browser::speaking(&srv, accept);
            let extra: Vec<(&str, &str)> = if ui.is_empty() { vec![] } else { vec![("ui_locales", ui)] };
            let login = login_page(&b, &client.id, &extra).await;
            assert_eq!(lang(&login), "en", "{accept} / {ui}");
            assert!(login.body.contains("Sign in"));
        }
        let plain = Browser::new(&srv);
        assert_eq!(lang(&login_page(&plain, &client.id, &[]).await), "en");
    }
}
