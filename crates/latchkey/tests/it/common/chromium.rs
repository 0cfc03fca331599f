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
                    _driver: driver,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }
}
