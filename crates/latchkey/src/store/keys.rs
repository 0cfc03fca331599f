use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::keys::{KeyState, KeyStore, PrivateKeyDer, SigningAlg, StoredKey};

use super::{Store, db_err, in_tx, is_unique_violation, on_pool};

/// The private key column holds `pkcs8:<base64 DER>`; the prefix leaves room for
/// an encrypted form without a schema change.
const PKCS8_PREFIX: &str = "pkcs8:";

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    private_key: String,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    remove_after: Option<i64>,
}

impl KeyRow {
    fn into_key(self) -> Result<StoredKey> {
        let corrupt =
            |what: &str| Error::internal(format!("signing key {}: corrupt {what}", self.kid));
        let der = self
            .private_key
            .strip_prefix(PKCS8_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or_else(|| corrupt("private key"))?;
        Ok(StoredKey {
            alg: SigningAlg::parse(&self.alg).ok_or_else(|| corrupt("alg"))?,
            state: KeyState::parse(&self.state).ok_or_else(|| corrupt("state"))?,
            private_key: PrivateKeyDer(der),
            created_at: self.created_at,
            activated_at: self.activated_at,
            retired_at: self.retired_at,
            remove_after: self.remove_after,
            kid: self.kid,
        })
    }
}

const INSERT: &str = "INSERT INTO signing_keys \
     (kid, alg, state, private_key, created_at, activated_at, retired_at, remove_after) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

fn encode_private(k: &StoredKey) -> String {
    format!("{PKCS8_PREFIX}{}", STANDARD.encode(&k.private_key.0))
}

impl KeyStore for Store {
    async fn list_keys(&self) -> Result<Vec<StoredKey>> {
        let rows: Vec<KeyRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT kid, alg, state, private_key, created_at, activated_at, retired_at, remove_after \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        rows.into_iter().map(KeyRow::into_key).collect()
    }

    async fn insert_keys(&self, keys: &[StoredKey]) -> Result<bool> {
        // The partial unique indexes refuse a second current or next key; a
        // violation means another process won the race, and the whole
        // transaction is rolled back.
        let result: Result<(), sqlx::Error> = async {
            in_tx!(self, tx => {
                let mut out = Ok(());
                for k in keys {
                    let r = sqlx::query(INSERT)
                        .bind(&k.kid)
                        .bind(k.alg.as_str())
                        .bind(k.state.as_str())
                        .bind(encode_private(k))
                        .bind(k.created_at)
                        .bind(k.activated_at)
                        .bind(k.retired_at)
                        .bind(k.remove_after)
                        .execute(&mut *tx)
                        .await;
                    if let Err(e) = r {
                        out = Err(e);
                        break;
                    }
                }
                out
            })
        }
        .await;
        match result {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn rotate_keys(
        &self,
        new_next: &StoredKey,
        now: UnixTime,
        remove_after: UnixTime,
    ) -> Result<()> {
        let result: Result<u64, sqlx::Error> = async {
            in_tx!(self, tx => {
                async {
                    sqlx::query(
                        "UPDATE signing_keys SET state = $3, retired_at = $1, remove_after = $2 \
                         WHERE state = $4",
                    )
                    .bind(now)
                    .bind(remove_after)
                    .bind(KeyState::Retired.as_str())
                    .bind(KeyState::Current.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let promoted = sqlx::query(
                        "UPDATE signing_keys SET state = $2, activated_at = $1 WHERE state = $3",
                    )
                    .bind(now)
                    .bind(KeyState::Current.as_str())
                    .bind(KeyState::Next.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if promoted != 1 {
                        // Roll back: without a next key there would be no current one.
                        return Err(sqlx::Error::RowNotFound);
                    }
                    sqlx::query(INSERT)
                        .bind(&new_next.kid)
                        .bind(new_next.alg.as_str())
                        .bind(KeyState::Next.as_str())
                        .bind(encode_private(new_next))
                        .bind(new_next.created_at)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .execute(&mut *tx)
                        .await?;
                    Ok(promoted)
                }
                .await
            })
        }
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::RowNotFound) => Err(Error::internal(
                "rotation failed: there is no next key (another rotation may have run at the same time)",
            )),
            Err(e) if is_unique_violation(&e) => Err(Error::internal(
                "rotation failed: another rotation ran at the same time; try again",
            )),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn purge_keys(&self, now: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM signing_keys WHERE state = $2 AND remove_after IS NOT NULL AND remove_after <= $1",
        )
        .bind(now)
        .bind(KeyState::Retired.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)
    }
}
