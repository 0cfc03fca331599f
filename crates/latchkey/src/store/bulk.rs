//! Bulk inserts, for building large databases quickly: the benchmark
//! fixture (`examples/bench_fixture.rs`) makes a million users and families
//! through these rather than through SQL of its own, so that what it builds
//! is what the store would have stored. Not used by any request path.
//!
//! Each call is one transaction of multi-row `INSERT`s of [`ROWS`] rows (well
//! under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters).

use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::refresh::{FamilyOrigin, RefreshFamily, RefreshTokenRecord};
use crate::core::secret::SecretHash;
use crate::core::users::{User, normalize_email};

use super::{Store, db_err, in_tx, list_to_text};

/// Rows per `INSERT` statement.
const ROWS: usize = 1000;

/// A refresh token row as the bulk insert writes it: a record, and, for a
/// token that a rotation already consumed, when and for which successor.
#[derive(Debug, Clone)]
pub struct BulkToken {
    pub record: RefreshTokenRecord,
    pub used_at: Option<UnixTime>,
    pub successor_hash: Option<SecretHash>,
}

impl Store {
    /// Inserts users (emails must be unique, as for `insert_user`).
    pub async fn insert_users_bulk(&self, users: &[User]) -> Result<()> {
        let r: Result<(), sqlx::Error> = async {
            in_tx!(self, tx => async {
                for chunk in users.chunks(ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO users (id, email, email_normalized, name, roles, \
                         password_hash, disabled, created_at, updated_at) ",
                    );
                    q.push_values(chunk, |mut b, u| {
                        b.push_bind(u.id.as_str().to_owned())
                            .push_bind(u.email.clone())
                            .push_bind(normalize_email(&u.email))
                            .push_bind(u.name.clone())
                            .push_bind(list_to_text(&u.roles))
                            .push_bind(u.password_hash.clone())
                            .push_bind(u.disabled)
                            .push_bind(u.created_at)
                            .push_bind(u.updated_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                Ok(())
            }.await)
        }
        .await;
        r.map_err(db_err)
    }

    /// Inserts families (without tokens: see [`Store::insert_refresh_tokens_bulk`]).
    pub async fn insert_families_bulk(&self, families: &[RefreshFamily]) -> Result<()> {
        let r: Result<(), sqlx::Error> = async {
            in_tx!(self, tx => async {
                for chunk in families.chunks(ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO refresh_families (id, client_id, user_id, scope, auth_time, \
                         origin, created_at, expires_at, revoked_at, dpop_jkt) ",
                    );
                    q.push_values(chunk, |mut b, f| {
                        b.push_bind(f.id.clone())
                            .push_bind(f.client_id.as_str().to_owned())
                            .push_bind(f.user_id.as_str().to_owned())
                            .push_bind(f.scope.to_string())
                            .push_bind(f.auth_time)
                            .push_bind(f.origin.as_ref().map(FamilyOrigin::to_stored))
                            .push_bind(f.created_at)
                            .push_bind(f.expires_at)
                            .push_bind(f.revoked_at)
                            .push_bind(f.dpop_jkt.as_ref().map(|j| j.as_str().to_owned()));
                    });
                    q.build().execute(&mut *tx).await?;
                }
                Ok(())
            }.await)
        }
        .await;
        r.map_err(db_err)
    }

    /// Inserts refresh tokens into existing families.
    pub async fn insert_refresh_tokens_bulk(&self, tokens: &[BulkToken]) -> Result<()> {
        let r: Result<(), sqlx::Error> = async {
            in_tx!(self, tx => async {
                for chunk in tokens.chunks(ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, \
                         used_at, successor_hash) ",
                    );
                    q.push_values(chunk, |mut b, t| {
                        b.push_bind(t.record.hash.as_str().to_owned())
                            .push_bind(t.record.family_id.clone())
                            .push_bind(t.record.issued_at)
                            .push_bind(t.record.expires_at)
                            .push_bind(t.used_at)
                            .push_bind(t.successor_hash.as_ref().map(|h| h.as_str().to_owned()));
                    });
                    q.build().execute(&mut *tx).await?;
                }
                Ok(())
            }.await)
        }
        .await;
        r.map_err(db_err)
    }

    /// Puts access-token `jti`s on the deny list until their `exp`, and
    /// bumps the deny list's generation once (every process's mirror
    /// reloads).
    pub async fn deny_access_tokens_bulk(&self, denied: &[(String, UnixTime)]) -> Result<()> {
        let r: Result<(), sqlx::Error> = async {
            in_tx!(self, tx => async {
                for chunk in denied.chunks(ROWS) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO revoked_access_tokens (jti, expires_at) ",
                    );
                    q.push_values(chunk, |mut b, (jti, exp)| {
                        b.push_bind(jti.clone()).push_bind(*exp);
                    });
                    q.push(" ON CONFLICT (jti) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                sqlx::query(
                    "UPDATE cache_generations SET generation = generation + 1 WHERE name = 'deny_list'",
                )
                .execute(&mut *tx)
                .await?;
                Ok(())
            }.await)
        }
        .await;
        r.map_err(db_err)
    }
}
