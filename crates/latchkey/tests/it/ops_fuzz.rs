//! Hostile input (docs/errors.md) as property tests that run in CI:
//! the body parsers (form and JSON, and the authorization request's query,
//! which goes through the same `Params`), latchkey's own JWT verification,
//! and random requests to every route of the real router, none of which may
//! panic or answer 5xx.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use latchkey::core::clients::{ClientStore as _, GrantType, NewClient};
use latchkey::core::clock::{ManualClock, SharedClock};
use latchkey::core::keys::JwtType;
use latchkey::core::params::Params;
use latchkey::core::scope::Scope;
use latchkey_proto::AccessTokenClaims;
use proptest::prelude::*;
use tower::ServiceExt as _;

use crate::common::TestDb;

/// `cases` by default (CI), or `PROPTEST_CASES` for a longer hunt.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Parameter names the endpoints read, so that random bodies reach past the
/// first check now and then.
const NAMES: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
    "resource",
    "username",
    "password",
    "token",
    "token_type_hint",
    "code",
    "redirect_uri",
    "code_verifier",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "device_code",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(NAMES).prop_map(str::to_owned),
        ".{0,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("client_credentials".to_owned()),
        Just("password".to_owned()),
        Just("refresh_token".to_owned()),
        Just("read write".to_owned()),
        ".{0,40}",
        "[\\x00-\\x1f%&=+;]{0,10}",
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((name(), value()), 0..6)
}

fn form_body(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn form_parsing_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300), p in pairs()) {
        let _ = Params::from_form(&raw);
        let body = form_body(&p);
        // A duplicated name (other than `resource`) is invalid_request.
        match Params::from_form(body.as_bytes()) {
            Ok(params) => for (k, v) in &p {
                if !v.is_empty() && !v.contains('\0') && k != "resource" {
                    prop_assert_eq!(params.get(k), Some(v.as_str()));
                }
            },
            Err(e) => prop_assert_eq!(e.code(), "invalid_request"),
        }
    }

    #[test]
    fn json_parsing_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300), p in pairs(), n in any::<i64>()) {
        let _ = Params::from_json(&raw);
        let mut obj = serde_json::Map::new();
        for (k, v) in &p {
            obj.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        obj.insert("n".into(), serde_json::json!(n));
        let body = serde_json::to_vec(&obj).unwrap();
        if let Err(e) = Params::from_json(&body) {
            prop_assert_eq!(e.code(), "invalid_request");
        }
        for shape in [serde_json::json!([p.len()]), serde_json::json!({"a": {"b": n}}), serde_json::json!(null)] {
            let bytes = serde_json::to_vec(&shape).unwrap();
            prop_assert!(Params::from_json(&bytes).is_err());
        }
    }

    /// The authorization endpoint's query (issue 4) is parsed by `Params`
    /// too: any query string parses or is `invalid_request`.
    #[test]
    fn authorize_query_parsing_never_panics(query in ".{0,300}", p in pairs()) {
        for q in [query.clone(), form_body(&p)] {
            if let Err(e) = Params::from_form(q.as_bytes()) {
                prop_assert_eq!(e.code(), "invalid_request");
            }
        }
    }
}

/// A router on a fresh SQLite database, with one client_credentials client,
/// and a runtime to drive it.
struct Fixture {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    app: latchkey::http::AppState,
    token: String,
    basic: String,
    _db: TestDb,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, app, basic) = rt.block_on(async {
        let db = TestDb::sqlite().await;
        let settings = db.settings().validated().unwrap();
        let app = latchkey::app::build(settings, ManualClock::starting_now() as SharedClock)
            .await
            .unwrap();
        let (client, secret) = NewClient {
            name: "svc".into(),
            grant_types: vec![
                GrantType::ClientCredentials,
                GrantType::Password,
                GrantType::RefreshToken,
            ],
            scopes: Some(Scope::parse("read write").unwrap()),
            ..NewClient::default()
        }
        .build(app.clock().now())
        .unwrap();
        app.store().insert_client(&client).await.unwrap();
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            client.id,
            secret.unwrap().expose()
        ));
        (db, app, basic)
    });
    let router = latchkey::http::router(app.clone());
    let token = rt.block_on(async {
        let req = Request::post("/v1/oauth/token")
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("grant_type=client_credentials"))
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["access_token"].as_str().unwrap().to_owned()
    });
    Fixture {
        rt,
        router,
        app,
        token,
        basic,
        _db: db,
    }
}

fn method() -> impl Strategy<Value = axum::http::Method> {
    use axum::http::Method;
    proptest::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
    ])
}

fn path() -> impl Strategy<Value = String> {
    let mut known: Vec<String> = latchkey::http::ROUTES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    known.push("/v1/oauth/authorize".into());
    prop_oneof![
        4 => proptest::sample::select(known),
        1 => "/[a-z0-9/._-]{0,40}",
    ]
}

#[derive(Debug, Clone)]
struct RandomRequest {
    method: axum::http::Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<&'static str>,
    authorization: Option<String>,
    cookie: Option<String>,
    csrf: Option<String>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = RandomRequest> {
    (
        method(),
        path(),
        pairs(),
        proptest::option::of(proptest::sample::select(vec![
            "application/x-www-form-urlencoded",
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "multipart/form-data; boundary=x",
        ])),
        proptest::option::of(prop_oneof![
            Just("BASIC".to_owned()),
            "Basic [A-Za-z0-9+/=]{0,40}",
            "Bearer [A-Za-z0-9._-]{0,60}",
            "[ -~]{0,40}",
        ]),
        proptest::option::of("latchkey_refresh=[ -~&&[^;]]{0,30}; latchkey_csrf=[a-z]{0,5}"),
        proptest::option::of("[a-z]{0,5}"),
        prop_oneof![
            pairs().prop_map(|p| form_body(&p).into_bytes()),
            pairs().prop_map(|p| {
                let m: serde_json::Map<String, serde_json::Value> = p
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                serde_json::to_vec(&m).unwrap()
            }),
            proptest::collection::vec(any::<u8>(), 0..200),
        ],
    )
        .prop_map(
            |(method, path, query, content_type, authorization, cookie, csrf, body)| {
                RandomRequest {
                    method,
                    path,
                    query,
                    content_type,
                    authorization,
                    cookie,
                    csrf,
                    body,
                }
            },
        )
}

#[test]
fn random_requests_to_every_route_never_5xx() {
    let f = fixture();
    let basic = f.basic.clone();
    proptest!(config(300), |(r in request(), use_real_client in any::<bool>())| {
        let mut uri = r.path.clone();
        if !r.query.is_empty() {
            uri.push('?');
            uri.push_str(&form_body(&r.query));
        }
        let mut b = Request::builder().method(r.method.clone()).uri(&uri);
        if let Some(ct) = r.content_type {
            b = b.header("content-type", ct);
        }
        let auth = if use_real_client { Some(format!("Basic {basic}")) } else { r.authorization.clone() };
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        if let Some(c) = &r.cookie {
            b = b.header("cookie", c);
        }
        if let Some(t) = &r.csrf {
            b = b.header("x-csrf-token", t);
        }
        let Ok(req) = b.body(Body::from(r.body.clone())) else {
            return Ok(());
        };
        let resp = f.rt.block_on(f.router.clone().oneshot(req)).unwrap();
        prop_assert!(
            !resp.status().is_server_error(),
            "{} {} answered {}", r.method, uri, resp.status()
        );
    });
}

#[test]
fn jwt_verification_never_panics_and_refuses_any_change() {
    let f = fixture();
    let keys = f.app.keys().snapshot();
    let issuer = f.app.settings().issuer.clone();
    let now = f.app.clock().now();
    let verify =
        |t: &str| keys.verify::<AccessTokenClaims>(t, JwtType::AccessToken, &issuer, None, now, 0);
    assert!(verify(&f.token).is_ok());
    let token = f.token.clone();
    proptest!(config(512), |(
        garbage in ".{0,400}",
        at in 0usize..2000,
        byte in any::<u8>(),
        cut in 0usize..2000,
    )| {
        let _ = verify(&garbage);
        let mut bytes = token.clone().into_bytes();
        let i = at % bytes.len();
        if bytes[i] != byte {
            bytes[i] = byte;
            if let Ok(mutated) = String::from_utf8(bytes) {
                prop_assert!(verify(&mutated).is_err(), "a changed token verified");
            }
        }
        let c = cut % token.len();
        prop_assert!(verify(&token[..c]).is_err());
    });
    drop(f.rt);
    let _ = Arc::strong_count(&f.app);
}
