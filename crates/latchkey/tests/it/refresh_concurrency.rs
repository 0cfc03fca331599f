//! N concurrent uses of one refresh token: exactly one succeeds (RFC 9700
//! §4.14; ARCHITECTURE.md "Refresh tokens"), through the group-commit write
//! path, on each database, in one process and across two `latchkey serve` processes.

use latchkey::core::clients::TokenDelivery;

use crate::common::first_party::{ChildServer, first_party, refresh_at};
use crate::common::{TestClient, TestServer};

/// Enough for the requests to meet in the rotation queue: under group commit
/// many of them share one batch, and still exactly one wins.
const N: usize = 64;

/// Fires `N` refreshes of `token` at once, alternating between `bases`;
/// returns the status codes and the refresh tokens of the successes.
async fn race(
    http: &reqwest::Client,
    bases: &[String],
    client: &TestClient,
    token: &str,
) -> (Vec<u16>, Vec<String>) {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (http, base, client, token, barrier) = (
            http.clone(),
            bases[i % bases.len()].clone(),
            client.clone(),
            token.to_owned(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let resp = refresh_at(&http, &base, &client, &token, None).await;
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body["refresh_token"].as_str().map(str::to_owned))
        }));
    }
    let mut statuses = Vec::new();
    let mut successors = Vec::new();
    for t in tasks {
        let (status, refresh) = t.await.unwrap();
        statuses.push(status);
        successors.extend(refresh);
    }
    (statuses, successors)
}

both_backends! {
    /// Grace 0: one winner; every other request is refused.
    async fn concurrent_refreshes_one_wins(db) {
        let srv = TestServer::start_with(&db, |s| s.database_max_connections = 8).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("alice@example.com", &[]).await;
        for _ in 0..3 {
            let r0 = srv.signed_in(&app, "alice@example.com").await.refresh_token.unwrap();
            let (statuses, successors) = race(&srv.http, std::slice::from_ref(&srv.url), &app, &r0).await;
            assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
            assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
            assert_eq!(successors.len(), 1);
        }
    }
}

both_backends! {
    /// Grace on: concurrent repeats of one token all get the *same*
    /// successor, so the family never branches.
    async fn concurrent_refreshes_with_grace_share_one_successor(db) {
        let srv = TestServer::start_with(&db, |s| {
            s.database_max_connections = 8;
            s.refresh_reuse_grace_seconds = 30;
        }).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("bob@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "bob@example.com").await.refresh_token.unwrap();
        let (statuses, mut successors) = race(&srv.http, std::slice::from_ref(&srv.url), &app, &r0).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        successors.dedup();
        assert_eq!(successors.len(), 1, "one successor for all");
        let r1 = &successors[0];
        crate::common::first_party::expect_tokens(srv.refresh(&app, r1, None).await).await;
    }
}

both_backends! {
    /// Two server processes on one database: still exactly one winner. The
    /// second process is the real binary, so nothing in-process can help.
    async fn concurrent_refreshes_across_two_processes(db) {
        let srv = TestServer::start_with(&db, |s| s.database_max_connections = 8).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("carol@example.com", &[]).await;
        let other = ChildServer::start(&db, &srv.url, &[("LATCHKEY_DATABASE_MAX_CONNECTIONS", "8")]).await;
        let bases = [srv.url.clone(), other.url.clone()];
        for _ in 0..3 {
            let r0 = srv.signed_in(&app, "carol@example.com").await.refresh_token.unwrap();
            let (statuses, successors) = race(&srv.http, &bases, &app, &r0).await;
            assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
            assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
            assert_eq!(successors.len(), 1);
        }
        // The other process rotates tokens the first issued, and vice versa.
        let r0 = srv.signed_in(&app, "carol@example.com").await.refresh_token.unwrap();
        let r1 = crate::common::first_party::expect_tokens(refresh_at(&srv.http, &other.url, &app, &r0, None).await).await.refresh_token.unwrap();
        crate::common::first_party::expect_tokens(srv.refresh(&app, &r1, None).await).await;
    }
}
