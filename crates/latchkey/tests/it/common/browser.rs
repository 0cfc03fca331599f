//! Helpers for the browser flows: a cookie-keeping HTTP client that reads
//! and submits the HTML forms, PKCE pairs, and clients registered for the
//! authorization code flow.

use std::collections::HashMap;

use base64::Engine as _;
use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;

use super::TestServer;
use super::first_party::PASSWORD;

/// Where test clients are sent back to; never actually requested.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub const POST_LOGOUT_URI: &str = "http://127.0.0.1:9/signed-out";

/// A public client for the code flow (PKCE required), not first-party.
pub fn code_client(public: bool) -> NewClient {
    NewClient {
        name: "Photo Printer".into(),
        public,
        redirect_uris: vec![REDIRECT_URI.into()],
        post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: Some(Scope::parse("openid profile email offline_access read").unwrap()),
        audiences: vec!["https://api.example.com".into()],
        ..NewClient::default()
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = latchkey::core::secret::random_token().unwrap();
    // Computed here, not with latchkey's own function: the test checks it.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    (verifier, challenge)
}

/// The `name` → `value` of every `<input>` with both (hidden fields, and the
/// prefilled username).
pub fn form_inputs(html: &str) -> HashMap<String, String> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].replace("&amp;", "&").replace("&#x2f;", "/"))
    };
    let mut out = HashMap::new();
    for piece in html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            out.insert(n, v);
        }
    }
    out
}

/// A browser: its own cookie jar, redirects not followed (tests look at
/// each hop).
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

/// One answer, read whole.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn inputs(&self) -> HashMap<String, String> {
        form_inputs(&self.body)
    }

    /// A query parameter of the redirect target.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        let loc = self.location.as_ref()?;
        let url = url::Url::parse(loc).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

impl Browser {
    pub fn new(srv: &TestServer) -> Browser {
        Browser::at(&srv.url)
    }

    /// A browser whose every request says `Accept-Language: accept_language`.
    pub fn speaking(srv: &TestServer, accept_language: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT_LANGUAGE,
            accept_language.parse().unwrap(),
        );
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            base: srv.url.clone(),
        }
    }

    /// A browser for the server at `base`.
    pub fn at(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    fn abs(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    async fn read(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.text().await.unwrap();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&self, path_or_url: &str) -> Page {
        Self::read(self.http.get(self.abs(path_or_url)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::read(
            self.http
                .post(self.abs(path))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Starts an authorization request with these parameters.
    pub async fn authorize(&self, params: &[(&str, &str)]) -> Page {
        let url = url::Url::parse_with_params(&self.abs("/v1/oauth/authorize"), params).unwrap();
        self.get(url.as_str()).await
    }

    /// Fills in and submits the login form of `page` (the login page).
    pub async fn submit_login(&self, page: &Page, username: &str, password: &str) -> Page {
        let inputs = page.inputs();
        self.post(
            "/login",
            &[
                ("csrf_token", inputs["csrf_token"].as_str()),
                ("request", inputs["request"].as_str()),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Answers the consent page `page`.
    pub async fn submit_consent(&self, page: &Page, decision: &str) -> Page {
        let inputs = page.inputs();
        self.post(
            "/consent",
            &[
                ("csrf_token", inputs["csrf_token"].as_str()),
                ("request", inputs["request"].as_str()),
                ("decision", decision),
            ],
        )
        .await
    }

    /// From an authorization request to the redirect back to the client:
    /// signs in as `email` if asked to, allows consent if asked to.
    pub async fn authorize_through(&self, params: &[(&str, &str)], email: &str) -> Page {
        let mut page = self.authorize(params).await;
        for _ in 0..4 {
            let Some(loc) = page.location.clone() else {
                return page;
            };
            if loc.starts_with("/login") {
                let login = self.get(&loc).await;
                assert_eq!(login.status, 200, "{}", login.body);
                page = self.submit_login(&login, email, PASSWORD).await;
            } else if loc.starts_with("/consent") {
                let consent = self.get(&loc).await;
                assert_eq!(consent.status, 200, "{}", consent.body);
                page = self.submit_consent(&consent, "allow").await;
            } else {
                return page;
            }
        }
        page
    }
}

/// The standard parameters of a code request for `client_id`.
pub fn code_params<'a>(
    client_id: &'a str,
    challenge: &'a str,
    scope: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}
