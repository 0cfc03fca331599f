//! Browser-flow storage on both backends: sessions, pending authorization
//! requests, authorization codes, consents (see `core::sessions`,
//! `core::authorize`, `core::codes`, `core::consent`).
//!
//! Redeeming a code is one transaction: the conditional `UPDATE … WHERE
//! used_at IS NULL` that at most one caller wins (SQLite: `BEGIN IMMEDIATE`
//! serializes writers; PostgreSQL: a second `UPDATE` waits for the row lock
//! and then matches nothing), and the `INSERT` of the refresh family it
//! issues. Either both commit or neither does.

use crate::core::authorize::{AuthorizationRequest, PendingRequest, PendingRequestStore};
use crate::core::backchannel;
use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::codes::{CodeStore, Issued, StoredCode};
use crate::core::consent::ConsentStore;
use crate::core::dpop::Jkt;
use crate::core::error::{Error, Result};
use crate::core::mfa::Amr;
use crate::core::refresh::FamilyOrigin;
use crate::core::scope::Scope;
use crate::core::secret::SecretHash;
use crate::core::sessions::{Session, SessionClient, SessionStore};
use crate::core::users::UserId;

use super::OutboxTx;
use super::deny_list::DenyListTx;
use super::refresh::RefreshTx;
use super::{Store, db_err, in_tx, list_to_text, on_pool, text_to_list};

/// The `RETURNING` clause that yields a [`TakenRow`].
macro_rules! returning_taken {
    () => {
        "RETURNING session_hash, sid, client_id, user_id"
    };
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: String,
    auth_time: i64,
    created_at: i64,
    idle_expires_at: i64,
    expires_at: i64,
    amr: String,
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        Ok(Session {
            id_hash: SecretHash::from_stored(self.id_hash),
            user_id: UserId::new(self.user_id),
            auth_time: self.auth_time,
            created_at: self.created_at,
            idle_expires_at: self.idle_expires_at,
            expires_at: self.expires_at,
            amr: Amr::from_stored(&self.amr)?,
        })
    }
}

impl SessionStore for Store {
    async fn insert_session(&self, s: &Session) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO browser_sessions \
             (id_hash, user_id, auth_time, created_at, idle_expires_at, expires_at, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id_hash.as_str())
        .bind(s.user_id.as_str())
        .bind(s.auth_time)
        .bind(s.created_at)
        .bind(s.idle_expires_at)
        .bind(s.expires_at)
        .bind(s.amr.to_stored())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_session(&self, id_hash: &SecretHash) -> Result<Option<Session>> {
        let row: Option<SessionRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id_hash, user_id, auth_time, created_at, idle_expires_at, expires_at, amr \
             FROM browser_sessions WHERE id_hash = $1",
        )
        .bind(id_hash.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, id_hash: &SecretHash, idle_expires_at: UnixTime) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE browser_sessions SET idle_expires_at = $1 WHERE id_hash = $2",
        )
        .bind(idle_expires_at)
        .bind(id_hash.as_str())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &SecretHash, now: UnixTime) -> Result<u64> {
        in_tx!(self, tx => {
            sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1")
                .bind(id_hash.as_str())
                .execute(&mut *tx)
                .await?;
            let rows: Vec<TakenRow> = sqlx::query_as(concat!(
                "DELETE FROM session_clients WHERE session_hash = $1 ",
                returning_taken!()
            ))
            .bind(id_hash.as_str())
            .fetch_all(&mut *tx)
            .await?;
            notify(&mut *tx, rows, now).await
        })
    }

    async fn delete_user_sessions(&self, user_id: &UserId, now: UnixTime) -> Result<u64> {
        in_tx!(self, tx => {
            let ended = sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let rows: Vec<TakenRow> = sqlx::query_as(concat!(
                "DELETE FROM session_clients WHERE user_id = $1 ",
                returning_taken!()
            ))
            .bind(user_id.as_str())
            .fetch_all(&mut *tx)
            .await?;
            notify(&mut *tx, rows, now).await.map(|_| ended)
        })
    }

    async fn list_user_sessions(&self, user_id: &UserId, now: UnixTime) -> Result<Vec<Session>> {
        let rows: Vec<SessionRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id_hash, user_id, auth_time, created_at, idle_expires_at, expires_at, amr \
             FROM browser_sessions WHERE user_id = $1 AND idle_expires_at > $2 AND expires_at > $2 \
             ORDER BY created_at DESC, id_hash",
        )
        .bind(user_id.as_str())
        .bind(now)
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    async fn delete_user_session(
        &self,
        user_id: &UserId,
        id_hash: &SecretHash,
        now: UnixTime,
    ) -> Result<bool> {
        in_tx!(self, tx => {
            let n = sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1 AND user_id = $2")
                .bind(id_hash.as_str())
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok::<bool, Error>(false);
            }
            let rows: Vec<TakenRow> = sqlx::query_as(concat!(
                "DELETE FROM session_clients WHERE session_hash = $1 AND user_id = $2 ",
                returning_taken!()
            ))
            .bind(id_hash.as_str())
            .bind(user_id.as_str())
            .fetch_all(&mut *tx)
            .await?;
            notify(&mut *tx, rows, now).await.map(|_| true)
        })
    }

    async fn delete_other_sessions(
        &self,
        user_id: &UserId,
        keep: &SecretHash,
        now: UnixTime,
    ) -> Result<u64> {
        in_tx!(self, tx => {
            let ended = sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id.as_str())
                .bind(keep.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let rows: Vec<TakenRow> = sqlx::query_as(concat!(
                "DELETE FROM session_clients WHERE user_id = $1 AND session_hash <> $2 ",
                returning_taken!()
            ))
            .bind(user_id.as_str())
            .bind(keep.as_str())
            .fetch_all(&mut *tx)
            .await?;
            notify(&mut *tx, rows, now).await.map(|_| ended)
        })
    }

    async fn record_session_client(
        &self,
        c: &SessionClient,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO session_clients \
             (session_hash, sid, client_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_hash, client_id) DO NOTHING",
        )
        .bind(c.session.as_str())
        .bind(&c.sid)
        .bind(c.client_id.as_str())
        .bind(c.user_id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn purge_sessions(&self, now: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM session_clients WHERE expires_at <= $1",
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)?;
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM browser_sessions WHERE idle_expires_at <= $1 OR expires_at <= $1",
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)
    }
}

/// A session-client row taken by a session's end.
type TakenRow = (String, String, String, String);

/// Queues the back-channel logout message of each session client taken
/// (`core::backchannel::message`) on the ending transaction's connection.
/// Returns how many.
async fn notify<C: OutboxTx + Send>(
    conn: &mut C,
    rows: Vec<TakenRow>,
    now: UnixTime,
) -> Result<u64> {
    let mut n = 0;
    for (session, sid, client_id, user_id) in rows {
        let message = backchannel::message(
            &SessionClient {
                session: SecretHash::from_stored(session),
                sid,
                client_id: ClientId::new(client_id),
                user_id: UserId::new(user_id),
            },
            now,
        )?;
        conn.enqueue(&message).await?;
        n += 1;
    }
    Ok(n)
}

impl PendingRequestStore for Store {
    async fn insert_pending(
        &self,
        id_hash: &SecretHash,
        p: &PendingRequest,
        now: UnixTime,
    ) -> Result<()> {
        let json = serde_json::to_string(&p.request).map_err(Error::internal)?;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO authorization_requests \
             (id_hash, browser_hash, client_id, request, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash.as_str())
        .bind(p.browser_hash.as_str())
        .bind(p.request.client_id.as_str())
        .bind(json)
        .bind(now)
        .bind(p.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_pending(&self, id_hash: &SecretHash) -> Result<Option<PendingRequest>> {
        let row: Option<(String, String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT browser_hash, request, expires_at FROM authorization_requests \
             WHERE id_hash = $1",
        )
        .bind(id_hash.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        let Some((browser_hash, request, expires_at)) = row else {
            return Ok(None);
        };
        let request: AuthorizationRequest = serde_json::from_str(&request)
            .map_err(|e| Error::internal(format!("corrupt pending request: {e}")))?;
        Ok(Some(PendingRequest {
            request,
            browser_hash: SecretHash::from_stored(browser_hash),
            expires_at,
        }))
    }

    async fn delete_pending(&self, id_hash: &SecretHash) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query("DELETE FROM authorization_requests WHERE id_hash = $1")
            .bind(id_hash.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn purge_pending(&self, now: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query("DELETE FROM authorization_requests WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    hash: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    scope: String,
    nonce: Option<String>,
    audience: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    session_hash: Option<String>,
    dpop_jkt: Option<String>,
    amr: String,
}

impl CodeStore for Store {
    async fn insert_code(&self, c: &StoredCode) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO authorization_codes \
             (hash, client_id, user_id, redirect_uri, code_challenge, scope, nonce, audience, \
              auth_time, created_at, expires_at, used_at, session_hash, dpop_jkt, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13, $14)",
        )
        .bind(c.hash.as_str())
        .bind(c.client_id.as_str())
        .bind(c.user_id.as_str())
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(c.scope.to_string())
        .bind(&c.nonce)
        .bind(list_to_text(&c.audience))
        .bind(c.auth_time)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.session.as_ref().map(SecretHash::as_str))
        .bind(c.dpop_jkt.as_ref().map(Jkt::as_str))
        .bind(c.amr.to_stored())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)?;
        Ok(())
    }

    async fn find_code(&self, hash: &SecretHash) -> Result<Option<StoredCode>> {
        let row: Option<CodeRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT hash, client_id, user_id, redirect_uri, code_challenge, scope, nonce, \
             audience, auth_time, created_at, expires_at, used_at, session_hash, dpop_jkt, amr \
             FROM authorization_codes WHERE hash = $1",
        )
        .bind(hash.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(StoredCode {
            hash: SecretHash::from_stored(r.hash),
            client_id: ClientId::new(r.client_id),
            user_id: UserId::new(r.user_id),
            redirect_uri: r.redirect_uri,
            code_challenge: r.code_challenge,
            scope: Scope::parse(&r.scope)?,
            nonce: r.nonce,
            audience: text_to_list(&r.audience)?,
            auth_time: r.auth_time,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
            session: r.session_hash.map(SecretHash::from_stored),
            dpop_jkt: r.dpop_jkt.map(Jkt::new),
            amr: Amr::from_stored(&r.amr)?,
        }))
    }

    async fn redeem_code(
        &self,
        hash: &SecretHash,
        issued: Issued<'_>,
        now: UnixTime,
    ) -> Result<bool> {
        in_tx!(self, tx => {
                let taken = sqlx::query(
                    "UPDATE authorization_codes \
                     SET used_at = $1, access_jti = $2, access_expires_at = $3 \
                     WHERE hash = $4 AND used_at IS NULL AND expires_at > $1",
                )
                .bind(now)
                .bind(issued.access_jti)
                .bind(issued.access_expires_at)
                .bind(hash.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 1
                    && let Some(family) = issued.family
                {
                    RefreshTx::insert_family(&mut *tx, family).await?;
                }
                Ok::<bool, Error>(taken == 1)
        })
    }

    async fn revoke_code_grant(
        &self,
        hash: &SecretHash,
        now: UnixTime,
    ) -> Result<Option<(String, UnixTime)>> {
        let origin = FamilyOrigin::Code(hash.clone());
        in_tx!(self, tx => {
                RefreshTx::revoke_families_by_origin(&mut *tx, &origin, now).await?;
                let issued: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
                    "SELECT access_jti, access_expires_at FROM authorization_codes WHERE hash = $1",
                )
                .bind(hash.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let denied = match issued {
                    Some((Some(jti), Some(exp))) => {
                        DenyListTx::deny_access_token(&mut *tx, &jti, exp).await?;
                        Some((jti, exp))
                    }
                    _ => None,
                };
                Ok::<Option<(String, UnixTime)>, Error>(denied)
        })
    }

    async fn purge_codes(&self, now: UnixTime, redeemed_before: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM authorization_codes WHERE expires_at <= $1 \
             AND (used_at IS NULL OR used_at <= $2)",
        )
            .bind(now)
            .bind(redeemed_before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }
}

impl ConsentStore for Store {
    async fn get_consent(&self, user_id: &UserId, client_id: &ClientId) -> Result<Option<Scope>> {
        let row: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        row.as_deref().map(Scope::parse).transpose()
    }

    async fn save_consent(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
        scope: &Scope,
        now: UnixTime,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = $3, updated_at = $4",
        )
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .bind(scope.to_string())
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)?;
        Ok(())
    }
}
