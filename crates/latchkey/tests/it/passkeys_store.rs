//! Store conformance for passkeys (`core::passkeys::PasskeyStore`) on both
//! backends through the real pools: credentials (unique credential ids, a
//! user's list, conditional counter updates, removal by owner only) and
//! ceremony state (taken once, by the browser that started it only, purged
//! when expired).

use latchkey::core::mfa::MfaStore as _;
use latchkey::core::passkeys::{Ceremony, CeremonyKind, PasskeyStore as _, StoredPasskey};
use latchkey::core::secret::SecretHash;
use latchkey::core::users::{NewUser, User, UserStore as _};
use latchkey::store::Store;

async fn user(store: &Store, email: &str) -> User {
    let u = NewUser {
        email: email.into(),
        ..NewUser::default()
    }
    .build("h".into(), 0)
    .unwrap();
    store.insert_user(&u).await.unwrap();
    u
}

fn passkey(user: &User, id: &str, credential: &str, at: i64) -> StoredPasskey {
    StoredPasskey {
        id: id.into(),
        user_id: user.id.clone(),
        credential_id: credential.into(),
        passkey: format!("{{\"cred\":\"{credential}\"}}"),
        name: format!("key {id}"),
        sign_count: 0,
        created_at: at,
        last_used_at: None,
    }
}

fn ceremony(
    id: &str,
    browser: &str,
    kind: CeremonyKind,
    user: Option<&User>,
    exp: i64,
) -> Ceremony {
    Ceremony {
        id_hash: SecretHash::of(id),
        browser_hash: SecretHash::of(browser),
        kind,
        user_id: user.map(|u| u.id.clone()),
        state: "{\"challenge\":\"c\"}".into(),
        expires_at: exp,
    }
}

both_backends! {
    /// A credential id is registered once; a user's passkeys are listed
    /// oldest first; the counter moves only from the value it was read
    /// with; a passkey is removed only by its owner; `reset-mfa` removes
    /// them all.
    async fn credentials(db) {
        let store = db.store().await;
        let ann = user(&store, "ann@example.com").await;
        let bob = user(&store, "bob@example.com").await;

        assert!(store.insert_passkey(&passkey(&ann, "p1", "cred-1", 10)).await.unwrap());
        assert!(store.insert_passkey(&passkey(&ann, "p2", "cred-2", 20)).await.unwrap());
        // The same credential id again, for anyone: refused.
        assert!(!store.insert_passkey(&passkey(&bob, "p3", "cred-1", 30)).await.unwrap());

        let list = store.list_passkeys(&ann.id).await.unwrap();
        assert_eq!(list.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["p1", "p2"]);
        assert_eq!(list[0], passkey(&ann, "p1", "cred-1", 10));
        assert!(store.list_passkeys(&bob.id).await.unwrap().is_empty());
        assert_eq!(store.find_passkey("cred-2").await.unwrap().unwrap().id, "p2");
        assert!(store.find_passkey("cred-9").await.unwrap().is_none());

        // Two assertions checked against counter 0: the first is recorded,
        // the second (checked against the same counter) is not.
        assert!(store.record_passkey_use("p1", "{\"v\":1}", 5, 0, 100).await.unwrap());
        assert!(!store.record_passkey_use("p1", "{\"v\":2}", 5, 0, 101).await.unwrap());
        let used = store.find_passkey("cred-1").await.unwrap().unwrap();
        assert_eq!((used.sign_count, used.last_used_at, used.passkey.as_str()), (5, Some(100), "{\"v\":1}"));

        // Bob cannot remove Ann's passkey; Ann can.
        assert!(!store.delete_passkey(&bob.id, "p1").await.unwrap());
        assert!(store.delete_passkey(&ann.id, "p1").await.unwrap());
        assert!(!store.delete_passkey(&ann.id, "p1").await.unwrap());
        assert!(store.find_passkey("cred-1").await.unwrap().is_none());

        assert!(store.insert_passkey(&passkey(&bob, "p4", "cred-4", 40)).await.unwrap());
        assert_eq!(store.delete_user_passkeys(&ann.id).await.unwrap(), 1);
        assert!(store.list_passkeys(&ann.id).await.unwrap().is_empty());
        assert_eq!(store.list_passkeys(&bob.id).await.unwrap().len(), 1);
    }
}

both_backends! {
    /// A ceremony is taken once, and only by the browser that started it;
    /// an expired one is purged.
    async fn ceremonies(db) {
        let store = db.store().await;
        let ann = user(&store, "ann@example.com").await;

        let reg = ceremony("c1", "browser-a", CeremonyKind::Register, Some(&ann), 100);
        store.insert_ceremony(&reg).await.unwrap();
        // Another browser holding the id gets nothing, and does not burn it.
        assert!(store
            .take_ceremony(&SecretHash::of("c1"), &SecretHash::of("browser-b"))
            .await
            .unwrap()
            .is_none());
        let taken = store
            .take_ceremony(&SecretHash::of("c1"), &SecretHash::of("browser-a"))
            .await
            .unwrap();
        assert_eq!(taken, Some(reg));
        // Single use.
        assert!(store
            .take_ceremony(&SecretHash::of("c1"), &SecretHash::of("browser-a"))
            .await
            .unwrap()
            .is_none());

        // A sign-in has no user yet; concurrent takers: one wins.
        let auth = ceremony("c2", "browser-a", CeremonyKind::Authenticate, None, 100);
        store.insert_ceremony(&auth).await.unwrap();
        let (id, browser) = (SecretHash::of("c2"), SecretHash::of("browser-a"));
        let (a, b) = tokio::join!(
            store.take_ceremony(&id, &browser),
            store.take_ceremony(&id, &browser),
        );
        let won: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(won, vec![auth]);

        // Purged once expired, not before.
        store
            .insert_ceremony(&ceremony("c3", "browser-a", CeremonyKind::Authenticate, None, 100))
            .await
            .unwrap();
        store
            .insert_ceremony(&ceremony("c4", "browser-a", CeremonyKind::Authenticate, None, 200))
            .await
            .unwrap();
        assert_eq!(store.purge_ceremonies(150).await.unwrap(), 1);
        assert!(store
            .take_ceremony(&SecretHash::of("c4"), &SecretHash::of("browser-a"))
            .await
            .unwrap()
            .is_some());
    }
}

both_backends! {
    /// `latchkey user reset-mfa` (the store's `reset_mfa`) removes the
    /// user's passkeys with the other second factors, and no one else's.
    async fn reset_mfa_removes_passkeys(db) {
        let store = db.store().await;
        let ann = user(&store, "ann@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        assert!(store.insert_passkey(&passkey(&ann, "p1", "cred-1", 10)).await.unwrap());
        assert!(store.insert_passkey(&passkey(&bob, "p2", "cred-2", 20)).await.unwrap());

        assert!(store.reset_mfa(&ann.id).await.unwrap());
        assert!(store.list_passkeys(&ann.id).await.unwrap().is_empty());
        assert_eq!(store.list_passkeys(&bob.id).await.unwrap().len(), 1);
        assert!(!store.reset_mfa(&ann.id).await.unwrap());
    }
}
