//! HTTPS for deployments without a TLS-ending proxy (docs/cors-and-tls.md):
//! rustls with the aws-lc-rs provider, TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1`, the certificate chain and key from the PEM files
//! `tls_cert_file` and `tls_key_file`.
//!
//! [`Tls::reload`] (on SIGHUP) reads both files again and swaps the pair in
//! for the handshakes that follow; connections already established keep the
//! session they negotiated, so nothing is dropped. A pair that does not load
//! (unreadable, not PEM, a key that does not match the certificate) leaves
//! the old one in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// The listener's TLS configuration and the files it came from.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
}

/// Hands every handshake the pair loaded last.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

impl Tls {
    /// Loads the pair; an error names the file and what is wrong with it.
    pub fn load(cert_file: &Path, key_file: &Path) -> anyhow::Result<Tls> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let pair = load_pair(&provider, cert_file, key_file)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(pair)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS 1.2 and 1.3 with the aws-lc-rs provider")?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // HTTP/2 first, HTTP/1.1 for the clients that do not speak it.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads both files again and, if they load, serves the new pair from
    /// the next handshake on. On error nothing changes.
    pub fn reload(&self) -> anyhow::Result<()> {
        let pair = load_pair(&self.provider, &self.cert_file, &self.key_file)?;
        *self
            .resolver
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
        Ok(())
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

/// Only checks that the pair loads, for `latchkey config check`.
pub fn check_files(cert_file: &Path, key_file: &Path) -> Result<(), FileError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    load_pair(&provider, cert_file, key_file).map(|_| ())
}

/// What is wrong with one of the two files.
#[derive(Debug, thiserror::Error)]
#[error("{setting} {}: {message}", path.display())]
pub struct FileError {
    /// `tls_cert_file` or `tls_key_file`.
    pub setting: &'static str,
    pub path: PathBuf,
    pub message: String,
}

fn load_pair(
    provider: &CryptoProvider,
    cert_file: &Path,
    key_file: &Path,
) -> Result<CertifiedKey, FileError> {
    let cert_error = |message: String| FileError {
        setting: "tls_cert_file",
        path: cert_file.to_owned(),
        message,
    };
    let key_error = |message: String| FileError {
        setting: "tls_key_file",
        path: key_file.to_owned(),
        message,
    };
    let pem = std::fs::read(cert_file).map_err(|e| cert_error(format!("cannot read it: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(format!("not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(cert_error(
            "no certificate in it (a PEM \"BEGIN CERTIFICATE\" block, the server's \
             first, then its intermediates)"
                .into(),
        ));
    }
    let pem = std::fs::read(key_file).map_err(|e| key_error(format!("cannot read it: {e}")))?;
    // The parser's messages are not repeated: they could quote the key file.
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| key_error("no PEM private key in it (PKCS#8, PKCS#1 or SEC1)".into()))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        key_error(format!(
            "does not go with the certificate of tls_cert_file {}: {e}",
            cert_file.display()
        ))
    })
}
