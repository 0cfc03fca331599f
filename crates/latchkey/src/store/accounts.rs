//! Accounts on both backends (see `core::accounts`): e-mailed tokens
//! (`migrations/0020_accounts.sql`), registering a user together with its
//! token and e-mail, and the per-user views and removals of the account
//! page.
//!
//! Taking a token is one conditional `UPDATE … WHERE used_at IS NULL AND
//! expires_at > now RETURNING user_id`: of any number of concurrent takers,
//! one gets the user.

use crate::core::accounts::{AccountStore, AccountToken, ConsentedApp, SignedInApp, TokenPurpose};
use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::outbox::NewMessage;
use crate::core::scope::Scope;
use crate::core::secret::SecretHash;
use crate::core::users::{User, UserId, normalize_email};

use super::outbox::OutboxTx;
use super::{Store, db_err, in_tx, is_unique_violation, list_to_text, on_pool};

/// The description of the error that stands for "the address is taken"
/// inside [`AccountStore::register_user`]'s transaction (rolled back).
const TAKEN: &str = "email taken";

const INSERT_TOKEN: &str = "INSERT INTO account_tokens \
     (hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";

#[derive(sqlx::FromRow)]
struct AppRow {
    id: String,
    client_id: String,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    client_id: String,
    name: String,
    scope: String,
    updated_at: i64,
}

impl AccountStore for Store {
    async fn register_user(
        &self,
        u: &User,
        token: Option<&AccountToken>,
        mail: &NewMessage,
    ) -> Result<bool> {
        let r: Result<()> = in_tx!(self, tx => async {
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, email_normalized, name, roles, password_hash, \
                 disabled, email_verified, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(u.id.as_str())
            .bind(&u.email)
            .bind(normalize_email(&u.email))
            .bind(&u.name)
            .bind(list_to_text(&u.roles))
            .bind(&u.password_hash)
            .bind(u.disabled)
            .bind(u.email_verified)
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(&mut *tx)
            .await;
            // An async block, so that this `return` (and every `?`) leaves
            // the transaction's body, not the function: `in_tx!` then rolls
            // back.
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(Error::invalid_request(TAKEN)),
                Err(e) => return Err(db_err(e)),
            }
            if let Some(t) = token {
                sqlx::query(INSERT_TOKEN)
                    .bind(t.hash.as_str())
                    .bind(t.purpose.as_str())
                    .bind(t.user_id.as_str())
                    .bind(t.created_at)
                    .bind(t.expires_at)
                    .execute(&mut *tx)
                    .await?;
            }
            OutboxTx::enqueue(&mut *tx, mail).await?;
            Ok::<(), Error>(())
        }.await);
        match r {
            Ok(()) => Ok(true),
            Err(Error::InvalidRequest(d)) if d == TAKEN => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn issue_account_token(&self, t: &AccountToken, mail: &NewMessage) -> Result<()> {
        in_tx!(self, tx => {
            sqlx::query(INSERT_TOKEN)
                .bind(t.hash.as_str())
                .bind(t.purpose.as_str())
                .bind(t.user_id.as_str())
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&mut *tx)
                .await?;
            OutboxTx::enqueue(&mut *tx, mail).await?;
            Ok::<(), Error>(())
        })
    }

    async fn take_account_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: UnixTime,
    ) -> Result<Option<UserId>> {
        let user: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "UPDATE account_tokens SET used_at = $1 \
             WHERE hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id",
        )
        .bind(now)
        .bind(hash.as_str())
        .bind(purpose.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        Ok(user.map(UserId::new))
    }

    async fn purge_account_tokens(&self, before: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query("DELETE FROM account_tokens WHERE expires_at <= $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn list_user_apps(&self, user_id: &UserId, now: UnixTime) -> Result<Vec<SignedInApp>> {
        let rows: Vec<AppRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT f.id, f.client_id, c.name, f.created_at, \
             (SELECT MAX(t.issued_at) FROM refresh_tokens t WHERE t.family_id = f.id) AS last_used_at \
             FROM refresh_families f JOIN clients c ON c.id = f.client_id \
             WHERE f.user_id = $1 AND f.revoked_at IS NULL AND f.expires_at > $2 \
             ORDER BY f.created_at DESC, f.id",
        )
        .bind(user_id.as_str())
        .bind(now)
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        let mut apps: Vec<SignedInApp> = rows
            .into_iter()
            .map(|r| SignedInApp {
                family_id: r.id,
                client_id: ClientId::new(r.client_id),
                client_name: r.name,
                created_at: r.created_at,
                last_used_at: r.last_used_at.unwrap_or(r.created_at),
            })
            .collect();
        apps.sort_by_key(|a| std::cmp::Reverse(a.last_used_at));
        Ok(apps)
    }

    async fn revoke_user_client_families(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 \
             WHERE user_id = $2 AND client_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn list_user_consents(&self, user_id: &UserId) -> Result<Vec<ConsentedApp>> {
        let rows: Vec<ConsentRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT k.client_id, c.name, k.scope, k.updated_at \
             FROM consents k JOIN clients c ON c.id = k.client_id \
             WHERE k.user_id = $1 ORDER BY c.name, k.client_id",
        )
        .bind(user_id.as_str())
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(ConsentedApp {
                    client_id: ClientId::new(r.client_id),
                    client_name: r.name,
                    scope: Scope::parse(&r.scope)?,
                    granted_at: r.updated_at,
                })
            })
            .collect()
    }

    async fn delete_consent(&self, user_id: &UserId, client_id: &ClientId) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "DELETE FROM consents WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n > 0)
    }
}
