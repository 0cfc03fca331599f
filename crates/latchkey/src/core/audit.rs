//! The audit trail: security events (sign-ins, lockouts, refresh-token reuse,
//! revocations, admin changes), each with its time, actor, client, address
//! and outcome. Every event is logged at once (tracing target `audit`) and
//! stored in the `audit_events` table.
//!
//! Request paths call [`AuditLog::record`], which never waits for the
//! database: the event goes on a bounded channel that one background task per
//! process drains, writing batches in one statement each. The hot path thus
//! pays no extra round trip, and a database outage never fails a sign-in
//! because its audit row could not be written (see ARCHITECTURE.md for the
//! trade-off: a crash can lose the last few events' rows, never their log
//! lines). Admin commands, which are not hot, write with [`write_now`].
//!
//! **Invariant:** no secret is ever an audit field: users and clients are
//! named by id, addresses are IP addresses, details are ids or reasons.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::clock::UnixTime;
use super::error::Result;

/// How many events may wait for the writer. Past that, events are still
/// logged but their rows are dropped (and counted), so that a stalled
/// database never grows memory without bound or slows a request.
const QUEUE_CAPACITY: usize = 4096;
/// The most events written in one statement.
const MAX_BATCH: usize = 256;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A password sign-in (token endpoint or `/v1/signin`).
    Signin,
    /// A sign-in refused by the failure limits (a lockout;
    /// docs/signin-limits.md).
    SigninRefused,
    /// A rotated refresh token presented again; its family was revoked.
    RefreshReuse,
    /// A token revoked by its client or by a sign-out.
    Revoke,
    ClientCreate,
    ClientUpdate,
    ClientRotateSecret,
    ClientDelete,
    UserCreate,
    UserUpdate,
    UserDisable,
    UserRevokeSessions,
    UserSetPassword,
    UserEnable,
    UserVerifyEmail,
    UserDelete,
    KeysRotate,
    /// An initial access token for dynamic client registration was made.
    InitialTokenCreate,
    /// Consent given in the browser flow (recorded by the authorize code).
    Consent,
    /// A browser login (recorded by the authorize code).
    Login,
    /// One attempt to deliver a back-channel logout token
    /// (`core::backchannel`).
    BackchannelLogout,
    /// A token exchange (RFC 8693; `core::grants::token_exchange`).
    TokenExchange,
}

impl Kind {
    /// Every kind, in the order above (the console's type filter).
    pub const ALL: &[Kind] = &[
        Kind::Signin,
        Kind::SigninRefused,
        Kind::RefreshReuse,
        Kind::Revoke,
        Kind::ClientCreate,
        Kind::ClientUpdate,
        Kind::ClientRotateSecret,
        Kind::ClientDelete,
        Kind::UserCreate,
        Kind::UserUpdate,
        Kind::UserDisable,
        Kind::UserRevokeSessions,
        Kind::UserSetPassword,
        Kind::UserEnable,
        Kind::UserVerifyEmail,
        Kind::UserDelete,
        Kind::KeysRotate,
        Kind::InitialTokenCreate,
        Kind::Consent,
        Kind::Login,
        Kind::BackchannelLogout,
        Kind::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Signin => "signin",
            Kind::SigninRefused => "signin_refused",
            Kind::RefreshReuse => "refresh_reuse",
            Kind::Revoke => "revoke",
            Kind::ClientCreate => "client_create",
            Kind::ClientUpdate => "client_update",
            Kind::ClientRotateSecret => "client_rotate_secret",
            Kind::ClientDelete => "client_delete",
            Kind::UserCreate => "user_create",
            Kind::UserUpdate => "user_update",
            Kind::UserDisable => "user_disable",
            Kind::UserRevokeSessions => "user_revoke_sessions",
            Kind::UserSetPassword => "user_set_password",
            Kind::UserEnable => "user_enable",
            Kind::UserVerifyEmail => "user_verify_email",
            Kind::UserDelete => "user_delete",
            Kind::KeysRotate => "keys_rotate",
            Kind::InitialTokenCreate => "initial_token_create",
            Kind::Consent => "consent",
            Kind::Login => "login",
            Kind::BackchannelLogout => "backchannel_logout",
            Kind::TokenExchange => "token_exchange",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Refused => "refused",
        }
    }
}

/// One stored event, as `latchkey audit list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    /// Unix seconds.
    pub at: UnixTime,
    pub kind: String,
    /// `user:<id>`, `client:<id>`, `cli` or `anonymous`.
    pub actor: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub address: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A new event at `at`; fill in the optional fields with the `with_*`
    /// methods.
    pub fn new(at: UnixTime, kind: Kind, actor: impl Into<String>, outcome: Outcome) -> Self {
        AuditEvent {
            id: uuid::Uuid::new_v4().to_string(),
            at,
            kind: kind.as_str().to_owned(),
            actor: actor.into(),
            user_id: None,
            client_id: None,
            address: None,
            outcome: outcome.as_str().to_owned(),
            detail: None,
        }
    }

    pub fn user(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    pub fn client(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    pub fn address(mut self, addr: Option<std::net::IpAddr>) -> Self {
        self.address = addr.map(|a| a.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The log line of the event (target `audit`).
    fn log(&self) {
        tracing::info!(
            target: "audit",
            kind = %self.kind,
            actor = %self.actor,
            user_id = self.user_id.as_deref(),
            client_id = self.client_id.as_deref(),
            address = self.address.as_deref(),
            outcome = %self.outcome,
            detail = self.detail.as_deref(),
            at = self.at,
            "audit event"
        );
    }
}

/// Which events `latchkey audit list` shows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub since: Option<UnixTime>,
    pub limit: i64,
}

/// A page of the audit trail (the admin API's `GET /admin/v1/audit`):
/// oldest first, after a cursor.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// The event's kind, as `latchkey audit list` prints it.
    pub kind: Option<String>,
    pub since: Option<UnixTime>,
    pub until: Option<UnixTime>,
    /// Events whose actor or subject is this user id.
    pub user: Option<String>,
    /// Events whose actor or subject is this client id.
    pub client: Option<String>,
    /// Only events after this `(at, id)`, in that order.
    pub after: Option<(UnixTime, String)>,
    pub limit: i64,
    /// Newest first (the console), `after` then meaning "older than".
    pub newest_first: bool,
}

/// Storage of audit events.
pub trait AuditStore: Send + Sync {
    /// Inserts `events` (one statement; all or none).
    fn insert_audit_events(&self, events: &[AuditEvent])
    -> impl Future<Output = Result<()>> + Send;
    /// Events matching `filter`, oldest first.
    fn list_audit_events(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<AuditEvent>>> + Send;
    /// Events matching `query`, ordered by `(at, id)`: a walk from cursor to
    /// cursor never sees an event twice, whatever is inserted meanwhile.
    fn search_audit_events(
        &self,
        query: &AuditQuery,
    ) -> impl Future<Output = Result<Vec<AuditEvent>>> + Send;
    /// Deletes events older than `before`; returns how many.
    fn purge_audit_events(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

enum Message {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

/// The sending end of the audit trail, one per process (in `Authority`).
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Event(e) => write!(f, "Event({})", e.kind),
            Message::Flush(_) => write!(f, "Flush"),
        }
    }
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn spawn<S: AuditStore + Clone + 'static>(store: S) -> AuditLog {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(writer(store, rx));
        AuditLog { tx }
    }

    /// Logs `event` and queues it for storage; never waits.
    pub fn record(&self, event: AuditEvent) {
        event.log();
        metrics::counter!("latchkey_audit_events_total").increment(1);
        if self.tx.try_send(Message::Event(event)).is_err() {
            metrics::counter!("latchkey_audit_events_dropped_total").increment(1);
            tracing::warn!(target: "audit", "audit queue full; event logged but not stored");
        }
    }

    /// Waits until every event recorded before this call has been written
    /// (or its write has failed). Used at shutdown and by tests.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Writes events in batches until every sender is gone.
async fn writer<S: AuditStore>(store: S, mut rx: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut acks = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Message::Event(e) => batch.push(e),
                Message::Flush(ack) => acks.push(ack),
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.insert_audit_events(&batch).await {
                metrics::counter!("latchkey_audit_events_dropped_total")
                    .increment(batch.len() as u64);
                tracing::warn!(
                    target: "audit",
                    error = %e,
                    events = batch.len(),
                    "storing audit events failed; they are in the log only"
                );
            }
            batch.clear();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Logs and stores `event` now, for callers off the hot path (admin commands).
pub async fn write_now<S: AuditStore>(store: &S, event: AuditEvent) -> Result<()> {
    event.log();
    store
        .insert_audit_events(std::slice::from_ref(&event))
        .await
}

/// Parses `--since`: an RFC 3339 time, or a duration before `now` such as
/// `30s`, `15m`, `1h`, `7d`.
pub fn parse_since(s: &str, now: UnixTime) -> Option<UnixTime> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(now - n.checked_mul(unit)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_rfc3339_and_relative() {
        assert_eq!(parse_since("1h", 10_000), Some(10_000 - 3600));
        assert_eq!(parse_since("30m", 10_000), Some(10_000 - 1800));
        assert_eq!(parse_since("2d", 200_000), Some(200_000 - 172_800));
        assert_eq!(parse_since("1970-01-01T00:01:00Z", 0), Some(60));
        assert_eq!(parse_since("soon", 0), None);
        assert_eq!(parse_since("5y", 0), None);
        assert_eq!(parse_since("", 0), None);
    }
}
