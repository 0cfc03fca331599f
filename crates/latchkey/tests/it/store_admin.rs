//! Store contracts added by administration (docs/admin.md): client
//! updates, user search/update/delete, audit search, registration tokens.
//! Each on both backends.

use latchkey::core::audit::{AuditEvent, AuditQuery, AuditStore as _, Kind, Outcome};
use latchkey::core::clients::{ClientStore as _, NewClient, PreviousSecret};
use latchkey::core::registration::RegistrationStore as _;
use latchkey::core::secret::SecretHash;
use latchkey::core::users::{NewUser, UserQuery, UserStore as _};

both_backends! {
    /// `update_client` replaces every stored field (the previous secret
    /// too), bumps the generation, and reports whether the client exists.
    async fn update_client_replaces_and_bumps(db) {
        let store = db.store().await;
        let (mut client, _) = NewClient { name: "a".into(), ..NewClient::default() }.build(100).unwrap();
        store.insert_client(&client).await.unwrap();
        let generation = store.clients_generation().await.unwrap();
        client.name = "b".into();
        client.redirect_uris = vec!["https://x.example/cb".into()];
        client.previous_secret = Some(PreviousSecret { hash: SecretHash::of("old"), expires_at: 500 });
        assert!(store.update_client(&client).await.unwrap());
        assert_eq!(store.get_client(&client.id).await.unwrap().unwrap(), client);
        assert!(store.clients_generation().await.unwrap() > generation);
        client.previous_secret = None;
        assert!(store.update_client(&client).await.unwrap());
        assert_eq!(store.get_client(&client.id).await.unwrap().unwrap().previous_secret, None);
        let (ghost, _) = NewClient { name: "g".into(), ..NewClient::default() }.build(1).unwrap();
        assert!(!store.update_client(&ghost).await.unwrap());
    }
}

both_backends! {
    /// `search_users` matches email or name case-insensitively, treats `%`
    /// and `_` literally, orders by `(created_at, id)` and starts after the
    /// cursor; `update_user_profile` and `delete_user` report existence.
    async fn user_search_update_delete(db) {
        let store = db.store().await;
        let mut ids = Vec::new();
        for (i, (email, name)) in [("ada@x.example", Some("Ada Lovelace")), ("bob@x.example", None),
                                   ("c_d@x.example", Some("Carla")), ("dan@y.example", Some("100% Dan"))]
            .into_iter().enumerate() {
            let u = NewUser { email: email.into(), name: name.map(Into::into), ..NewUser::default() }
                .build("h".into(), 10 + i as i64).unwrap();
            store.insert_user(&u).await.unwrap();
            ids.push(u.id);
        }
        let search = |q: Option<&str>, after: Option<(i64, String)>, limit: i64| {
            let store = store.clone();
            let q = q.map(str::to_owned);
            async move {
                store.search_users(&UserQuery { q, after, limit }).await.unwrap()
                    .into_iter().map(|u| u.email).collect::<Vec<_>>()
            }
        };
        assert_eq!(search(None, None, 10).await, ["ada@x.example", "bob@x.example", "c_d@x.example", "dan@y.example"]);
        assert_eq!(search(Some("LOVELACE"), None, 10).await, ["ada@x.example"]);
        assert_eq!(search(Some("X.EXAMPLE"), None, 2).await, ["ada@x.example", "bob@x.example"]);
        assert_eq!(search(Some("_"), None, 10).await, ["c_d@x.example"], "_ is no wildcard");
        assert_eq!(search(Some("%"), None, 10).await, ["dan@y.example"], "% is no wildcard");
        assert_eq!(search(None, Some((11, ids[1].to_string())), 10).await, ["c_d@x.example", "dan@y.example"]);

        assert!(store.update_user_profile(&ids[1], Some("Bob"), &["admin".to_owned()], 50).await.unwrap());
        let bob = store.get_user(&ids[1]).await.unwrap().unwrap();
        assert_eq!((bob.name.as_deref(), bob.roles.as_slice(), bob.updated_at), (Some("Bob"), &["admin".to_owned()][..], 50));
        assert!(store.delete_user(&ids[1]).await.unwrap());
        assert!(!store.delete_user(&ids[1]).await.unwrap());
        assert!(!store.update_user_profile(&ids[1], None, &[], 60).await.unwrap());
        assert!(store.get_user(&ids[1]).await.unwrap().is_none());
    }
}

both_backends! {
    /// `search_audit_events` filters by kind, time, user and client (as
    /// subject or actor), and pages by `(at, id)`.
    async fn audit_search(db) {
        let store = db.store().await;
        let events = vec![
            AuditEvent::new(100, Kind::ClientCreate, "cli", Outcome::Success).client("c1"),
            AuditEvent::new(200, Kind::UserDisable, "client:c1", Outcome::Success).user("u1"),
            AuditEvent::new(300, Kind::Signin, "user:u1", Outcome::Failure).client("c2"),
        ];
        store.insert_audit_events(&events).await.unwrap();
        let q = |f: AuditQuery| {
            let store = store.clone();
            async move {
                store.search_audit_events(&AuditQuery { limit: 10, ..f }).await.unwrap()
                    .into_iter().map(|e| e.at).collect::<Vec<_>>()
            }
        };
        assert_eq!(q(AuditQuery::default()).await, [100, 200, 300]);
        assert_eq!(q(AuditQuery { kind: Some("signin".into()), ..Default::default() }).await, [300]);
        assert_eq!(q(AuditQuery { since: Some(150), until: Some(250), ..Default::default() }).await, [200]);
        assert_eq!(q(AuditQuery { client: Some("c1".into()), ..Default::default() }).await, [100, 200]);
        assert_eq!(q(AuditQuery { user: Some("u1".into()), ..Default::default() }).await, [200, 300]);
        let first = &events[0];
        assert_eq!(q(AuditQuery { after: Some((first.at, first.id.clone())), ..Default::default() }).await, [200, 300]);
    }
}

both_backends! {
    /// Initial tokens are spent at most `uses` times and never after they
    /// expire, also under concurrency; registration tokens are per client.
    async fn registration_tokens(db) {
        let store = db.store().await;
        let h = SecretHash::of("t1");
        store.insert_initial_token(&h, Some(1_000), Some(3), 0).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            let h = h.clone();
            tasks.push(tokio::spawn(async move { store.spend_initial_token(&h, 10).await.unwrap() }));
        }
        let mut spent = 0;
        for t in tasks {
            spent += usize::from(t.await.unwrap());
        }
        assert_eq!(spent, 3, "exactly the allowed uses, whatever the race");
        let unlimited = SecretHash::of("t2");
        store.insert_initial_token(&unlimited, Some(1_000), None, 0).await.unwrap();
        assert!(store.spend_initial_token(&unlimited, 999).await.unwrap());
        assert!(store.spend_initial_token(&unlimited, 999).await.unwrap());
        assert!(!store.spend_initial_token(&unlimited, 1_000).await.unwrap(), "expired");
        assert!(!store.spend_initial_token(&SecretHash::of("nope"), 0).await.unwrap());

        let (client, _) = NewClient { name: "dcr".into(), ..NewClient::default() }.build(1).unwrap();
        store.insert_client(&client).await.unwrap();
        assert!(store.registration_token(&client.id).await.unwrap().is_none());
        assert!(store.set_registration_token(&client.id, &SecretHash::of("rat")).await.unwrap());
        assert!(store.registration_token(&client.id).await.unwrap().unwrap().matches("rat"));
        assert!(!store.set_registration_token(&"ghost".into(), &SecretHash::of("x")).await.unwrap());
    }
}
