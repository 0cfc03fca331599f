//! `latchkey serve` as a real process: for the tests that need signals
//! (graceful shutdown, `kill -9`) or the process's whole log output.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::TestDb;

/// A `latchkey serve` child process, killed on drop.
pub struct Process {
    child: Option<Child>,
    pub url: String,
    /// Where its stderr (the logs) goes.
    pub log: PathBuf,
}

/// A free loopback port (bound, then released for the child to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Process {
    /// Starts `latchkey serve` on `port` (issuer = its own URL), logging to
    /// `log` (appended), and waits until `/health/ready` answers 200.
    pub async fn start(db: &TestDb, port: u16, log: &Path, env: &[(&str, &str)]) -> Process {
        Process::start_with(db, "http", port, log, env, &reqwest::Client::new()).await
    }

    /// [`Process::start`] with HTTPS (`env` names the certificate and key):
    /// readiness is checked with `http`, which must trust the certificate.
    pub async fn start_https(
        db: &TestDb,
        port: u16,
        log: &Path,
        env: &[(&str, &str)],
        http: &reqwest::Client,
    ) -> Process {
        Process::start_with(db, "https", port, log, env, http).await
    }

    async fn start_with(
        db: &TestDb,
        scheme: &str,
        port: u16,
        log: &Path,
        env: &[(&str, &str)],
        http: &reqwest::Client,
    ) -> Process {
        let url = format!("{scheme}://127.0.0.1:{port}");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        cmd.args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &url,
        ])
        .env("LATCHKEY_DATABASE_URL", &db.url)
        .env("LATCHKEY_LOG_LEVEL", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut p = Process {
            child: Some(cmd.spawn().unwrap()),

            url,
            log: log.to_owned(),
        };
        let start = Instant::now();
        loop {
            let ready = http
                .get(format!("{}/health/ready", p.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return p;
            }
            if let Some(status) = p.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "latchkey serve exited with {status}: {}",
                    std::fs::read_to_string(&p.log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "latchkey serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal with `kill(1)` (no libc binding in the tests).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}
