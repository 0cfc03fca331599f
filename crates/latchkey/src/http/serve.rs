//! The listener loop: hyper with explicit limits, plain or over TLS
//! ([`super::tls`]), and a graceful shutdown that stops accepting, lets
//! requests in flight finish (for a bounded time), and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// Request heads (request line and headers) larger than this are refused by
/// hyper before any handler runs.
const MAX_HEAD_BYTES: usize = 32 * 1024;
const MAX_HEADERS: usize = 64;
/// A TLS handshake not done by then is dropped: a client that connects and
/// says nothing must not hold a task for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` in plain HTTP until `shutdown` resolves,
/// then drains for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    serve_with(listener, router, None, shutdown, grace).await;
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A client that sends its request and closes its end (a load tester
        // stopping, a browser navigating away) still has that request
        // carried out to the end: without this, hyper drops the handler the
        // moment it reads the end of the stream, at whatever await it
        // stands. A sign-in must be checked and counted as what it was
        // (docs/signin-limits.md), not cut short at a point the client
        // chose. The answer then goes nowhere.
        .half_close(true)
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(256);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = router
                    .clone()
                    .map_request(move |mut req: hyper::Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                        req
                    });
                let service = TowerToHyperService::new(service);
                let Some(acceptor) = tls.clone() else {
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        // Connection errors (resets, timeouts) are the client's business.
                        let _ = conn.await;
                    });
                    continue;
                };
                // The handshake runs in the connection's task, not here: a slow
                // client must not hold up the accept loop.
                let watcher = graceful.watcher();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let Some(stream) = handshake(&acceptor, stream).await else {
                        return;
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "requests still in flight after the grace period"
        );
    }
}

/// The server side of a TLS handshake, bounded in time. Failures (a client
/// that does not trust the certificate, speaks plain HTTP, or offers nothing
/// in common) are the client's business: logged at debug, never an error.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}
