//! The `fapi2` client profile (FAPI 2.0 Security Profile, final): one test
//! per requirement, through the real server, with assertions and DPoP
//! proofs built by jsonwebtoken (docs/sender-constrained.md).

use jsonwebtoken::Algorithm;
use latchkey::core::clients::{ClientKeys, ClientPolicy, GrantType, NewClient, Profile};
use latchkey::core::keys::SigningAlg;
use latchkey::core::scope::Scope;
use serde_json::{Value, json};

use crate::common::browser::{Browser, REDIRECT_URI, code_params, pkce};
use crate::common::dpop::DpopKey;
use crate::common::first_party::{PASSWORD, expect_error, expect_tokens};
use crate::common::{TestClient, TestDb, TestServer};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN: &str = "/v1/oauth/token";
const PAR: &str = "/v1/oauth/par";

/// A fapi2 client and the keys it holds: `sig` for `private_key_jwt`,
/// `dpop` for DPoP.
struct Fapi2 {
    srv: TestServer,
    client: TestClient,
    sig: DpopKey,
    dpop: DpopKey,
}

fn fapi2_client(sig: &DpopKey) -> NewClient {
    NewClient {
        name: "bank app".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: Some(Scope::parse("openid accounts").unwrap()),
        policy: ClientPolicy {
            keys: Some(ClientKeys::Jwks(
                json!({"keys": [sig.registered_jwk("sig")]}),
            )),
            ..ClientPolicy::default()
        },
        ..NewClient::default()
    }
}

impl Fapi2 {
    /// A PS256 deployment (ten-minute codes for everyone else) with a
    /// fapi2 client and a user.
    async fn start(db: &TestDb) -> Fapi2 {
        let srv = TestServer::start_with(db, |s| {
            s.signing_alg = SigningAlg::PS256;
            s.authorization_code_ttl_seconds = 600;
        })
        .await;
        srv.user("pat@example.com", &[]).await;
        let sig = DpopKey::es256();
        let mut new = fapi2_client(&sig);
        new.apply_profile(Profile::Fapi2, SigningAlg::PS256)
            .unwrap();
        let client = srv.client(new).await;
        Fapi2 {
            srv,
            client,
            sig,
            dpop: DpopKey::ed25519(),
        }
    }

    fn assertion(&self) -> String {
        let now = self.srv.now();
        self.sig.sign_jwt(
            Some("sig"),
            &json!({
                "iss": self.client.id, "sub": self.client.id, "aud": self.srv.url,
                "exp": now + 60, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
            }),
        )
    }

    /// POSTs `form` to `path` with an assertion and, if `dpop`, a proof.
    async fn post(&self, path: &str, form: &[(&str, &str)], dpop: bool) -> reqwest::Response {
        let assertion = self.assertion();
        let mut form = form.to_vec();
        form.push(("client_assertion_type", ASSERTION_TYPE));
        form.push(("client_assertion", assertion.as_str()));
        let mut req = self.srv.http.post(self.srv.url(path));
        if dpop {
            req = req.header(
                "DPoP",
                self.dpop.proof("POST", &self.srv.url(path), self.srv.now()),
            );
        }
        req.form(&form).send().await.unwrap()
    }

    /// Pushes `params`; the `request_uri`.
    async fn push(&self, params: &[(&str, &str)]) -> String {
        let resp = self.post(PAR, params, true).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["request_uri"].as_str().unwrap().to_owned()
    }

    /// Through PAR and the login page to the code; the verifier and the
    /// page that carried the code.
    async fn code(&self) -> (String, crate::common::browser::Page) {
        let (verifier, challenge) = pkce();
        let uri = self
            .push(&code_params(&self.client.id, &challenge, "openid accounts"))
            .await;
        let browser = Browser::new(&self.srv);
        let page = browser
            .authorize_through(
                &[
                    ("client_id", self.client.id.as_str()),
                    ("request_uri", uri.as_str()),
                ],
                "pat@example.com",
            )
            .await;
        (verifier, page)
    }

    async fn redeem(&self, code: &str, verifier: &str, dpop: bool) -> reqwest::Response {
        self.post(
            TOKEN,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
            dpop,
        )
        .await
    }
}

fn header_alg(jwt: &str) -> Algorithm {
    jsonwebtoken::decode_header(jwt).unwrap().alg
}

both_backends! {
    /// The whole flow as FAPI 2.0 has it: PAR with private_key_jwt and a
    /// DPoP proof, the browser sent back with 303 and `iss`, the code
    /// redeemed with an assertion and a proof; DPoP-bound tokens signed
    /// with PS256.
    async fn the_fapi2_flow(db) {
        let f = Fapi2::start(&db).await;
        let (verifier, page) = f.code().await;
        assert_eq!(page.status, 303);
        assert_eq!(page.redirect_param("iss").as_deref(), Some(f.srv.url.as_str()));
        let code = page.redirect_param("code").unwrap();
        let tokens = expect_tokens(f.redeem(&code, &verifier, true).await).await;
        assert_eq!(tokens.token_type, "DPoP");
        assert_eq!(header_alg(&tokens.access_token), Algorithm::PS256);
        assert_eq!(header_alg(tokens.id_token.as_deref().unwrap()), Algorithm::PS256);
        let claims = f.srv.claims(&tokens.access_token);
        assert_eq!(claims.cnf.unwrap().jkt, f.dpop.jkt());
        // The JWKS says PS256, and so does discovery.
        let jwks = f.srv.jwks().await;
        assert!(jwks.keys.iter().all(|k| k.alg.as_deref() == Some("PS256")));
        // Verified independently, by jsonwebtoken with PS256 pinned.
        crate::common::verify_with_jwks::<Value>(&tokens.access_token, &jwks, Algorithm::PS256, &f.srv.url, &f.srv.url).unwrap();
        let meta: Value = f.srv.http.get(f.srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["id_token_signing_alg_values_supported"], json!(["PS256"]));
    }
}

both_backends! {
    /// PAR required: the authorization endpoint refuses the request sent
    /// through the browser, on a page (no redirect).
    async fn par_is_required(db) {
        let f = Fapi2::start(&db).await;
        let (_, challenge) = pkce();
        let page = Browser::new(&f.srv).authorize(&code_params(&f.client.id, &challenge, "openid")).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.location.is_none());
    }
}

both_backends! {
    /// PKCE S256 required, even of a confidential client on a deployment
    /// that lets confidential clients go without.
    async fn pkce_is_required(db) {
        let srv = TestServer::start_with(&db, |s| { s.signing_alg = SigningAlg::ES256; s.require_pkce = false; }).await;
        let sig = DpopKey::es256();
        let mut new = fapi2_client(&sig);
        new.apply_profile(Profile::Fapi2, SigningAlg::ES256).unwrap();
        let client = srv.client(new).await;
        let f = Fapi2 { srv, client, sig, dpop: DpopKey::es256() };
        let params: Vec<(&str, &str)> = code_params(&f.client.id, "x", "openid").into_iter().filter(|(k, _)| !k.starts_with("code_challenge")).collect();
        expect_error(f.post(PAR, &params, true).await, 400, "invalid_request").await;
        let mut plain = params.clone();
        plain.push(("code_challenge", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"));
        plain.push(("code_challenge_method", "plain"));
        expect_error(f.post(PAR, &plain, true).await, 400, "invalid_request").await;
    }
}

both_backends! {
    /// private_key_jwt required: a fapi2 client without keys, or public,
    /// cannot be registered, and the registered one cannot authenticate
    /// by naming itself.
    async fn private_key_jwt_is_required(db) {
        let f = Fapi2::start(&db).await;
        let mut no_keys = NewClient { policy: ClientPolicy::default(), ..fapi2_client(&f.sig) };
        assert!(no_keys.apply_profile(Profile::Fapi2, SigningAlg::PS256).is_err());
        let mut public = NewClient { public: true, ..fapi2_client(&f.sig) };
        assert!(public.apply_profile(Profile::Fapi2, SigningAlg::PS256).is_err());
        let (_, challenge) = pkce();
        // code_params names the client_id: the client names itself only.
        let params = code_params(&f.client.id, &challenge, "openid");
        let resp = f.srv.http.post(f.srv.url(PAR)).form(&params).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
    }
}

both_backends! {
    /// DPoP-bound tokens required: a token request without a proof is
    /// refused, and the code is still good for one with a proof.
    async fn dpop_is_required(db) {
        let f = Fapi2::start(&db).await;
        let (verifier, page) = f.code().await;
        let code = page.redirect_param("code").unwrap();
        expect_error(f.redeem(&code, &verifier, false).await, 400, "invalid_dpop_proof").await;
        let tokens = expect_tokens(f.redeem(&code, &verifier, true).await).await;
        assert_eq!(tokens.token_type, "DPoP");
    }
}

both_backends! {
    /// No password grant (registration refuses it) and no `/v1/signin`.
    async fn no_password_grant_and_no_signin(db) {
        let f = Fapi2::start(&db).await;
        let mut with_password = fapi2_client(&f.sig);
        with_password.grant_types.push(GrantType::Password);
        let err = with_password.apply_profile(Profile::Fapi2, SigningAlg::PS256).unwrap_err();
        assert!(err.description().unwrap().contains("password"), "{err:?}");
        let resp = f.post("/v1/signin", &[("username", "pat@example.com"), ("password", PASSWORD)], true).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "unauthorized_client");
        expect_error(f.post(TOKEN, &[("grant_type", "password"), ("username", "pat@example.com"), ("password", PASSWORD)], true).await, 400, "unauthorized_client").await;
    }
}

both_backends! {
    /// Authorization codes live at most 60 s, whatever
    /// `authorization_code_ttl_seconds` says (600 here).
    async fn codes_live_at_most_60_seconds(db) {
        let f = Fapi2::start(&db).await;
        let (verifier, page) = f.code().await;
        let code = page.redirect_param("code").unwrap();
        f.srv.clock.advance(61);
        expect_error(f.redeem(&code, &verifier, true).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Every authorization response is a 303 carrying `iss`, errors too.
    async fn responses_are_303_with_iss(db) {
        let f = Fapi2::start(&db).await;
        let (_, challenge) = pkce();
        let mut params = code_params(&f.client.id, &challenge, "openid");
        params.push(("prompt", "none"));
        let uri = f.push(&params).await;
        let page = Browser::new(&f.srv).authorize(&[("client_id", f.client.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 303);
        assert_eq!(page.redirect_param("error").as_deref(), Some("login_required"));
        assert_eq!(page.redirect_param("iss").as_deref(), Some(f.srv.url.as_str()));
        let (_, page) = f.code().await;
        assert_eq!(page.status, 303);
        assert!(page.redirect_param("code").is_some());
        assert_eq!(page.redirect_param("iss").as_deref(), Some(f.srv.url.as_str()));
    }
}

both_backends! {
    /// Tokens never signed with RS256: `client create --profile fapi2` on an
    /// RS256 deployment is refused, naming `signing_alg`; on a PS256 one it
    /// works and shows the profile.
    async fn rs256_deployments_refuse_fapi2(db) {
        let sig = DpopKey::es256();
        let mut new = fapi2_client(&sig);
        let err = new.apply_profile(Profile::Fapi2, SigningAlg::RS256).unwrap_err();
        assert!(err.description().unwrap().contains("signing_alg"), "{err:?}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, serde_json::to_vec(&json!({"keys": [sig.registered_jwk("sig")]})).unwrap()).unwrap();
        let args = [
            "client", "create", "--name", "bank", "--redirect-uri", REDIRECT_URI,
            "--token-endpoint-auth-method", "private_key_jwt", "--jwks", file.to_str().unwrap(),
            "--profile", "fapi2", "--json",
        ];
        let out = db.cli(&args);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("signing_alg"), "{}", String::from_utf8_lossy(&out.stderr));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(args)
            .env("LATCHKEY_DATABASE_URL", &db.url)
            .env("LATCHKEY_SIGNING_ALG", "PS256")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let view: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(view["profile"], "fapi2");
        assert_eq!(view["require_par"], true);
        assert_eq!(view["require_dpop"], true);
        assert_eq!(view["token_endpoint_auth_method"], "private_key_jwt");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["client", "create", "--name", "bank", "--redirect-uri", REDIRECT_URI, "--grant-type", "authorization_code", "--grant-type", "password",
                "--token-endpoint-auth-method", "private_key_jwt", "--jwks", file.to_str().unwrap(), "--profile", "fapi2"])
            .env("LATCHKEY_DATABASE_URL", &db.url)
            .env("LATCHKEY_SIGNING_ALG", "PS256")
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    }
}
