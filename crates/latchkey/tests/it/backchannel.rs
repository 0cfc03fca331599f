//! Back-channel logout (OIDC Back-Channel Logout 1.0;
//! docs/logout-and-exchange.md), end to end: real browser sessions through
//! the login pages, a real HTTP receiver on 127.0.0.1, logout tokens checked
//! against the published JWKS, every trigger that ends a session, a
//! receiver that is down and comes back, a server killed with -9 before it
//! could deliver, and two processes sharing one database.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use latchkey::core::audit::{AuditFilter, AuditStore as _};
use latchkey::core::clients::NewClient;
use latchkey::core::outbox::{MessageState, OutboxStore as _};
use latchkey_proto::{IdTokenClaims, LogoutTokenClaims, TokenResponse};

use crate::common::browser::{Browser, REDIRECT_URI, code_client, code_params, pkce};
use crate::common::process::{Process, free_port};
use crate::common::{TestClient, TestDb, TestServer, verify_with_jwks, wait_until};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const LIMIT: Duration = Duration::from_secs(30);

/// What a receiver got: (path, `logout_token`) of each POST.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A relying party's back-channel logout endpoint: records every POST
/// (path, `logout_token`) and answers 200.
struct Receiver {
    addr: SocketAddr,
    got: Received,
    task: tokio::task::JoinHandle<()>,
}

async fn receive(State(got): State<Received>, uri: Uri, body: String) -> &'static str {
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    got.lock().unwrap().push((uri.path().to_owned(), token));
    "ok"
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A receiver on a port chosen earlier (it was down until now).
    async fn start_on(port: u16) -> Receiver {
        Receiver::on(
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap(),
        )
    }

    fn on(listener: tokio::net::TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(receive))
            .with_state(got.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, got, task }
    }

    fn tokens(&self, path: &str) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| t.clone())
            .collect()
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn uri_at(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// A code-flow client that registered `backchannel` (if any).
fn rp(backchannel: Option<String>) -> NewClient {
    NewClient {
        backchannel_logout_uri: backchannel,
        ..code_client(false)
    }
}

/// Signs in (or reuses the browser's session) for `client` through the
/// pages and redeems the code: the token response, with its ID token.
async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    browser: &Browser,
    client: &TestClient,
    email: &str,
) -> TokenResponse {
    let (verifier, challenge) = pkce();
    let done = browser
        .authorize_through(&code_params(&client.id, &challenge, "openid email"), email)
        .await;
    let code = done
        .redirect_param("code")
        .unwrap_or_else(|| panic!("no code: {:?} {}", done.location, done.body));
    let resp = http
        .post(format!("{base}/v1/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn id_claims(srv: &TestServer, tokens: &TokenResponse) -> IdTokenClaims {
    let id_token = tokens.id_token.as_deref().expect("an ID token");
    srv.server
        .app
        .keys()
        .snapshot()
        .verify(
            id_token,
            latchkey::core::keys::JwtType::IdToken,
            &srv.url,
            None,
            srv.now(),
            0,
        )
        .unwrap()
}

/// Checks a logout token against the published JWKS with an independent
/// JWT library: signature, `typ: logout+jwt`, `iss`, `aud` (the client),
/// `sub`, `sid`, the event, no `nonce`. Returns its claims.
fn check_logout_token(
    token: &str,
    jwks: &latchkey_proto::JwkSet,
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
) -> LogoutTokenClaims {
    let (header, claims): (_, LogoutTokenClaims) = verify_with_jwks(
        token,
        jwks,
        jsonwebtoken::Algorithm::RS256,
        issuer,
        client_id,
    )
    .unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    assert_eq!(claims.sub, sub);
    assert_eq!(claims.sid, sid);
    assert!(claims.aud.contains(client_id));
    assert_eq!(
        claims.events.get(EVENT),
        Some(&serde_json::json!({})),
        "the back-channel logout event"
    );
    let raw: serde_json::Value = verify_with_jwks::<serde_json::Value>(
        token,
        jwks,
        jsonwebtoken::Algorithm::RS256,
        issuer,
        client_id,
    )
    .unwrap()
    .1;
    assert!(raw.get("nonce").is_none(), "a logout token has no nonce");
    assert!(!claims.jti.is_empty());
    claims
}

async fn outbox(srv: &TestServer) -> Vec<MessageState> {
    srv.server
        .app
        .store()
        .list_outbox("backchannel_logout")
        .await
        .unwrap()
}

async fn fast(db: &TestDb) -> TestServer {
    TestServer::start_with(db, |s| s.outbox_poll_interval_ms = 50).await
}

both_backends! {
    async fn rp_initiated_logout_notifies_every_client_of_the_session(db) {
        let srv = fast(&db).await;
        let rx = Receiver::start().await;
        let user = srv.user("ada@example.com", &[]).await;
        let rp1 = srv.client(rp(Some(uri_at(rx.addr.port(), "/rp1")))).await;
        let rp2 = srv.client(rp(Some(uri_at(rx.addr.port(), "/rp2")))).await;
        // A client without a URI is not notified (and does not break it).
        let quiet = srv.client(rp(None)).await;
        let browser = Browser::new(&srv);

        // Step 1: one browser session, three clients get ID tokens in it.
        let t1 = sign_in(&srv.http, &srv.url, &browser, &rp1, "ada@example.com").await;
        let t2 = sign_in(&srv.http, &srv.url, &browser, &rp2, "ada@example.com").await;
        let t3 = sign_in(&srv.http, &srv.url, &browser, &quiet, "ada@example.com").await;
        let (c1, c2, c3) = (id_claims(&srv, &t1), id_claims(&srv, &t2), id_claims(&srv, &t3));
        let sid = c1.sid.clone().expect("the ID token carries sid");
        assert_eq!(c2.sid.as_deref(), Some(sid.as_str()), "one session, one sid");
        assert_eq!(c3.sid.as_deref(), Some(sid.as_str()));

        // Step 2: RP-initiated logout ends the session.
        let out = browser.get("/v1/oauth/logout").await;
        assert_eq!(out.status, 200, "{}", out.body);

        // Step 3: both registered clients hear of it, once each.
        wait_until("both clients notified", LIMIT, || async { rx.count() >= 2 }).await;
        let jwks = srv.jwks().await;
        let l1 = rx.tokens("/rp1");
        let l2 = rx.tokens("/rp2");
        assert_eq!((l1.len(), l2.len()), (1, 1));
        let a = check_logout_token(&l1[0], &jwks, &srv.url, &rp1.id, &user, &sid);
        let b = check_logout_token(&l2[0], &jwks, &srv.url, &rp2.id, &user, &sid);
        assert_ne!(a.jti, b.jti);

        // Step 4: each message delivered on its first attempt, and audited.
        let states = outbox(&srv).await;
        assert_eq!(states.len(), 2);
        assert!(states.iter().all(|s| s.delivered && s.attempts == 1), "{states:?}");
        srv.server.app.audit().flush().await;
        let events = srv.server.app.store().list_audit_events(&AuditFilter {
            user_id: Some(user.clone()),
            since: None,
            limit: 100,
        }).await.unwrap();
        let delivered: Vec<_> = events.iter()
            .filter(|e| e.kind == "backchannel_logout" && e.outcome == "success")
            .collect();
        assert_eq!(delivered.len(), 2, "{events:?}");

        // Step 5: a second logout (no session any more) sends nothing new.
        browser.get("/v1/oauth/logout").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.count(), 2);
    }
}

both_backends! {
    async fn user_revoke_sessions_and_user_disable_notify(db) {
        let srv = fast(&db).await;
        let rx = Receiver::start().await;
        let user = srv.user("grace@example.com", &[]).await;
        let rp1 = srv.client(rp(Some(uri_at(rx.addr.port(), "/rp1")))).await;
        let rp2 = srv.client(rp(Some(uri_at(rx.addr.port(), "/rp2")))).await;

        // Step 1: two browsers (two sessions); rp1 in the first, rp1 and
        // rp2 in the second.
        let b1 = Browser::new(&srv);
        let b2 = Browser::new(&srv);
        let s1 = id_claims(&srv, &sign_in(&srv.http, &srv.url, &b1, &rp1, "grace@example.com").await).sid.unwrap();
        let s2 = id_claims(&srv, &sign_in(&srv.http, &srv.url, &b2, &rp1, "grace@example.com").await).sid.unwrap();
        sign_in(&srv.http, &srv.url, &b2, &rp2, "grace@example.com").await;
        assert_ne!(s1, s2);

        // Step 2: `latchkey user revoke-sessions` (another process) ends
        // both; this server's worker delivers what that process queued.
        db.cli_json(&["user", "revoke-sessions", &user, "--json"]);
        // The CLI stamps its rows by the system clock; this server runs by
        // its manual one, which must reach that moment.
        srv.clock.advance(60);
        wait_until("three notices", LIMIT, || async { rx.count() >= 3 }).await;
        let jwks = srv.jwks().await;
        let mut sids: Vec<String> = Vec::new();
        for t in rx.tokens("/rp1") {
            let sid = verify_with_jwks::<LogoutTokenClaims>(
                &t, &jwks, jsonwebtoken::Algorithm::RS256, &srv.url, &rp1.id,
            ).unwrap().1.sid;
            sids.push(check_logout_token(&t, &jwks, &srv.url, &rp1.id, &user, &sid).sid);
        }
        sids.sort();
        let mut want = vec![s1.clone(), s2.clone()];
        want.sort();
        assert_eq!(sids, want, "rp1 hears of both sessions");
        let l2 = rx.tokens("/rp2");
        assert_eq!(l2.len(), 1);
        check_logout_token(&l2[0], &jwks, &srv.url, &rp2.id, &user, &s2);
        // The session is really gone: the next authorization asks to log in.
        let again = b1.authorize(&code_params(&rp1.id, &pkce().1, "openid")).await;
        assert!(again.location.unwrap_or_default().starts_with("/login"));

        // Step 3: a new session, then `latchkey user disable`.
        let s3 = id_claims(&srv, &sign_in(&srv.http, &srv.url, &b1, &rp2, "grace@example.com").await).sid.unwrap();
        db.cli_json(&["user", "disable", &user, "--json"]);
        srv.clock.advance(60);
        wait_until("the disable notice", LIMIT, || async { rx.tokens("/rp2").len() >= 2 }).await;
        let l2 = rx.tokens("/rp2");
        check_logout_token(&l2[1], &jwks, &srv.url, &rp2.id, &user, &s3);
        assert_eq!(rx.count(), 4, "nothing else was sent");
    }
}

both_backends! {
    async fn a_receiver_that_is_down_is_retried_until_it_is_up(db) {
        let srv = fast(&db).await;
        let port = free_port();
        let user = srv.user("lin@example.com", &[]).await;
        let client = srv.client(rp(Some(uri_at(port, "/logout")))).await;
        let browser = Browser::new(&srv);
        let sid = id_claims(&srv, &sign_in(&srv.http, &srv.url, &browser, &client, "lin@example.com").await).sid.unwrap();

        // Step 1: logout while nothing listens on the client's port: the
        // first attempt fails and the message waits for its backoff.
        browser.get("/v1/oauth/logout").await;
        wait_until("a failed first attempt", LIMIT, || async {
            outbox(&srv).await.first().is_some_and(|s| s.attempts >= 1 && s.last_error.is_some())
        }).await;
        let s = &outbox(&srv).await[0];
        assert!(!s.delivered && s.done_at.is_none(), "{s:?}");

        // Step 2: the receiver comes up; the injected clock passes the
        // backoff; the next attempt delivers.
        let rx = Receiver::start_on(port).await;
        for _ in 0..10 {
            srv.clock.advance(300);
            if rx.count() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        wait_until("delivered after the receiver came up", LIMIT, || async { rx.count() >= 1 }).await;
        let jwks = srv.jwks().await;
        check_logout_token(&rx.tokens("/logout")[0], &jwks, &srv.url, &client.id, &user, &sid);
        wait_until("recorded delivered", LIMIT, || async {
            outbox(&srv).await[0].delivered
        }).await;
        let s = &outbox(&srv).await[0];
        assert!(s.attempts >= 2, "{s:?}");
        assert_eq!(rx.count(), 1);

        // Step 3: the failures and the success are in the audit trail.
        srv.server.app.audit().flush().await;
        let events = srv.server.app.store().list_audit_events(&AuditFilter {
            user_id: Some(user.clone()),
            since: None,
            limit: 100,
        }).await.unwrap();
        let kinds: Vec<&str> = events.iter()
            .filter(|e| e.kind == "backchannel_logout")
            .map(|e| e.outcome.as_str())
            .collect();
        assert!(kinds.contains(&"failure") && kinds.last() == Some(&"success"), "{kinds:?}");
    }
}

/// Registers a code client with a back-channel URI through the CLI; returns
/// (id, secret).
fn cli_client(db: &TestDb, backchannel: &str) -> TestClient {
    let out = db.cli_json(&[
        "client",
        "create",
        "--name",
        "RP",
        "--redirect-uri",
        REDIRECT_URI,
        "--backchannel-logout-uri",
        backchannel,
        "--json",
    ]);
    TestClient {
        id: out["client_id"].as_str().unwrap().to_owned(),
        secret: out["client_secret"].as_str().map(str::to_owned),
    }
}

fn cli_user(db: &TestDb, email: &str) -> String {
    let out = db.cli_with_stdin(
        &[
            "user",
            "create",
            "--email",
            email,
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{}\n", crate::common::first_party::PASSWORD)),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn outbox_of(db: &TestDb) -> Vec<MessageState> {
    let store = db.store().await;
    let out = store.list_outbox("backchannel_logout").await.unwrap();
    store.close().await;
    out
}

both_backends! {
    async fn a_server_killed_before_delivering_delivers_after_restart(db) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let rx_port = free_port();
        let client = cli_client(&db, &uri_at(rx_port, "/logout"));
        let user = cli_user(&db, "kim@example.com");
        let port = free_port();
        let env = [("LATCHKEY_OUTBOX_POLL_INTERVAL_MS", "50")];
        let mut first = Process::start(&db, port, &log, &env).await;
        let http = reqwest::Client::new();

        // Step 1: a session with an ID token, then the logout, while the
        // receiver is down: the notice is queued and fails its first try.
        let browser = Browser::at(&first.url);
        let tokens = sign_in(&http, &first.url, &browser, &client, "kim@example.com").await;
        browser.get("/v1/oauth/logout").await;
        wait_until("a failed attempt", LIMIT, || async {
            outbox_of(&db).await.first().is_some_and(|s| s.attempts >= 1 && s.last_error.is_some())
        }).await;

        // Step 2: kill -9 before it could deliver; the receiver comes up.
        first.kill9();
        assert!(outbox_of(&db).await.iter().all(|s| !s.delivered));
        let rx = Receiver::start_on(rx_port).await;

        // Step 3: a new process (same address, so the same issuer) delivers
        // it, after the backoff.
        let second = Process::start(&db, port, &log, &env).await;
        wait_until("delivered by the restarted server", Duration::from_secs(60), || async {
            rx.count() >= 1
        }).await;
        let jwks: latchkey_proto::JwkSet = http.get(format!("{}/.well-known/jwks.json", second.url))
            .send().await.unwrap().json().await.unwrap();
        let id: serde_json::Value = verify_with_jwks(
            tokens.id_token.as_deref().unwrap(), &jwks, jsonwebtoken::Algorithm::RS256, &first.url, &client.id,
        ).unwrap().1;
        let sid = id["sid"].as_str().unwrap();
        check_logout_token(&rx.tokens("/logout")[0], &jwks, &first.url, &client.id, &user, sid);
        wait_until("recorded delivered", LIMIT, || async {
            outbox_of(&db).await.first().is_some_and(|s| s.delivered)
        }).await;
        assert_eq!(rx.count(), 1);
    }
}

both_backends! {
    async fn two_processes_deliver_each_notice_once(db) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let rx = Receiver::start().await;
        let rp1 = cli_client(&db, &uri_at(rx.addr.port(), "/rp1"));
        let rp2 = cli_client(&db, &uri_at(rx.addr.port(), "/rp2"));
        let user = cli_user(&db, "sam@example.com");
        let env = [("LATCHKEY_OUTBOX_POLL_INTERVAL_MS", "20")];
        let a = Process::start(&db, free_port(), &log, &env).await;
        let b = Process::start(&db, free_port(), &log, &env).await;
        // Both processes share one issuer in production; here each names
        // its own URL, and the sessions are made through `a`.
        let http = reqwest::Client::new();

        // Step 1: five sessions, each with ID tokens for both clients.
        let mut browsers = Vec::new();
        for _ in 0..5 {
            let browser = Browser::at(&a.url);
            sign_in(&http, &a.url, &browser, &rp1, "sam@example.com").await;
            sign_in(&http, &a.url, &browser, &rp2, "sam@example.com").await;
            browsers.push(browser);
        }

        // Step 2: one command ends all five: ten notices, which both
        // processes' workers race for.
        db.cli_json(&["user", "revoke-sessions", &user, "--json"]);
        wait_until("ten notices", LIMIT, || async { rx.count() >= 10 }).await;
        // Give a duplicate every chance to show up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = rx.got.lock().unwrap().clone();
        assert_eq!(got.len(), 10, "each notice exactly once");
        let mut jtis: Vec<String> = got.iter().map(|(_, t)| {
            let payload = t.split('.').nth(1).unwrap();
            use base64::Engine as _;
            let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
            serde_json::from_slice::<serde_json::Value>(&json).unwrap()["jti"].as_str().unwrap().to_owned()
        }).collect();
        jtis.sort();
        jtis.dedup();
        assert_eq!(jtis.len(), 10);
        let states = outbox_of(&db).await;
        assert_eq!(states.len(), 10);
        assert!(states.iter().all(|s| s.delivered && s.attempts == 1), "{states:?}");
        drop((a, b));
    }
}

both_backends! {
    /// The store's contract for session ends: a session's clients are taken
    /// (and their notices queued) once, in the transaction that ends it;
    /// recording is idempotent; expired records are purged.
    async fn ending_sessions_takes_their_clients_once(db) {
        use latchkey::core::clients::ClientStore as _;
        use latchkey::core::secret::SecretHash;
        use latchkey::core::sessions::{SessionClient, SessionStore as _};
        use latchkey::core::users::{NewUser, UserStore as _};
        let store = db.store().await;
        let now = 1_000_000;
        let user = NewUser { email: "u@example.com".into(), ..NewUser::default() }
            .build("h".into(), now).unwrap();
        store.insert_user(&user).await.unwrap();
        let mut clients = Vec::new();
        for _ in 0..2 {
            let (c, _) = rp(Some("http://127.0.0.1:9/bc".into())).build(now).unwrap();
            store.insert_client(&c).await.unwrap();
            clients.push(c.id);
        }
        let sc = |session: &str, i: usize| SessionClient {
            session: SecretHash::of(session),
            sid: format!("sid-{session}"),
            client_id: clients[i].clone(),
            user_id: user.id.clone(),
        };
        let queued = || async { store.list_outbox("backchannel_logout").await.unwrap().len() };
        // Step 1: session A has both clients (one recorded twice), B, C and
        // D one each.
        for (session, i) in [("A", 0), ("A", 1), ("A", 1), ("B", 0), ("C", 1), ("D", 0)] {
            store.record_session_client(&sc(session, i), now, now + 100).await.unwrap();
        }
        // Step 2: ending A queues two notices; ending it again none.
        let a = SecretHash::of("A");
        assert_eq!(store.delete_session(&a, now).await.unwrap(), 2);
        assert_eq!(store.delete_session(&a, now).await.unwrap(), 0);
        assert_eq!(queued().await, 2);
        // Step 3: the account page's sign-out of B (B has no session row
        // here, so nothing is deleted and nothing queued: the user check
        // comes first); everything but C ends D.
        assert!(!store.delete_user_session(&user.id, &SecretHash::of("B"), now).await.unwrap());
        assert_eq!(queued().await, 2);
        store.delete_other_sessions(&user.id, &SecretHash::of("C"), now).await.unwrap();
        assert_eq!(queued().await, 4, "B and D, not C");
        // Step 4: ending the user's sessions takes C's.
        store.delete_user_sessions(&user.id, now).await.unwrap();
        assert_eq!(queued().await, 5);
        store.delete_user_sessions(&user.id, now).await.unwrap();
        assert_eq!(queued().await, 5);
        // Step 5: an expired record is purged and never notified.
        store.record_session_client(&sc("E", 0), now, now + 10).await.unwrap();
        store.purge_sessions(now + 10).await.unwrap();
        assert_eq!(store.delete_session(&SecretHash::of("E"), now).await.unwrap(), 0);
    }
}

/// The `session` handle of the account page marked "This browser".
fn this_browser(body: &str) -> String {
    let at = body
        .find("<strong>This browser</strong>")
        .expect("the current session");
    let rest = &body[at..];
    let key = "name=\"session\" value=\"";
    let start = rest.find(key).unwrap() + key.len();
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

both_backends! {
    /// The accounts triggers: signing another browser out on `/account`, a
    /// password change (ends every other session) and a password reset
    /// (ends them all) each notify the clients of exactly the sessions
    /// they end.
    async fn account_page_sign_out_password_change_and_reset_notify(db) {
        use crate::accounts::{NEW_PASSWORD, post_json, server};
        use crate::common::first_party::{PASSWORD, first_party};
        use crate::common::mail::MailCatcher;
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let rx = Receiver::start().await;
        let user = srv.user("mo@example.com", &[]).await;
        let rp1 = srv.client(rp(Some(uri_at(rx.addr.port(), "/rp1")))).await;
        let app = srv.client(first_party(latchkey::core::clients::TokenDelivery::Body)).await;
        let jwks = srv.jwks().await;
        let sid_of = |t: &TokenResponse| id_claims(&srv, t).sid.unwrap();
        let last_sid = |n: usize| {
            let tokens = rx.tokens("/rp1");
            assert_eq!(tokens.len(), n, "exactly {n} notices so far");
            check_logout_token(&tokens[n - 1], &jwks, &srv.url, &rp1.id, &user,
                &verify_with_jwks::<LogoutTokenClaims>(&tokens[n - 1], &jwks, jsonwebtoken::Algorithm::RS256, &srv.url, &rp1.id).unwrap().1.sid).sid
        };

        // Step 1: three browsers signed in to rp1.
        let (b1, b2, b3) = (Browser::new(&srv), Browser::new(&srv), Browser::new(&srv));
        let s1 = sid_of(&sign_in(&srv.http, &srv.url, &b1, &rp1, "mo@example.com").await);
        let s2 = sid_of(&sign_in(&srv.http, &srv.url, &b2, &rp1, "mo@example.com").await);
        let s3 = sid_of(&sign_in(&srv.http, &srv.url, &b3, &rp1, "mo@example.com").await);

        // Step 2: from b1's account page, sign b2 out: rp1 hears of s2.
        let page = b1.get("/account").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.inputs()["csrf_token"].clone();
        let mine = this_browser(&page.body);
        // The other two: sign out the one that is b2's by trying each
        // against b2's own page afterwards.
        let handles: Vec<String> = {
            let key = "name=\"session\" value=\"";
            page.body.match_indices(key).map(|(i, _)| {
                let rest = &page.body[i + key.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            }).filter(|h| *h != mine).collect()
        };
        assert_eq!(handles.len(), 2);
        let b2_handle = this_browser(&b2.get("/account").await.body);
        let out = b1.post("/account/sign-out", &[("csrf_token", csrf.as_str()), ("session", b2_handle.as_str())]).await;
        assert_eq!(out.status, 303);
        wait_until("the sign-out notice", LIMIT, || async { rx.count() >= 1 }).await;
        assert_eq!(last_sid(1), s2);

        // Step 3: change the password on b1: b3's session ends, b1's stays.
        let out = b1.post("/account/password", &[("csrf_token", csrf.as_str()), ("current_password", PASSWORD), ("new_password", NEW_PASSWORD)]).await;
        assert_eq!(out.location.as_deref(), Some("/account?done=password"));
        wait_until("the password-change notice", LIMIT, || async { rx.count() >= 2 }).await;
        assert_eq!(last_sid(2), s3);

        // Step 4: a password reset ends the rest: b1's session.
        let resp = post_json(&srv, &app, "/v1/password/forgot", serde_json::json!({"email": "mo@example.com"})).await;
        assert_eq!(resp.status(), 202);
        let token = mail.wait_for("mo@example.com", 1).await[0].token("/reset-password").unwrap();
        let resp = post_json(&srv, &app, "/v1/password/reset",
            serde_json::json!({"token": token, "password": "an entirely new passphrase"})).await;
        assert_eq!(resp.status(), 204);
        wait_until("the reset notice", LIMIT, || async { rx.count() >= 3 }).await;
        assert_eq!(last_sid(3), s1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.count(), 3, "nothing else");
    }
}
