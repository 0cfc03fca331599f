//! The whole OpenID Connect flow driven by the `openidconnect` crate as the
//! relying party: discovery, PKCE, nonce, ID token validation (signature,
//! `iss`, `aud`, `exp`, nonce, `at_hash`), userinfo, and the discovery
//! document's browser-flow members.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
};
use serde_json::Value;

use crate::common::TestServer;
use crate::common::browser::{Browser, REDIRECT_URI, code_client};

both_backends! {
    async fn openidconnect_crate_flow(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        let user_id = srv.user("grace@example.com", &[]).await;
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        // Step 1: discovery.
        let issuer = IssuerUrl::new(srv.url.clone()).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http).await.unwrap();
        let rp = CoreClient::from_provider_metadata(metadata, ClientId::new(client.id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());

        // Step 2: the authorization URL, with PKCE and a nonce.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = rp
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();

        // Step 3: the browser signs in and consents through the HTML forms.
        let b = Browser::new(&srv);
        let mut page = b.get(url.as_str()).await;
        for _ in 0..3 {
            let loc = page.location.clone().unwrap();
            if loc.starts_with("/login") {
                let login = b.get(&loc).await;
                page = b.submit_login(&login, "grace@example.com", crate::common::first_party::PASSWORD).await;
            } else if loc.starts_with("/consent") {
                let consent = b.get(&loc).await;
                page = b.submit_consent(&consent, "allow").await;
            } else {
                break;
            }
        }
        assert_eq!(page.redirect_param("state").as_deref(), Some(state.secret().as_str()));
        assert_eq!(page.redirect_param("iss").as_deref(), Some(srv.url.as_str()));
        let code = page.redirect_param("code").unwrap();

        // Step 4: the code exchange and the ID token's validation.
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        let id_token = tokens.id_token().unwrap();
        let verifier = rp.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).unwrap();
        assert_eq!(claims.subject().as_str(), user_id);
        assert!(claims.auth_time().is_some());
        let expected = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected));
        // A wrong nonce is caught.
        assert!(id_token.claims(&verifier, &Nonce::new("other".into())).is_err());

        // Step 5: userinfo.
        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(info.email().map(|e| e.as_str()), Some("grace@example.com"));
    }
}

both_backends! {
    async fn discovery_lists_the_browser_flows(db) {
        let srv = TestServer::start(&db).await;
        let d: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(d["authorization_endpoint"], srv.url("/v1/oauth/authorize"));
        assert_eq!(d["userinfo_endpoint"], srv.url("/v1/userinfo"));
        assert_eq!(d["end_session_endpoint"], srv.url("/v1/oauth/logout"));
        assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(d["authorization_response_iss_parameter_supported"], true);
        assert!(d["grant_types_supported"].as_array().unwrap().contains(&Value::from("authorization_code")));
        for s in ["openid", "profile", "email", "offline_access"] {
            assert!(d["scopes_supported"].as_array().unwrap().contains(&Value::from(s)), "{s}");
        }
        for c in ["sub", "email", "email_verified", "name", "auth_time", "nonce"] {
            assert!(d["claims_supported"].as_array().unwrap().contains(&Value::from(c)), "{c}");
        }
    }
}
