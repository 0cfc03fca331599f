//! Wiring: settings + store + keys + clock into a running server, and the
//! background work each process does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::core::Authority;
use crate::core::clock::SharedClock;
use crate::core::outbox::{Deliverer, Worker, WorkerConfig};
use crate::http::tls::Tls;
use crate::http::{self, AppState};
use crate::store::Store;

/// Checks the pages (a theme that does not render stops the start here,
/// naming its file), connects to the database, migrates it, and loads (or
/// creates) the signing keys.
pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<AppState> {
    http::load_pages(&settings)?;
    let store = Store::connect(&settings).await?;
    store.migrate().await?;
    let app = Authority::init(Arc::new(settings), store, clock).await?;
    Ok(Arc::new(app))
}

/// A running server: its address, its state, and the handle to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub app: AppState,
    /// The listener's TLS, when `tls_cert_file` and `tls_key_file` are set.
    pub tls: Option<Arc<Tls>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    background: JoinHandle<()>,
    outbox: JoinHandle<()>,
}

impl Server {
    /// Binds `settings.bind` and serves until [`Server::shutdown`] (or the
    /// `shutdown` future of [`run`]).
    ///
    /// With `tls_cert_file` and `tls_key_file` it speaks HTTPS, and SIGHUP
    /// reloads the pair ([`Tls::reload`]); files that do not load stop the
    /// start here, before anything else, with an error naming them.
    pub async fn start(settings: Settings, clock: SharedClock) -> anyhow::Result<Server> {
        let tls = match (&settings.tls_cert_file, &settings.tls_key_file) {
            (Some(cert), Some(key)) => Some(Arc::new(Tls::load(cert.as_ref(), key.as_ref())?)),
            _ => None,
        };
        // Before anything is served: a SIGHUP that arrives once the server
        // answers (an operator, or a test that waited for readiness) must
        // find its handler, or the signal's default action ends the process.
        reload_on_sighup(tls.clone());
        let listener = TcpListener::bind(&settings.bind).await?;
        let app = build(settings, clock).await?;
        Ok(Server::from_parts_with_tls(listener, app, tls))
    }

    /// A plain-HTTP server on `listener`.
    pub fn from_parts(listener: TcpListener, app: AppState) -> Server {
        Server::from_parts_with_tls(listener, app, None)
    }

    /// A server on `listener`, over TLS when `tls` is given.
    pub fn from_parts_with_tls(
        listener: TcpListener,
        app: AppState,
        tls: Option<Arc<Tls>>,
    ) -> Server {
        let (stop, mut stopped) = watch::channel(false);
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let grace = Duration::from_secs(app.settings().shutdown_grace_seconds);
        let router = http::router(app.clone());
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let task = tokio::spawn(async move {
            http::serve_with(
                listener,
                router,
                acceptor,
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
                grace,
            )
            .await;
        });
        let background = spawn_background(app.clone());
        let outbox = spawn_outbox(app.clone(), deliverers(&app));
        Server {
            addr,
            app,
            tls,
            stop,
            task,
            background,
            outbox,
        }
    }

    /// The base URL of the listener (not necessarily the issuer).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, drains requests in flight, stops background work.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.background.abort();
        self.outbox.abort();
        // Audit rows still queued are written before the pool closes.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.app.audit().flush()).await;
        self.app.store().close().await;
    }

    /// Waits until the server stops by itself (it does not, short of a panic).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }

    /// Asks the server to stop; [`Server::shutdown`] then waits for it.
    pub fn trigger_shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

/// On SIGHUP, reloads the TLS certificate and key (a pair that does not load
/// is logged and the old one kept). Without TLS there is nothing to reload,
/// and the signal is logged rather than ending the process, as an operator
/// who sends it expects a reload, not a stop.
fn reload_on_sighup(tls: Option<Arc<Tls>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; certificates will not reload");
                return;
            }
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match &tls {
                    None => tracing::info!("SIGHUP received; no TLS configured, nothing to reload"),
                    Some(tls) => match tls.reload() {
                        Ok(()) => {
                            tracing::info!("SIGHUP received; TLS certificate and key reloaded")
                        }
                        Err(e) => tracing::error!(
                            error = format!("{e:#}"),
                            "SIGHUP received; TLS reload failed, keeping the previous certificate"
                        ),
                    },
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// The periodic work of every process: reloading the key ring (to see a
/// rotation made elsewhere), and purging whatever has expired (tokens,
/// counters, keys, old audit events: `core::housekeeping`, the one place). Safe to run in every process at once:
/// each step is idempotent.
pub fn spawn_background(app: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(app.settings().key_refresh_seconds);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut purge_tick = tokio::time::interval(Duration::from_secs(
            crate::core::housekeeping::PURGE_PERIOD_SECONDS,
        ));
        purge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => reload_keys(&app).await,
                _ = purge_tick.tick() => purge(&app).await,
            }
        }
    })
}

/// The deliverers of the outbox's message kinds (e-mail, back-channel
/// logout): one per kind, built from the settings.
pub fn deliverers(app: &AppState) -> Vec<Arc<dyn Deliverer>> {
    let mut out: Vec<Arc<dyn Deliverer>> = Vec::new();
    match crate::mailer::Mailer::from_settings(app.settings()) {
        Ok(mailer) => out.push(Arc::new(mailer)),
        // The settings were checked at load; should this fail all the same,
        // e-mails wait in the outbox for a process that can send them.
        Err(e) => tracing::error!(error = format!("{e:#}"), "the mailer could not start"),
    }
    match crate::notify::BackchannelLogout::new(app.clone()) {
        Ok(d) => out.push(Arc::new(d)),
        // Without it the messages wait in the outbox for a process that has one.
        Err(e) => tracing::error!(error = %e, "the back-channel logout deliverer could not start"),
    }
    out
}

/// The outbox worker of this process (`core::outbox`): delivers the messages
/// that flows committed, in every process at once (leases keep them apart).
/// Aborting it mid-delivery is safe: the row's lease passes and another
/// round (here or elsewhere) tries again.
pub fn spawn_outbox(app: AppState, deliverers: Vec<Arc<dyn Deliverer>>) -> JoinHandle<()> {
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(app.settings().outbox_poll_interval_ms),
        lease_seconds: i64::try_from(app.settings().outbox_lease_seconds).unwrap_or(i64::MAX),
        ..WorkerConfig::default()
    };
    match Worker::new(
        app.clock().clone(),
        config,
        app.outbox().clone(),
        deliverers,
    ) {
        Ok(worker) => tokio::spawn(worker.run(app.store().clone())),
        Err(e) => {
            tracing::error!(error = %e, "the outbox worker could not start");
            tokio::spawn(async {})
        }
    }
}

async fn reload_keys(app: &AppState) {
    match app.reload_keys().await {
        Ok(true) => tracing::info!("signing keys changed; key ring reloaded"),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones")
        }
    }
}

async fn purge(app: &AppState) {
    match crate::core::housekeeping::purge_expired(app).await {
        Ok(purged) => tracing::debug!(?purged, "expired rows purged"),
        Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
    }
}
