//! The refresh grant's read and rotation in one step (`RefreshTokenStore::
//! claim_refresh_token`): what a plain refresh needs from the database — the
//! token, its family and user, and the rotation — in one transaction, so one
//! hop to the SQLite connection's thread (or one PostgreSQL round trip) per
//! batch instead of two, and no wait between a read batch and a rotation
//! batch on the one refresh connection.
//!
//! The claim is the rotation's predicate (`store::rotation`: unused,
//! unexpired, live family) plus every check the grant makes before it
//! consumes a token that the database can make: the family is the
//! presenter's, its user is enabled, and a family bound to a DPoP key is
//! presented with a proof by that key. So a token is consumed here exactly
//! when the two-step path would have consumed it; the grant does the rest
//! (scope, audience) before or without consuming anything.
//!
//! Batches are grouped as rotations are (`store::group`), with the same
//! answers: of several requests for one token in a batch, the first is sent
//! and the others are told it was not theirs; a batch that fails is run again
//! item by item, so an item that fails fails alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::Row as _;
use tokio::sync::Mutex;

use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::refresh::{Claim, Claimed};
use crate::core::secret::SecretHash;

use super::db_err;
use super::group::Group;
use super::refresh::{FoundRow, found_columns};
use super::rotation::{MAX_BATCH, RefreshConn, after_failed_batch, leads};

/// One claim, owned, as it waits in the queue.
#[derive(Debug, Clone)]
pub(crate) struct ClaimItem {
    used: SecretHash,
    successor: SecretHash,
    client_id: String,
    dpop_jkt: Option<String>,
    now: UnixTime,
    /// The successor's idle expiry; the family's absolute one caps it.
    expires_at: UnixTime,
}

impl ClaimItem {
    pub(crate) fn new(c: &Claim<'_>) -> ClaimItem {
        ClaimItem {
            used: c.used.clone(),
            successor: c.successor.clone(),
            client_id: c.client_id.as_str().to_owned(),
            dpop_jkt: c.dpop_jkt.map(|j| j.as_str().to_owned()),
            now: c.now,
            expires_at: c.expires_at,
        }
    }
}

/// A batch on SQLite, one text: `$1` is a JSON array of `[presented hash,
/// successor hash, now, successor idle expiry, client id, DPoP thumbprint or
/// null]`. The claim first (`RETURNING` what it claimed); then the
/// successors of the tokens it just marked — a token marked with the same
/// time and successor by an earlier rotation (a repeat within the grace
/// period, in the same second) already has that successor in its family,
/// which is left as it is, while a successor hash taken anywhere else fails
/// the insert and so the batch; then every presented token as it now
/// stands, with its family and user.
const CLAIM_BATCH_SQLITE: &str = concat!(
    "BEGIN IMMEDIATE; \
     UPDATE refresh_tokens SET used_at = b.value ->> 2, successor_hash = b.value ->> 1 \
       FROM json_each($1) AS b \
       WHERE refresh_tokens.hash = b.value ->> 0 AND refresh_tokens.used_at IS NULL \
       AND refresh_tokens.expires_at > b.value ->> 2 \
       AND EXISTS (SELECT 1 FROM refresh_families f JOIN users u ON u.id = f.user_id \
                   WHERE f.id = refresh_tokens.family_id \
                   AND f.revoked_at IS NULL AND f.expires_at > b.value ->> 2 \
                   AND f.client_id = b.value ->> 4 AND u.disabled = FALSE \
                   AND (f.dpop_jkt IS NULL OR f.dpop_jkt = b.value ->> 5)) \
       RETURNING refresh_tokens.hash; \
     INSERT INTO refresh_tokens \
       (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
       SELECT b.value ->> 1, t.family_id, b.value ->> 2, \
              MIN(b.value ->> 3, f.expires_at), NULL, NULL \
       FROM json_each($1) AS b CROSS JOIN refresh_tokens AS t \
       JOIN refresh_families f ON f.id = t.family_id \
       WHERE t.hash = b.value ->> 0 AND t.used_at = b.value ->> 2 \
       AND t.successor_hash = b.value ->> 1 \
       AND NOT EXISTS (SELECT 1 FROM refresh_tokens s \
                       WHERE s.hash = b.value ->> 1 AND s.family_id = t.family_id); ",
    found_columns!(),
    "FROM json_each($1) AS b CROSS JOIN refresh_tokens t ON t.hash = b.value ->> 0 \
     JOIN refresh_families f ON f.id = t.family_id \
     JOIN users u ON u.id = f.user_id; \
     COMMIT"
);

/// A batch on PostgreSQL, one statement: every presented token with its
/// family and user, as they stood before the statement (one snapshot); the
/// claim of those that pass, which feeds the successors' insert; and the
/// tokens read first, each with whether this statement claimed it. Under
/// READ COMMITTED a token claimed meanwhile by another transaction is
/// re-checked after its lock is released and no longer matches
/// `used_at IS NULL`.
///
/// The tokens are read before the claim so that the claim finds each by its
/// hash alone. Joined in one `UPDATE … FROM b, refresh_families, users`,
/// the family's `client_id = b.client` was a join clause between the batch
/// and the families, and PostgreSQL, estimating a few families, paired each
/// item with every family of its client before probing `refresh_tokens`
/// with each pair: 31 index probes per refresh measured in the benchmark
/// (one client, 32 families), a probe per family of the client in general
/// (docs/PERFORMANCE.md).
pub(super) const CLAIM_BATCH_PG: &str = concat!(
    "WITH b AS ( \
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], \
                            $6::text[]) AS b(used, succ, now, exp, client, jkt)), \
     found AS MATERIALIZED (",
    found_columns!(),
    ", b.succ, b.now, b.exp AS successor_expires_at, b.client AS presenter, b.jkt AS presented_jkt \
       FROM b JOIN refresh_tokens t ON t.hash = b.used \
       JOIN refresh_families f ON f.id = t.family_id \
       JOIN users u ON u.id = f.user_id), \
     claimed AS ( \
       UPDATE refresh_tokens t SET used_at = c.now, successor_hash = c.succ FROM found c \
       WHERE t.hash = c.hash AND t.used_at IS NULL AND t.expires_at > c.now \
       AND c.revoked_at IS NULL AND c.family_expires_at > c.now \
       AND c.client_id = c.presenter AND c.disabled = FALSE \
       AND (c.dpop_jkt IS NULL OR c.dpop_jkt = c.presented_jkt) \
       RETURNING t.hash, t.family_id, c.succ, c.now, \
                 LEAST(c.successor_expires_at, c.family_expires_at) AS exp), \
     inserted AS ( \
       INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
       SELECT succ, family_id, now, exp, NULL, NULL FROM claimed) \
     SELECT c.*, c.hash IN (SELECT hash FROM claimed) AS claimed FROM found c"
);

/// This process's claim queue.
pub(crate) type ClaimGroup = Group<ClaimItem, Result<Option<Claimed>>>;

/// One worker on SQLite (one writer anyway), two on PostgreSQL.
pub(crate) fn start(conn: &RefreshConn, gate: Arc<Mutex<()>>) -> ClaimGroup {
    let workers = conn.writers();
    let backend = conn.clone();
    Group::start(workers, MAX_BATCH, move |items: Vec<ClaimItem>| {
        let (backend, gate) = (backend.clone(), gate.clone());
        async move { claim_batch(&backend, &gate, &items).await }
    })
}

/// One answer per item, in order; see the module's documentation.
pub(crate) async fn claim_batch(
    backend: &RefreshConn,
    gate: &Mutex<()>,
    items: &[ClaimItem],
) -> Vec<Result<Option<Claimed>>> {
    #[allow(clippy::cast_precision_loss)] // ok: a count, at most MAX_BATCH
    metrics::histogram!("latchkey_refresh_rotation_batch_size").record(items.len() as f64);
    let lead = leads(items, |i| i.used.as_str());
    let leaders: Vec<&ClaimItem> = items
        .iter()
        .zip(&lead)
        .filter_map(|(i, l)| l.then_some(i))
        .collect();
    match run(backend, gate, &leaders).await {
        Ok((rows, claimed)) => items
            .iter()
            .zip(&lead)
            .map(|(item, first)| answer(&rows, &claimed, item, *first))
            .collect(),
        Err(e) => after_failed_batch(e, items, |item| alone(backend, gate, item)).await,
    }
}

/// One item in a transaction of its own.
async fn alone(
    backend: &RefreshConn,
    gate: &Mutex<()>,
    item: &ClaimItem,
) -> Result<Option<Claimed>> {
    match run(backend, gate, &[item]).await {
        Ok((rows, claimed)) => answer(&rows, &claimed, item, true),
        // The family was purged between the claim's check and the insert
        // (it had just been revoked or expired): nothing was rotated, and
        // the token is as good as unknown.
        Err(e) if super::rotation::is_foreign_key_violation(&e) => Ok(None),
        Err(e) => Err(db_err(e)),
    }
}

/// What `item` is told: the token as found, and whether it was this item
/// that claimed it (`first`: the first item of its batch for that token).
fn answer(
    rows: &HashMap<String, FoundRow>,
    claimed: &HashSet<String>,
    item: &ClaimItem,
    first: bool,
) -> Result<Option<Claimed>> {
    let key = item.used.as_str();
    rows.get(key)
        .map(|r| {
            Ok(Claimed {
                claimed: first && claimed.contains(key),
                token: r.clone().into_found()?,
            })
        })
        .transpose()
}

/// Runs one batch of distinct tokens: the rows found, by hash, and the hashes
/// claimed.
async fn run(
    backend: &RefreshConn,
    gate: &Mutex<()>,
    items: &[&ClaimItem],
) -> Result<(HashMap<String, FoundRow>, HashSet<String>), sqlx::Error> {
    let mut found = HashMap::with_capacity(items.len());
    let mut claimed = HashSet::new();
    match backend {
        RefreshConn::Sqlite(lane) => {
            let items = items.iter().map(|i| {
                serde_json::json!([
                    i.used.as_str(),
                    i.successor.as_str(),
                    i.now,
                    i.expires_at,
                    i.client_id,
                    i.dpop_jkt,
                ])
            });
            let rows = lane.write_batch(gate, CLAIM_BATCH_SQLITE, items).await?;
            // The claim's rows have one column (the hash), the found rows
            // all of `found_columns!`.
            for row in rows {
                if row.len() == 1 {
                    claimed.insert(row.try_get::<String, _>(0)?);
                } else {
                    let r: FoundRow = sqlx::FromRow::from_row(&row)?;
                    found.insert(r.hash.clone(), r);
                }
            }
        }
        RefreshConn::Postgres(pool) => {
            let rows = sqlx::query(CLAIM_BATCH_PG)
                .bind(items.iter().map(|i| i.used.as_str()).collect::<Vec<_>>())
                .bind(
                    items
                        .iter()
                        .map(|i| i.successor.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(items.iter().map(|i| i.now).collect::<Vec<_>>())
                .bind(items.iter().map(|i| i.expires_at).collect::<Vec<_>>())
                .bind(
                    items
                        .iter()
                        .map(|i| i.client_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    items
                        .iter()
                        .map(|i| i.dpop_jkt.as_deref())
                        .collect::<Vec<_>>(),
                )
                .fetch_all(pool)
                .await?;
            for row in rows {
                let r: FoundRow = sqlx::FromRow::from_row(&row)?;
                if row.try_get::<bool, _>("claimed")? {
                    claimed.insert(r.hash.clone());
                }
                found.insert(r.hash.clone(), r);
            }
        }
    }
    Ok((found, claimed))
}
