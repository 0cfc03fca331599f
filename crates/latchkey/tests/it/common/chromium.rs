//! Headless Chromium driven over WebDriver (`fantoccini`), for the tests
//! that need a real browser's rules (CORS, cookies). Needs `chromium` and
//! `chromedriver` on the PATH (Debian: the `chromium` and `chromium-driver`
//! packages); without them [`Chromium::start`] prints why and returns
//! `None`, unless `LATCHKEY_REQUIRE_BROWSER=1` (CI), where it fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::ClientBuilder;

/// A browser session and the chromedriver behind it (killed on drop).
pub struct Chromium {
    pub client: fantoccini::Client,
    /// chromedriver's base URL, for the commands fantoccini does not
    /// speak (WebAuthn's virtual authenticators).
    driver_url: String,
    _driver: Driver,
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_absolute() && p.exists())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|d| candidates.iter().map(move |c| d.join(c)))
                .find(|p| p.exists())
        })
}

impl Chromium {
    pub async fn start() -> Option<Chromium> {
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
            return None;
        };
        let port = super::process::free_port();
        let driver = Driver(
            Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "goog:chromeOptions": {
                    "binary": chrome_bin,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=900,900", "--no-first-run"]
                }
            }))
            .unwrap();
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        for _ in 0..100 {
            if let Ok(client) = builder.connect(&format!("http://127.0.0.1:{port}")).await {
                return Some(Chromium {
                    client,
                    driver_url: format!("http://127.0.0.1:{port}"),
                    _driver: driver,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }
}

/// A virtual authenticator of WebAuthn's WebDriver extension (W3C
/// WebAuthn Level 2 §11): a platform authenticator that holds discoverable
/// credentials and verifies its user by itself.
pub struct VirtualAuthenticator {
    pub id: String,
}

impl Chromium {
    /// Sends a WebDriver command of this session: `path` under
    /// `/session/{id}`; returns the answer's `value`.
    pub async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let session = self.client.session_id().await.unwrap().unwrap();
        let url = format!("{}/session/{session}{path}", self.driver_url);
        let http = reqwest::Client::new();
        let mut req = http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer["value"].clone()
    }

    /// Adds a virtual authenticator (CTAP2, internal, resident keys, user
    /// verification that succeeds).
    pub async fn add_authenticator(&self) -> VirtualAuthenticator {
        let id = self
            .command(
                reqwest::Method::POST,
                "/webauthn/authenticator",
                Some(serde_json::json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                })),
            )
            .await;
        VirtualAuthenticator {
            id: id.as_str().unwrap().to_owned(),
        }
    }

    pub async fn remove_authenticator(&self, a: &VirtualAuthenticator) {
        self.command(
            reqwest::Method::DELETE,
            &format!("/webauthn/authenticator/{}", a.id),
            None,
        )
        .await;
    }

    /// The credentials `a` holds, private keys and counters included.
    pub async fn credentials(&self, a: &VirtualAuthenticator) -> Vec<serde_json::Value> {
        let v = self
            .command(
                reqwest::Method::GET,
                &format!("/webauthn/authenticator/{}/credentials", a.id),
                None,
            )
            .await;
        v.as_array().unwrap().clone()
    }

    /// Puts `credential` (as [`Chromium::credentials`] returns them) into
    /// `a`.
    pub async fn add_credential(&self, a: &VirtualAuthenticator, credential: serde_json::Value) {
        self.command(
            reqwest::Method::POST,
            &format!("/webauthn/authenticator/{}/credential", a.id),
            Some(credential),
        )
        .await;
    }
}
