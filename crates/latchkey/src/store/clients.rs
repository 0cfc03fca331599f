use crate::core::client_assertion::AssertionReplayStore;
use crate::core::clients::{
    Client, ClientId, ClientPolicy, ClientStore, GrantType, PreviousSecret, TokenDelivery,
};
use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::scope::Scope;
use crate::core::secret::SecretHash;

use super::{Store, db_err, in_tx, list_to_text, on_pool, text_to_list};

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    first_party: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    audiences: String,
    token_delivery: String,
    allowed_origins: String,
    policy: String,
    backchannel_logout_uri: Option<String>,
    created_at: i64,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
}

/// `SELECT <every column> FROM clients <rest>`, as a literal so queries stay `&'static str`.
macro_rules! select_clients {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, secret_hash, first_party, redirect_uris, post_logout_redirect_uris, \
             grant_types, scopes, audiences, token_delivery, allowed_origins, policy, \
             backchannel_logout_uri, created_at, previous_secret_hash, previous_secret_expires_at \
             FROM clients ",
            $rest
        )
    };
}

impl ClientRow {
    fn into_client(self) -> Result<Client> {
        let corrupt = |what: &str| Error::internal(format!("client {}: corrupt {what}", self.id));
        let grant_types = self
            .grant_types
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant type")))
            .collect::<Result<Vec<_>>>()?;
        let token_delivery =
            TokenDelivery::parse(&self.token_delivery).ok_or_else(|| corrupt("token delivery"))?;
        Ok(Client {
            secret_hash: self.secret_hash.map(SecretHash::from_stored),
            first_party: self.first_party,
            redirect_uris: text_to_list(&self.redirect_uris)?,
            post_logout_redirect_uris: text_to_list(&self.post_logout_redirect_uris)?,
            grant_types,
            scopes: Scope::parse(&self.scopes)?,
            audiences: text_to_list(&self.audiences)?,
            token_delivery,
            allowed_origins: text_to_list(&self.allowed_origins)?,
            policy: ClientPolicy::from_stored(&self.policy)?,
            backchannel_logout_uri: self.backchannel_logout_uri,
            created_at: self.created_at,
            previous_secret: match (self.previous_secret_hash, self.previous_secret_expires_at) {
                (Some(hash), Some(expires_at)) => Some(PreviousSecret {
                    hash: SecretHash::from_stored(hash),
                    expires_at,
                }),
                _ => None,
            },
            name: self.name,
            id: ClientId::new(self.id),
        })
    }
}

impl ClientStore for Store {
    async fn insert_client(&self, c: &Client) -> Result<()> {
        let grant_types: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
        let grant_types = grant_types.join(" ");
        in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO clients (id, name, secret_hash, first_party, redirect_uris, \
                 post_logout_redirect_uris, grant_types, scopes, audiences, token_delivery, \
                 allowed_origins, policy, backchannel_logout_uri, created_at, previous_secret_hash, \
                 previous_secret_expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(c.id.as_str())
            .bind(&c.name)
            .bind(c.secret_hash.as_ref().map(SecretHash::as_str))
            .bind(c.first_party)
            .bind(list_to_text(&c.redirect_uris))
            .bind(list_to_text(&c.post_logout_redirect_uris))
            .bind(&grant_types)
            .bind(c.scopes.to_string())
            .bind(list_to_text(&c.audiences))
            .bind(c.token_delivery.as_str())
            .bind(list_to_text(&c.allowed_origins))
            .bind(c.policy.to_stored())
            .bind(&c.backchannel_logout_uri)
            .bind(c.created_at)
            .bind(c.previous_secret.as_ref().map(|p| p.hash.as_str()))
            .bind(c.previous_secret.as_ref().map(|p| p.expires_at))
            .execute(&mut *tx)
            .await?;
            // Every process's origin index must learn the new origins.
            sqlx::query("UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'")
                .execute(&mut *tx)
                .await?;
            Ok::<(), Error>(())
        })
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>> {
        let row: Option<ClientRow> =
            on_pool!(self, pool => sqlx::query_as(select_clients!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await)
            .map_err(db_err)?;
        row.map(ClientRow::into_client).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>> {
        let rows: Vec<ClientRow> =
            on_pool!(self, pool => sqlx::query_as(select_clients!("ORDER BY created_at, id"))
            .fetch_all(pool)
            .await)
            .map_err(db_err)?;
        rows.into_iter().map(ClientRow::into_client).collect()
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool> {
        in_tx!(self, tx => {
            let done = sqlx::query("DELETE FROM clients WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'")
                .execute(&mut *tx)
                .await?;
            Ok::<bool, Error>(done > 0)
        })
    }

    async fn update_client(&self, c: &Client) -> Result<bool> {
        let grant_types: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
        let grant_types = grant_types.join(" ");
        in_tx!(self, tx => {
            let done = sqlx::query(
                "UPDATE clients SET name = $1, secret_hash = $2, first_party = $3, redirect_uris = $4, \
                 post_logout_redirect_uris = $5, grant_types = $6, scopes = $7, audiences = $8, \
                 token_delivery = $9, allowed_origins = $10, previous_secret_hash = $11, \
                 previous_secret_expires_at = $12, policy = $13, backchannel_logout_uri = $14 \
                 WHERE id = $15",
            )
            .bind(&c.name)
            .bind(c.secret_hash.as_ref().map(SecretHash::as_str))
            .bind(c.first_party)
            .bind(list_to_text(&c.redirect_uris))
            .bind(list_to_text(&c.post_logout_redirect_uris))
            .bind(&grant_types)
            .bind(c.scopes.to_string())
            .bind(list_to_text(&c.audiences))
            .bind(c.token_delivery.as_str())
            .bind(list_to_text(&c.allowed_origins))
            .bind(c.previous_secret.as_ref().map(|p| p.hash.as_str()))
            .bind(c.previous_secret.as_ref().map(|p| p.expires_at))
            .bind(c.policy.to_stored())
            .bind(&c.backchannel_logout_uri)
            .bind(c.id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // Every process's client cache and origin index must drop the old row.
            sqlx::query("UPDATE cache_generations SET generation = generation + 1 WHERE name = 'clients'")
                .execute(&mut *tx)
                .await?;
            Ok::<bool, Error>(done > 0)
        })
    }

    async fn clients_generation(&self) -> Result<i64> {
        let g: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT generation FROM cache_generations WHERE name = 'clients'",
        )
        .fetch_one(pool)
        .await)?;
        Ok(g)
    }
}

impl AssertionReplayStore for Store {
    async fn record_assertion_jti(&self, key: &str, expires_at: UnixTime) -> Result<bool> {
        // One statement: the primary key decides between concurrent
        // inserts, in one process or many.
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO client_assertion_jtis (jti_key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti_key) DO NOTHING",
        )
        .bind(key)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(inserted == 1)
    }

    async fn purge_assertion_jtis(&self, now: UnixTime) -> Result<u64> {
        super::purge_in_batches(
            self,
            "DELETE FROM client_assertion_jtis WHERE jti_key IN \
                 (SELECT jti_key FROM client_assertion_jtis WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await
    }
}
