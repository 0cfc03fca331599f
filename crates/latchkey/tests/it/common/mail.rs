//! A real SMTP server on 127.0.0.1 (`mailin-embedded`) that keeps every
//! message it receives, and helpers to read the links out of them.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// One message as received: its recipients and its raw data (headers and
/// body, as sent on the wire).
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The body decoded from quoted-printable if it was (soft line breaks
    /// joined, `=XX` decoded), for reading links.
    pub fn text(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map_or(self.data.as_str(), |(_, b)| b);
        let qp = self.data.to_ascii_lowercase().contains("quoted-printable");
        if !qp {
            return body.replace("\r\n", "\n");
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }

    /// The `Subject:` header.
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .to_owned()
    }

    /// The first link to `path` (e.g. `/verify-email`) in the body.
    pub fn link(&self, path: &str) -> Option<String> {
        let text = self.text();
        text.split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(&format!("{path}?token=")))
            .map(str::to_owned)
    }

    /// The token of the first link to `path`.
    pub fn token(&self, path: &str) -> Option<String> {
        let link = self.link(path)?;
        let url = url::Url::parse(&link).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    }
}

#[derive(Clone)]
struct Keep {
    inbox: Arc<Mutex<Vec<Received>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Keep {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox.lock().unwrap().push(Received {
            to: std::mem::take(&mut self.to),
            data: String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned(),
        });
        response::OK
    }
}

/// An SMTP server for one test. Its thread runs until the test binary
/// exits (the server has no stop; each test has its own port).
pub struct MailCatcher {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl MailCatcher {
    /// On a fresh port.
    pub fn start() -> MailCatcher {
        MailCatcher::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// On `port` (for a mail server that comes up late).
    pub fn start_on(port: u16) -> MailCatcher {
        MailCatcher::on(TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    fn on(listener: TcpListener) -> MailCatcher {
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Keep {
            inbox: inbox.clone(),
            to: Vec::new(),
            data: Vec::new(),
        });
        server
            .with_name("mail.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        MailCatcher { port, inbox }
    }

    /// `smtp_url` for latchkey.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    /// The messages to `address` (compared case-insensitively).
    pub fn to(&self, address: &str) -> Vec<Received> {
        let address = address.to_lowercase();
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.to_lowercase().contains(&address)))
            .collect()
    }

    /// Waits (at most 20 s) until `address` has received `n` messages.
    pub async fn wait_for(&self, address: &str, n: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.to(address);
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{address} received {} of {n} e-mails: {:?}",
                got.len(),
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
