//! The web origins a client's browser code runs on, and which client a
//! request acted for: what the HTTP layer needs to answer CORS (the Fetch
//! standard's CORS protocol; docs/cors-and-tls.md).
//!
//! An origin is registered per client (`--allowed-origin`), normalised once
//! to its RFC 6454 §6.2 ASCII serialization — the exact bytes a browser puts
//! in the `Origin` header — so that a request's origin is compared as a
//! string, never parsed or matched by pattern.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

pub use super::clients::normalize_origin;
use super::clients::{ClientStore, TokenDelivery};
use super::error::{Error, Result};
use super::generation::{Freshness, Generation};

/// One client that registered an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub client_id: String,
    pub token_delivery: TokenDelivery,
}

/// The clients that registered one origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginClients(Vec<Registration>);

impl OriginClients {
    /// Whether any client registered the origin: enough to answer a
    /// preflight, which carries no credentials and so names no client.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether a client among them gets its refresh token in a cookie.
    pub fn any_cookie_client(&self) -> bool {
        self.0
            .iter()
            .any(|r| r.token_delivery == TokenDelivery::Cookie)
    }

    /// The registration of `client_id`, if that client registered the origin.
    pub fn client(&self, client_id: &str) -> Option<&Registration> {
        self.0.iter().find(|r| r.client_id == client_id)
    }
}

type Index = HashMap<String, OriginClients>;

/// Every registered origin and the clients that registered it, kept in
/// memory and as fresh as [`super::clients::ClientCache`]: rebuilt whenever
/// the clients generation moves (every insert, change and removal of a
/// client bumps it in its transaction), checked at most every
/// `client_cache_revalidate_ms`.
///
/// The preflight answer needs "is this origin registered by any client", a
/// question no single client row answers, and a query per preflight would
/// put an unauthenticated, cacheless database read in front of anyone who
/// sends `OPTIONS`.
pub struct OriginIndex {
    /// The index with the generation it was built at (read before the
    /// clients were, so the data is at least that fresh).
    built: RwLock<Option<(i64, Arc<Index>)>>,
    generation: Generation,
}

impl OriginIndex {
    pub fn new(revalidate_ms: u64) -> Self {
        OriginIndex {
            built: RwLock::new(None),
            generation: Generation::new(revalidate_ms),
        }
    }

    /// The clients that registered `origin` (none for an unknown origin).
    pub async fn lookup<S: ClientStore>(&self, store: &S, origin: &str) -> Result<OriginClients> {
        let index = self.fresh(store).await?;
        Ok(index.get(origin).cloned().unwrap_or_default())
    }

    async fn fresh<S: ClientStore>(&self, store: &S) -> Result<Arc<Index>> {
        let freshness = match self.generation.check(|| store.clients_generation()).await {
            Ok(f) => f,
            // As the client cache does: clients change only through the
            // database, so while it is away the index is as old as the outage.
            Err(Error::TemporarilyUnavailable(_)) if self.snapshot().is_some() => Freshness::Fresh,
            Err(e) => return Err(e),
        };
        if freshness == Freshness::Fresh
            && let Some((_, index)) = self.snapshot()
        {
            return Ok(index);
        }
        let label = self.generation.current();
        let index = match Self::build(store).await {
            Ok(index) => Arc::new(index),
            Err(e) => {
                // The next check must rebuild, not trust an index that
                // missed this change.
                self.generation.invalidate();
                return Err(e);
            }
        };
        let mut built = self.built.write().unwrap_or_else(PoisonError::into_inner);
        // A slower rebuild must not overwrite a newer one.
        if built.as_ref().is_none_or(|(at, _)| *at <= label) {
            *built = Some((label, index.clone()));
        }
        Ok(index)
    }

    fn snapshot(&self) -> Option<(i64, Arc<Index>)> {
        self.built
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn build<S: ClientStore>(store: &S) -> Result<Index> {
        let mut index = Index::new();
        for client in store.list_clients().await? {
            for origin in &client.allowed_origins {
                index
                    .entry(origin.clone())
                    .or_default()
                    .0
                    .push(Registration {
                        client_id: client.id.to_string(),
                        token_delivery: client.token_delivery,
                    });
            }
        }
        Ok(index)
    }
}

tokio::task_local! {
    /// The client the request being served acted for, as `core` found it.
    static ACTING_CLIENT: Cell<Option<String>>;
}

/// Runs `work` (one request) and returns its output with the client it
/// acted for: the client that authenticated, the client of the refresh
/// token in the cookie, or the client an access token was issued to.
///
/// This is a task-local rather than part of every result because the
/// client is known deep inside `core`, on the failure paths as much as on
/// success (a refused refresh still belongs to its client, whose app must be
/// able to read the `invalid_grant`), and threading it through every
/// `Result` of every flow would make each handler map it. The flows note it
/// with [`note_acting_client`] where they establish it; the HTTP layer
/// reads it once, around the whole handler.
pub async fn with_acting_client<F: Future>(work: F) -> (F::Output, Option<String>) {
    ACTING_CLIENT
        .scope(Cell::new(None), async move {
            let out = work.await;
            let client = ACTING_CLIENT.try_with(Cell::take).ok().flatten();
            (out, client)
        })
        .await
}

/// Records that the current request acts for `client_id`. Outside
/// [`with_acting_client`] (the CLI, a test calling `core` directly) it does
/// nothing.
pub fn note_acting_client(client_id: &str) {
    let _ = ACTING_CLIENT.try_with(|c| c.set(Some(client_id.to_owned())));
}

/// The clients that registered `origin` (CORS: a preflight asks whether any
/// did; an actual request, whether the client it acted for did), from the
/// in-memory index of this process.
pub async fn registrations<S: ClientStore>(
    auth: &super::Authority<S>,
    origin: &str,
) -> Result<OriginClients> {
    auth.origins.lookup(&auth.store, origin).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_serialize_them() {
        for (input, normal) in [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://app.example.com:80", "http://app.example.com"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443",
            ),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://localhost:5173", "http://localhost:5173"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            (" https://app.example.com ", "https://app.example.com"),
        ] {
            assert_eq!(normalize_origin(input).unwrap(), normal, "{input}");
        }
    }

    #[test]
    fn anything_but_an_origin_is_refused() {
        for input in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://app.example.com?",
            "https://app.example.com#top",
            "https://user:pass@app.example.com",
            "https://*.example.com",
            "*",
            "null",
            "NULL",
            "app.example.com",
            "ftp://app.example.com",
            "file:///etc",
            "chrome-extension://abc",
            "",
        ] {
            let err = normalize_origin(input).unwrap_err();
            assert_eq!(err.code(), "invalid_request", "{input}");
        }
    }

    #[tokio::test]
    async fn the_acting_client_is_what_the_request_noted_last() {
        let (out, client) = with_acting_client(async {
            note_acting_client("a");
            tokio::task::yield_now().await;
            note_acting_client("b");
            7
        })
        .await;
        assert_eq!((out, client.as_deref()), (7, Some("b")));
        let ((), none) = with_acting_client(async {}).await;
        assert_eq!(none, None);
        // Outside a request: nothing happens, nothing panics.
        note_acting_client("c");
    }
}
