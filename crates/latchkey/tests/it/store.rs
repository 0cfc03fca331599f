//! The store conformance suite: every storage contract of `core`, checked on
//! both backends through the real pools.

use std::sync::Arc;

use latchkey::core::clients::{ClientStore as _, GrantType, NewClient, TokenDelivery};
use latchkey::core::keys::{self, KeyState, KeyStore as _, SigningAlg, StoredKey};
use latchkey::core::scope::Scope;
use latchkey::core::secret::ServerSecretStore as _;

both_backends! {
    /// Clients round-trip every field; unknown ids are absent; delete reports.
    async fn clients_round_trip(db) {
        let store = db.store().await;
        let (client, secret) = NewClient {
            name: "web".into(),
            first_party: true,
            redirect_uris: vec!["https://app.example/cb".into(), "http://127.0.0.1:9/cb".into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode],
            scopes: Some(Scope::parse("openid email read").unwrap()),
            audiences: vec!["api".into()],
            token_delivery: TokenDelivery::Cookie,
            ..NewClient::default()
        }.build(1_700_000_000).unwrap();
        store.insert_client(&client).await.unwrap();
        let got = store.get_client(&client.id).await.unwrap().unwrap();
        assert_eq!(got, client);
        assert!(got.secret_hash.unwrap().matches(secret.unwrap().expose()));
        assert!(store.get_client(&"nope".into()).await.unwrap().is_none());
        assert_eq!(store.list_clients().await.unwrap().len(), 1);
        let generation = store.clients_generation().await.unwrap();
        assert!(store.delete_client(&client.id).await.unwrap());
        assert!(store.clients_generation().await.unwrap() > generation, "a removal bumps the generation");
        assert!(!store.delete_client(&client.id).await.unwrap());
        assert!(store.get_client(&client.id).await.unwrap().is_none());
    }
}

both_backends! {
    /// "At most one key is current and at most one is next" holds under races.
    async fn keys_one_current_one_next_under_races(db) {
        let store = Arc::new(db.store().await);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                keys::ensure_keys(&*store, SigningAlg::ES256, 1_000).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let all = store.list_keys().await.unwrap();
        assert_eq!(all.iter().filter(|k| k.state == KeyState::Current).count(), 1);
        assert_eq!(all.iter().filter(|k| k.state == KeyState::Next).count(), 1);
        assert_eq!(all.len(), 2, "the losers inserted nothing");

        // A second current key is refused as a whole.
        let extra = StoredKey::generate(SigningAlg::ES256, KeyState::Current, 1_001).await.unwrap();
        assert!(!store.insert_keys(&[extra]).await.unwrap());
        assert_eq!(store.list_keys().await.unwrap().len(), 2);
    }
}

both_backends! {
    /// Rotation moves every state one step, atomically; purge removes only
    /// retired keys past their time.
    async fn rotate_and_purge(db) {
        let store = db.store().await;
        keys::ensure_keys(&store, SigningAlg::EdDSA, 1_000).await.unwrap();
        let r1 = keys::rotate(&store, SigningAlg::EdDSA, 2_000, 100).await.unwrap();
        let r2 = keys::rotate(&store, SigningAlg::EdDSA, 3_000, 100).await.unwrap();
        assert_eq!(r2.retired.as_deref(), Some(r1.current.as_str()));
        assert_eq!(r2.current, r1.next);
        let all = store.list_keys().await.unwrap();
        assert_eq!(all.len(), 4);
        let by_kid = |kid: &str| all.iter().find(|k| k.kid == kid).unwrap().clone();
        let old = by_kid(r1.retired.as_deref().unwrap());
        assert_eq!(old.state, KeyState::Retired);
        assert_eq!((old.retired_at, old.remove_after), (Some(2_000), Some(2_100)));
        assert_eq!(by_kid(&r2.current).activated_at, Some(3_000));

        assert_eq!(store.purge_keys(2_099).await.unwrap(), 0);
        assert_eq!(store.purge_keys(2_100).await.unwrap(), 1);
        assert_eq!(store.purge_keys(3_100).await.unwrap(), 1);
        let states: Vec<KeyState> = store.list_keys().await.unwrap().iter().map(|k| k.state).collect();
        assert_eq!(states.len(), 2);
        assert!(states.contains(&KeyState::Current) && states.contains(&KeyState::Next));
    }
}

both_backends! {
    /// Without a next key, a rotation changes nothing.
    async fn rotation_without_next_changes_nothing(db) {
        let store = db.store().await;
        let only = StoredKey::generate(SigningAlg::ES256, KeyState::Current, 1).await.unwrap();
        assert!(store.insert_keys(std::slice::from_ref(&only)).await.unwrap());
        let new_next = StoredKey::generate(SigningAlg::ES256, KeyState::Next, 2).await.unwrap();
        assert!(store.rotate_keys(&new_next, 2, 10).await.is_err());
        let all = store.list_keys().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].state, KeyState::Current);
    }
}

both_backends! {
    /// Concurrent first starts agree on one server secret.
    async fn server_secret_first_insert_wins(db) {
        let store = Arc::new(db.store().await);
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.get_or_create_secret("hmac", &format!("candidate-{i}"), 1).await.unwrap()
            }));
        }
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        values.dedup();
        assert_eq!(values.len(), 1);
        assert_eq!(store.get_or_create_secret("hmac", "later", 2).await.unwrap(), values[0]);
    }
}

both_backends! {
    /// Users: emails unique case-insensitively; lookups by any case; flags and
    /// hashes update.
    async fn users_round_trip(db) {
        use latchkey::core::users::{NewUser, UserStore as _};
        let store = db.store().await;
        let alice = NewUser {
            email: "Alice@Example.com".into(),
            name: Some("Alice".into()),
            roles: vec!["admin".into()],
            unverified: false,
        }
        .build("$argon2id$fake".into(), 10)
        .unwrap();
        store.insert_user(&alice).await.unwrap();
        assert_eq!(store.get_user(&alice.id).await.unwrap().unwrap(), alice);
        assert_eq!(store.find_user_by_email("alice@EXAMPLE.com").await.unwrap().unwrap().id, alice.id);
        assert!(store.find_user_by_email("bob@example.com").await.unwrap().is_none());

        let twin = NewUser { email: "ALICE@example.COM".into(), ..NewUser::default() }.build("h".into(), 11).unwrap();
        assert_eq!(store.insert_user(&twin).await.unwrap_err().code(), "invalid_request");

        assert!(store.set_user_disabled(&alice.id, true, 20).await.unwrap());
        assert!(store.set_password_hash(&alice.id, "$argon2id$new", 21).await.unwrap());
        let got = store.get_user(&alice.id).await.unwrap().unwrap();
        assert!(got.disabled);
        assert_eq!(got.password_hash, "$argon2id$new");
        assert_eq!(got.updated_at, 21);
        assert!(!store.set_user_disabled(&"nobody".into(), true, 22).await.unwrap());
        assert_eq!(store.list_users().await.unwrap().len(), 1);
    }
}
