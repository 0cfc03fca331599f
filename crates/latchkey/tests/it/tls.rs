//! HTTPS (docs/cors-and-tls.md): clients that verify a certificate issued
//! by a test CA made here, TLS 1.2 and 1.3, ALPN `h2`, and the real binary
//! reloading its certificate on SIGHUP without dropping a connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey::app::Server;
use latchkey::http::tls::Tls;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ProtocolVersion, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::common::TestDb;
use crate::common::process::{Process, free_port};

/// A certificate authority of the test's own, and the leaves it issues.
struct TestCa {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, as PEM, with the certificate's DER.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "latchkey test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { ca }
    }

    /// A certificate for `localhost` and 127.0.0.1, with a fresh key.
    fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "latchkey test server");
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn pem(&self) -> String {
        self.ca.pem()
    }

    /// An HTTPS client that trusts this CA only.
    fn reqwest(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.pem().as_bytes()).unwrap()])
            .build()
            .unwrap()
    }

    /// A TLS handshake with 127.0.0.1:`port` as `localhost`, offering only
    /// `versions` and `alpn`, trusting this CA only.
    async fn handshake(
        &self,
        addr: SocketAddr,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(addr).await?;
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    }
}

fn write_pair(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}

/// The certificate `process` presents to a new handshake; a failure says
/// what the process logged.
async fn served_certificate(
    ca: &TestCa,
    addr: SocketAddr,
    process: &Process,
) -> CertificateDer<'static> {
    let stream = ca
        .handshake(addr, rustls::ALL_VERSIONS, &[b"http/1.1"])
        .await
        .unwrap_or_else(|e| {
            panic!(
                "a new handshake with {addr} failed: {e}; the server logged:\n{}",
                process.logs()
            )
        });
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One HTTP/1.1 request on an open (kept-alive) connection; the status.
async fn get_on(stream: &mut TlsStream<TcpStream>, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection was closed");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return text[9..12].parse().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_tls12_tls13_and_h2() {
    let db = TestDb::sqlite().await;
    let ca = TestCa::new();
    let leaf = ca.leaf();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &leaf);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = db.settings();
    settings.issuer = format!("https://localhost:{}", addr.port());
    let app = latchkey::app::build(
        settings.validated().unwrap(),
        Arc::new(latchkey::core::clock::SystemClock),
    )
    .await
    .unwrap();
    let tls = Arc::new(Tls::load(&cert, &key).unwrap());
    let server = Server::from_parts_with_tls(listener, app, Some(tls));
    assert!(server.url().starts_with("https://"));

    // Step 1: each protocol version alone, and ALPN.
    for (versions, expected) in [
        (&[&rustls::version::TLS12][..], ProtocolVersion::TLSv1_2),
        (&[&rustls::version::TLS13][..], ProtocolVersion::TLSv1_3),
    ] {
        for (offered, negotiated) in [
            (&[&b"h2"[..], b"http/1.1"][..], &b"h2"[..]),
            (&[&b"http/1.1"[..]][..], &b"http/1.1"[..]),
        ] {
            let mut stream = ca.handshake(addr, versions, offered).await.unwrap();
            let conn = stream.get_ref().1;
            assert_eq!(conn.protocol_version(), Some(expected));
            assert_eq!(conn.alpn_protocol(), Some(negotiated));
            assert_eq!(conn.peer_certificates().unwrap()[0], leaf.der);
            if negotiated == b"http/1.1" {
                assert_eq!(get_on(&mut stream, "/health/live").await, 200);
            }
        }
    }

    // Step 2: a real HTTP client, verifying the certificate, over HTTP/2.
    let http = ca.reqwest();
    let resp = http
        .get(format!(
            "https://localhost:{}/.well-known/openid-configuration",
            addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let resp = http
        .get(format!("https://127.0.0.1:{}/health/live", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Step 3: a client that does not trust the CA, and one that speaks
    // plain HTTP to the TLS port, get nowhere; the server keeps serving.
    let stranger = reqwest::Client::builder().build().unwrap();
    assert!(
        stranger
            .get(format!("https://localhost:{}/health/live", addr.port()))
            .send()
            .await
            .is_err()
    );
    let plain =
        crate::common::raw_http(addr, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!plain.contains("200 OK"), "{plain}");
    assert_eq!(
        get_on(
            &mut ca
                .handshake(addr, rustls::ALL_VERSIONS, &[b"http/1.1"])
                .await
                .unwrap(),
            "/health/live"
        )
        .await,
        200
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let db = TestDb::sqlite().await;
    let ca = TestCa::new();
    let (first, second) = (ca.leaf(), ca.leaf());
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &first);
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = dir.path().join("serve.log");
    let mut process = Process::start_https(
        &db,
        port,
        &log,
        &[
            ("LATCHKEY_TLS_CERT_FILE", cert.to_str().unwrap()),
            ("LATCHKEY_TLS_KEY_FILE", key.to_str().unwrap()),
        ],
        &ca.reqwest(),
    )
    .await;
    assert_eq!(served_certificate(&ca, addr, &process).await, first.der);

    // Step 1: a connection opened before the reload.
    let mut before = ca
        .handshake(addr, rustls::ALL_VERSIONS, &[b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(get_on(&mut before, "/health/live").await, 200);

    // Step 2: renew the files, SIGHUP, and wait for new handshakes to get
    // the new certificate.
    write_pair(dir.path(), &second);
    process.signal("HUP");
    let start = Instant::now();
    while served_certificate(&ca, addr, &process).await != second.der {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the new certificate was never served: {}",
            process.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process.logs().contains("TLS certificate and key reloaded"));

    // Step 3: the old connection was not dropped, and still answers.
    assert_eq!(get_on(&mut before, "/health/live").await, 200);

    // Step 4: a broken renewal is refused, logged, and the last good
    // certificate stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    process.signal("HUP");
    let start = Instant::now();
    while !process.logs().contains("TLS reload failed") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            process.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = process.logs();
    assert!(
        logs.contains("tls_cert_file"),
        "the log names the file: {logs}"
    );
    assert!(
        !logs.contains(second.key_pem.lines().nth(1).unwrap()),
        "no key material in the logs"
    );
    assert_eq!(served_certificate(&ca, addr, &process).await, second.der);
    let resp = ca
        .reqwest()
        .get(format!("https://127.0.0.1:{port}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Step 5: the key no longer matching the certificate is refused too.
    write_pair(dir.path(), &second);
    std::fs::write(&key, &first.key_pem).unwrap();
    process.signal("HUP");
    let start = Instant::now();
    while !process.logs().contains("does not go with the certificate") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            process.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_certificate(&ca, addr, &process).await, second.der);
    process.signal("TERM");
    assert!(
        process
            .wait_exit(Duration::from_secs(30))
            .await
            .unwrap()
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_stop_the_start_with_a_clear_error() {
    let db = TestDb::sqlite().await;
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &ca.leaf());
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    for (cert_file, key_file, expected) in [
        (missing.as_path(), key.as_path(), "tls_cert_file"),
        (cert.as_path(), missing.as_path(), "tls_key_file"),
        (garbage.as_path(), key.as_path(), "no certificate"),
        (cert.as_path(), garbage.as_path(), "no PEM private key"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("LATCHKEY_DATABASE_URL", &db.url)
            .env("LATCHKEY_TLS_CERT_FILE", cert_file)
            .env("LATCHKEY_TLS_KEY_FILE", key_file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "started with {cert_file:?} {key_file:?}"
        );
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        let named = if expected == "tls_cert_file" || expected == "no certificate" {
            cert_file
        } else {
            key_file
        };
        assert!(
            stderr.contains(named.to_str().unwrap()),
            "names the file: {stderr}"
        );
    }
}
