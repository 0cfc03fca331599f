//! Store conformance for accounts (`core::accounts::AccountStore` and the
//! users' additions), on both backends through the real pools.

use latchkey::core::accounts::{AccountStore as _, AccountToken, TokenPurpose};
use latchkey::core::clients::{ClientId, ClientStore as _, GrantType, NewClient};
use latchkey::core::consent::ConsentStore as _;
use latchkey::core::outbox::{NewMessage, OutboxStore as _};
use latchkey::core::refresh::{
    FamilyOrigin, NewFamily, RefreshFamily, RefreshTokenRecord, RefreshTokenStore as _,
};
use latchkey::core::scope::Scope;
use latchkey::core::secret::SecretHash;
use latchkey::core::sessions::{Session, SessionStore as _};
use latchkey::core::users::{NewUser, User, UserId, UserStore as _};
use latchkey::store::Store;

fn user(email: &str) -> User {
    NewUser {
        email: email.into(),
        unverified: true,
        ..NewUser::default()
    }
    .build("h".into(), 0)
    .unwrap()
}

fn mail(user: &User, now: i64) -> NewMessage {
    NewMessage::new(
        "email",
        format!(
            "{{\"user_id\":\"{}\",\"to\":\"{}\",\"subject\":\"s\",\"text\":\"t\"}}",
            user.id, user.email
        ),
        now,
        3600,
    )
    .unwrap()
}

fn session(user: &UserId, id: &str, now: i64) -> Session {
    Session {
        id_hash: SecretHash::of(id),
        user_id: user.clone(),
        auth_time: now,
        created_at: now,
        idle_expires_at: now + 100,
        expires_at: now + 1000,
        amr: latchkey::core::mfa::Amr::password(),
    }
}

async fn client(store: &Store, name: &str) -> ClientId {
    let (c, _) = NewClient {
        name: name.into(),
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        ..NewClient::default()
    }
    .build(0)
    .unwrap();
    store.insert_client(&c).await.unwrap();
    c.id
}

fn family(id: &str, client: &ClientId, user: &UserId, now: i64) -> NewFamily {
    NewFamily {
        family: RefreshFamily {
            id: id.into(),
            client_id: client.clone(),
            user_id: user.clone(),
            scope: Scope::parse("openid").unwrap(),
            auth_time: Some(now),
            origin: Some(FamilyOrigin::Password),
            created_at: now,
            expires_at: now + 1000,
            revoked_at: None,
            dpop_jkt: None,
        },
        first_token: RefreshTokenRecord {
            hash: SecretHash::of(id),
            family_id: id.into(),
            issued_at: now + 5,
            expires_at: now + 100,
        },
    }
}

both_backends! {
    /// `register_user` stores user, token and e-mail together; a taken
    /// address (in another case) stores none of them.
    async fn register_user_is_all_or_nothing(db) {
        let store = db.store().await;
        let now = 1_000;
        let a = user("Pat@Example.com");
        let (_, token) = AccountToken::issue(TokenPurpose::VerifyEmail, &a.id, now).unwrap();
        assert!(store.register_user(&a, Some(&token), &mail(&a, now)).await.unwrap());
        let got = store.get_user(&a.id).await.unwrap().unwrap();
        assert!(!got.email_verified);
        assert_eq!(store.list_outbox("email").await.unwrap().len(), 1);

        let twin = user("pat@example.COM");
        let (_, t2) = AccountToken::issue(TokenPurpose::VerifyEmail, &twin.id, now).unwrap();
        assert!(!store.register_user(&twin, Some(&t2), &mail(&twin, now)).await.unwrap());
        assert!(store.get_user(&twin.id).await.unwrap().is_none());
        assert_eq!(store.list_outbox("email").await.unwrap().len(), 1, "no e-mail for the twin");
        assert_eq!(store.take_account_token(&t2.hash, TokenPurpose::VerifyEmail, now).await.unwrap(), None);
    }
}

both_backends! {
    /// `take_account_token` yields the user once, before expiry, for its
    /// purpose only — also when many take at once.
    async fn tokens_are_taken_once(db) {
        let store = db.store().await;
        let now = 1_000;
        let u = user("quin@example.com");
        store.insert_user(&u).await.unwrap();
        let (_, verify) = AccountToken::issue(TokenPurpose::VerifyEmail, &u.id, now).unwrap();
        store.issue_account_token(&verify, &mail(&u, now)).await.unwrap();
        assert_eq!(store.take_account_token(&verify.hash, TokenPurpose::ResetPassword, now).await.unwrap(), None, "another purpose");
        let takes = futures_util::future::join_all((0..8).map(|_| store.take_account_token(&verify.hash, TokenPurpose::VerifyEmail, now))).await;
        let won: Vec<_> = takes.into_iter().map(Result::unwrap).filter(Option::is_some).collect();
        assert_eq!(won, vec![Some(u.id.clone())], "exactly one taker");

        let (_, reset) = AccountToken::issue(TokenPurpose::ResetPassword, &u.id, now).unwrap();
        store.issue_account_token(&reset, &mail(&u, now)).await.unwrap();
        assert_eq!(reset.expires_at, now + 30 * 60);
        assert_eq!(store.take_account_token(&reset.hash, TokenPurpose::ResetPassword, reset.expires_at).await.unwrap(), None, "expired");
        assert_eq!(store.purge_account_tokens(reset.expires_at).await.unwrap(), 1, "the reset token is purged, not the verification one yet");
        assert_eq!(store.take_account_token(&SecretHash::of("unknown"), TokenPurpose::ResetPassword, now).await.unwrap(), None);
    }
}

both_backends! {
    /// The account page's views and removals touch only the user's rows.
    async fn per_user_views_and_removals(db) {
        let store = db.store().await;
        let now = 1_000;
        let (a, b) = (user("ray@example.com"), user("sam@example.com"));
        store.insert_user(&a).await.unwrap();
        store.insert_user(&b).await.unwrap();
        let c1 = client(&store, "Alpha").await;
        let c2 = client(&store, "Beta").await;
        for (id, u) in [("s1", &a), ("s2", &a), ("s3", &b)] {
            store.insert_session(&session(&u.id, id, now)).await.unwrap();
        }
        let listed = store.list_user_sessions(&a.id, now).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(store.list_user_sessions(&a.id, now + 100).await.unwrap().is_empty(), "idle-expired ones are not listed");
        assert!(!store.delete_user_session(&a.id, &SecretHash::of("s3"), now).await.unwrap(), "another user's");
        assert_eq!(store.delete_other_sessions(&a.id, &SecretHash::of("s1"), now).await.unwrap(), 1);
        assert!(store.find_session(&SecretHash::of("s1")).await.unwrap().is_some());
        assert!(store.find_session(&SecretHash::of("s3")).await.unwrap().is_some());
        assert!(store.delete_user_session(&a.id, &SecretHash::of("s1"), now).await.unwrap());

        store.insert_family(&family("f1", &c1, &a.id, now)).await.unwrap();
        store.insert_family(&family("f2", &c2, &a.id, now)).await.unwrap();
        store.insert_family(&family("f3", &c1, &b.id, now)).await.unwrap();
        let apps = store.list_user_apps(&a.id, now).await.unwrap();
        assert_eq!(apps.len(), 2);
        assert!(apps.iter().all(|x| x.last_used_at == now + 5));
        let names: Vec<&str> = apps.iter().map(|x| x.client_name.as_str()).collect();
        assert!(names.contains(&"Alpha") && names.contains(&"Beta"));
        assert!(!store.revoke_user_family(&a.id, "f3", now).await.unwrap(), "another user's");
        assert!(store.revoke_user_family(&a.id, "f2", now).await.unwrap());
        assert_eq!(store.list_user_apps(&a.id, now).await.unwrap().len(), 1);
        assert_eq!(store.revoke_user_client_families(&a.id, &c1, now).await.unwrap(), 1);
        assert_eq!(store.list_user_apps(&b.id, now).await.unwrap().len(), 1, "b untouched");

        store.save_consent(&a.id, &c1, &Scope::parse("openid email").unwrap(), now).await.unwrap();
        store.save_consent(&b.id, &c1, &Scope::parse("openid").unwrap(), now).await.unwrap();
        let consents = store.list_user_consents(&a.id).await.unwrap();
        assert_eq!(consents.len(), 1);
        assert_eq!(consents[0].client_name, "Alpha");
        assert_eq!(consents[0].scope.to_string(), "email openid");
        assert!(store.delete_consent(&a.id, &c1).await.unwrap());
        assert!(!store.delete_consent(&a.id, &c1).await.unwrap());
        assert!(store.get_consent(&b.id, &c1).await.unwrap().is_some());
    }
}

both_backends! {
    /// Deleting a user removes every row that names them, the e-mails
    /// queued for them included, and nobody else's.
    async fn delete_user_removes_every_row(db) {
        let store = db.store().await;
        let now = 1_000;
        let (a, b) = (user("tay@example.com"), user("uma@example.com"));
        let (_, ta) = AccountToken::issue(TokenPurpose::VerifyEmail, &a.id, now).unwrap();
        let (_, tb) = AccountToken::issue(TokenPurpose::VerifyEmail, &b.id, now).unwrap();
        assert!(store.register_user(&a, Some(&ta), &mail(&a, now)).await.unwrap());
        assert!(store.register_user(&b, Some(&tb), &mail(&b, now)).await.unwrap());
        let c = client(&store, "Gamma").await;
        store.insert_session(&session(&a.id, "sa", now)).await.unwrap();
        store.insert_family(&family("fa", &c, &a.id, now)).await.unwrap();
        store.save_consent(&a.id, &c, &Scope::parse("openid").unwrap(), now).await.unwrap();

        assert!(store.delete_user(&a.id).await.unwrap());
        assert!(!store.delete_user(&a.id).await.unwrap());
        assert!(store.get_user(&a.id).await.unwrap().is_none());
        assert!(store.find_session(&SecretHash::of("sa")).await.unwrap().is_none());
        assert!(store.find_refresh_token(&SecretHash::of("fa")).await.unwrap().is_none());
        assert!(store.get_consent(&a.id, &c).await.unwrap().is_none());
        assert_eq!(store.take_account_token(&ta.hash, TokenPurpose::VerifyEmail, now).await.unwrap(), None);
        let left = store.list_outbox("email").await.unwrap();
        assert_eq!(left.len(), 1, "only b's e-mail is left");
        assert_eq!(store.take_account_token(&tb.hash, TokenPurpose::VerifyEmail, now).await.unwrap(), Some(b.id.clone()));
        // Marking verified.
        assert!(store.set_email_verified(&b.id, true, now).await.unwrap());
        assert!(store.get_user(&b.id).await.unwrap().unwrap().email_verified);
        assert!(!store.set_email_verified(&a.id, true, now).await.unwrap());
    }
}
