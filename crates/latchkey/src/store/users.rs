use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::users::{User, UserId, UserQuery, UserStore, normalize_email};

use super::{Store, db_err, in_tx, is_unique_violation, list_to_text, on_pool, text_to_list};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    roles: String,
    password_hash: String,
    disabled: bool,
    email_verified: bool,
    created_at: i64,
    updated_at: i64,
}

impl UserRow {
    fn into_user(self) -> Result<User> {
        Ok(User {
            id: UserId::new(self.id),
            email: self.email,
            name: self.name,
            roles: text_to_list(&self.roles)?,
            password_hash: self.password_hash,
            disabled: self.disabled,
            email_verified: self.email_verified,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, name, roles, password_hash, disabled, email_verified, created_at, updated_at FROM users ",
            $rest
        )
    };
}

impl UserStore for Store {
    async fn insert_user(&self, u: &User) -> Result<()> {
        let r = on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, email, email_normalized, name, roles, password_hash, disabled, email_verified, created_at, updated_at) \
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
        .execute(pool)
        .await
        .map(|_| ()));
        match r {
            Ok(()) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::invalid_request(format!(
                "a user with the email {:?} already exists",
                u.email
            ))),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn get_user(&self, id: &UserId) -> Result<Option<User>> {
        let row: Option<UserRow> = on_pool!(self, pool => sqlx::query_as(select_users!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row: Option<UserRow> = on_pool!(self, pool => sqlx::query_as(select_users!("WHERE email_normalized = $1"))
            .bind(normalize_email(email))
            .fetch_optional(pool)
            .await)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = on_pool!(self, pool => sqlx::query_as(select_users!("ORDER BY created_at, id"))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn search_users(&self, query: &UserQuery) -> Result<Vec<User>> {
        // `!` escapes LIKE's wildcards in what was typed.
        let pattern = query.q.as_deref().map(|q| {
            let mut p = String::from("%");
            for c in q.trim().to_lowercase().chars() {
                if matches!(c, '%' | '_' | '!') {
                    p.push('!');
                }
                p.push(c);
            }
            p.push('%');
            p
        });
        let (after_at, after_id) = query.after.clone().unwrap_or((i64::MIN, String::new()));
        let rows: Vec<UserRow> = on_pool!(self, pool => sqlx::query_as(select_users!(
            "WHERE ($1 IS NULL OR email_normalized LIKE $1 ESCAPE '!' OR LOWER(name) LIKE $1 ESCAPE '!') \
             AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4"))
            .bind(pattern)
            .bind(after_at)
            .bind(after_id)
            .bind(query.limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn update_user_profile(
        &self,
        id: &UserId,
        name: Option<&str>,
        roles: &[String],
        now: UnixTime,
    ) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query("UPDATE users SET name = $1, roles = $2, updated_at = $3 WHERE id = $4")
            .bind(name)
            .bind(list_to_text(roles))
            .bind(now)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn set_user_disabled(&self, id: &UserId, disabled: bool, now: UnixTime) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled)
            .bind(now)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn set_password_hash(&self, id: &UserId, hash: &str, now: UnixTime) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn set_email_verified(&self, id: &UserId, verified: bool, now: UnixTime) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query("UPDATE users SET email_verified = $1, updated_at = $2 WHERE id = $3")
            .bind(verified)
            .bind(now)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn delete_user(&self, id: &UserId) -> Result<bool> {
        // The e-mails still queued for the user carry the address: they go
        // too. Every other row naming the user goes by `ON DELETE CASCADE`.
        let pattern = format!(
            "%\"user_id\":\"{}\"%",
            id.as_str().replace(['%', '_', '\\'], "")
        );
        let n = in_tx!(self, tx => {
            sqlx::query("DELETE FROM outbox WHERE kind = 'email' AND payload LIKE $1")
                .bind(&pattern)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok::<u64, Error>(n)
        })?;
        Ok(n > 0)
    }
}
