//! One end-to-end run in a real browser: headless Chromium driven over
//! WebDriver (`fantoccini`) through the login page, the consent page and the
//! redirect back, with a screenshot of each page in `target/screenshots/`.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian: the `chromium`
//! and `chromium-driver` packages). Without them the test prints why and
//! passes, unless `LATCHKEY_REQUIRE_BROWSER=1` (CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

use crate::common::browser::{REDIRECT_URI, code_client, code_params, pkce};
use crate::common::{TestDb, TestServer};

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|d| candidates.iter().map(move |c| d.join(c)))
                .find(|p| p.exists())
        })
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    // tests run in crates/latchkey; the workspace target is two levels up.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_and_consents() {
    let required = std::env::var("LATCHKEY_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let driver_bin = find(&["/usr/bin/chromedriver", "chromedriver"]);
    let chrome_bin = find(&[
        "/usr/bin/chromium",
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]);
    let (Some(driver_bin), Some(chrome_bin)) = (driver_bin, chrome_bin) else {
        assert!(
            !required,
            "LATCHKEY_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed"
        );
        eprintln!(
            "skipped: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
        return;
    };

    let db = TestDb::sqlite().await;
    let srv = TestServer::start(&db).await;
    let client = srv.client(code_client(true)).await;
    srv.user("ada@example.com", &[]).await;

    // Step 1: chromedriver on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = Driver(
        Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": chrome_bin,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=900,900", "--no-first-run"]
        }
    })).unwrap();
    // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    let mut browser = None;
    for _ in 0..50 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => {
                browser = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let b = browser.expect("chromedriver did not start");
    let shots = screenshots_dir();
    let shot = |name: &'static str| {
        let b = b.clone();
        let path = shots.join(name);
        async move {
            let png = b.screenshot().await.unwrap();
            std::fs::write(&path, png).unwrap();
        }
    };

    // Step 2: the authorization request lands on the login page.
    let (_verifier, challenge) = pkce();
    let params = code_params(&client.id, &challenge, "openid profile email");
    let url = url::Url::parse_with_params(&srv.url("/v1/oauth/authorize"), &params).unwrap();
    b.goto(url.as_str()).await.unwrap();
    assert!(b.current_url().await.unwrap().path().starts_with("/login"));
    shot("1-login.png").await;

    // Step 3: sign in.
    b.find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("ada@example.com")
        .await
        .unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(crate::common::first_party::PASSWORD)
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("button[value=allow]"))
        .await
        .unwrap();
    assert!(
        b.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/consent")
    );
    shot("2-consent.png").await;

    // Step 4: allow; the browser is sent to the client's redirect_uri (which
    // nothing serves, so only the address matters).
    b.find(Locator::Css("button[value=allow]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut landed = None;
    for _ in 0..50 {
        let u = b.current_url().await.unwrap();
        if u.as_str().starts_with(REDIRECT_URI) {
            landed = Some(u);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let landed = landed.expect("the browser never reached the redirect_uri");
    let q: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
    assert!(q.contains_key("code"));
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));

    // Step 5: the signed-out page.
    b.goto(&srv.url("/v1/oauth/logout")).await.unwrap();
    shot("3-signed-out.png").await;
    b.close().await.unwrap();
}
