//! Store conformance for refresh tokens, the deny list and the sign-in
//! counters: every contract of `core::refresh`, `core::deny_list` and
//! `core::ratelimit`, on both backends through the real pools.

use std::sync::Arc;

use latchkey::core::clients::{ClientId, ClientStore as _, GrantType, NewClient};
use latchkey::core::deny_list::DenyListStore as _;
use latchkey::core::dpop::Jkt;
use latchkey::core::ratelimit::{
    AttemptCounterStore as _, Reservation, SLOT_LEASE_SECONDS, Settle, epoch,
};
use latchkey::core::refresh::{
    Claim, FamilyOrigin, NewFamily, RefreshFamily, RefreshTokenRecord, RefreshTokenStore as _,
};
use latchkey::core::scope::Scope;
use latchkey::core::secret::SecretHash;
use latchkey::core::users::{NewUser, UserId, UserStore as _};
use latchkey::store::{DenyListTx as _, RefreshTx as _, RotationItem, Store};

/// A client and a user to hang families on.
async fn owner(store: &Store) -> (String, String) {
    let (client, _) = NewClient {
        name: "c".into(),
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        ..NewClient::default()
    }
    .build(0)
    .unwrap();
    store.insert_client(&client).await.unwrap();
    let user = NewUser {
        email: format!("{}@example.com", uuid::Uuid::new_v4()),
        ..NewUser::default()
    }
    .build("h".into(), 0)
    .unwrap();
    store.insert_user(&user).await.unwrap();
    (client.id.to_string(), user.id.to_string())
}

fn family(id: &str, client: &str, user: &str, token: &str, now: i64) -> NewFamily {
    NewFamily {
        family: RefreshFamily {
            id: id.into(),
            client_id: client.into(),
            user_id: user.into(),
            scope: Scope::parse("openid read").unwrap(),
            auth_time: Some(now),
            origin: Some(code(id)),
            created_at: now,
            expires_at: now + 1000,
            revoked_at: None,
            dpop_jkt: None,
        },
        first_token: record(token, id, now, now + 100),
    }
}

/// The origin `family` gives a family: a code "hash" named after it.
fn code(id: &str) -> FamilyOrigin {
    FamilyOrigin::Code(SecretHash::from_stored(id.to_owned()))
}

fn record(token: &str, family: &str, issued: i64, expires: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: SecretHash::of(token),
        family_id: family.into(),
        issued_at: issued,
        expires_at: expires,
    }
}

both_backends! {
    /// Families round-trip; `find` joins the family and the user.
    async fn family_round_trip(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        let new = family("f1", &client, &user, "t0", 1000);
        store.insert_family(&new).await.unwrap();
        let found = store.find_refresh_token(&SecretHash::of("t0")).await.unwrap().unwrap();
        assert_eq!(found.record, new.first_token);
        assert_eq!(found.family, new.family);
        assert_eq!(found.used_at, None);
        assert!(found.is_live(1000));
        assert!(!found.is_live(1100), "idle expiry");
        assert!(!found.owner.disabled);
        assert!(store.find_refresh_token(&SecretHash::of("nope")).await.unwrap().is_none());
    }
}

both_backends! {
    /// "`rotate_refresh_token` yields a successor at most once", under a race
    /// of 16 callers each bringing its own successor.
    async fn rotation_yields_a_successor_at_most_once(db) {
        let store = Arc::new(db.store().await);
        let (client, user) = owner(&store).await;
        store.insert_family(&family("f1", &client, &user, "t0", 1000)).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let succ = record(&format!("t1-{i}"), "f1", 1001, 1101);
                store.rotate_refresh_token(&SecretHash::of("t0"), &succ, 1001).await.unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        let used = store.find_refresh_token(&SecretHash::of("t0")).await.unwrap().unwrap();
        assert_eq!(used.used_at, Some(1001));
        let successor = used.successor_hash.unwrap();
        let next = store.find_refresh_token(&successor).await.unwrap().unwrap();
        assert!(next.is_live(1001));
        // Exactly one successor row exists in the family.
        let mut live = 0;
        for i in 0..16 {
            if store.find_refresh_token(&SecretHash::of(&format!("t1-{i}"))).await.unwrap().is_some() {
                live += 1;
            }
        }
        assert_eq!(live, 1);
        // A used token never rotates again.
        assert!(!store.rotate_refresh_token(&SecretHash::of("t0"), &record("t1-x", "f1", 1002, 1102), 1002).await.unwrap());
    }
}

both_backends! {
    /// Expired tokens and tokens of revoked or expired families do not rotate;
    /// revocation is by family, by user, or by origin.
    async fn revocation_and_expiry_stop_rotation(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        store.insert_family(&family("f1", &client, &user, "a0", 1000)).await.unwrap();
        store.insert_family(&family("f2", &client, &user, "b0", 1000)).await.unwrap();
        store.insert_family(&family("f3", &client, &user, "c0", 1000)).await.unwrap();
        let h = SecretHash::of;

        // Idle expiry of the token.
        assert!(!store.rotate_refresh_token(&h("a0"), &record("a1", "f1", 1100, 1200), 1100).await.unwrap());

        // By family.
        assert!(store.revoke_family("f1", 1010).await.unwrap());
        assert!(!store.revoke_family("f1", 1011).await.unwrap(), "already revoked");
        assert!(!store.rotate_refresh_token(&h("a0"), &record("a1", "f1", 1012, 1100), 1012).await.unwrap());
        assert_eq!(store.find_refresh_token(&h("a0")).await.unwrap().unwrap().family.revoked_at, Some(1010));

        // By origin.
        assert_eq!(store.revoke_families_by_origin(&code("f2"), 1020).await.unwrap(), 1);
        assert!(!store.find_refresh_token(&h("b0")).await.unwrap().unwrap().is_live(1020));

        // By user: only what is still live.
        assert_eq!(store.revoke_user_families(&user.as_str().into(), 1030).await.unwrap(), 1);
        assert!(!store.find_refresh_token(&h("c0")).await.unwrap().unwrap().is_live(1030));
    }
}

both_backends! {
    /// A successor inserted concurrently with its family's revocation is dead
    /// all the same: liveness is the family's.
    async fn a_revoked_family_kills_later_successors(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        store.insert_family(&family("f1", &client, &user, "t0", 1000)).await.unwrap();
        assert!(store.rotate_refresh_token(&SecretHash::of("t0"), &record("t1", "f1", 1001, 1101), 1001).await.unwrap());
        store.revoke_family("f1", 1002).await.unwrap();
        let t1 = store.find_refresh_token(&SecretHash::of("t1")).await.unwrap().unwrap();
        assert!(!t1.is_live(1002));
    }
}

both_backends! {
    /// Purge removes expired tokens, and expired or revoked families with
    /// their tokens; live ones stay.
    async fn purge(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        store.insert_family(&family("live", &client, &user, "l0", 1000)).await.unwrap();
        store.insert_family(&family("idle", &client, &user, "i0", 900)).await.unwrap();
        store.insert_family(&family("gone", &client, &user, "g0", 1000)).await.unwrap();
        store.revoke_family("gone", 1001).await.unwrap();
        let purged = store.purge_refresh_tokens(1010).await.unwrap();
        assert_eq!(purged, 2, "family `gone` (its token goes by cascade) and token i0");
        assert!(store.find_refresh_token(&SecretHash::of("l0")).await.unwrap().is_some());
        assert!(store.find_refresh_token(&SecretHash::of("i0")).await.unwrap().is_none());
        assert!(store.find_refresh_token(&SecretHash::of("g0")).await.unwrap().is_none());
        // Absolute expiry of the family.
        store.purge_refresh_tokens(1000 + 1000).await.unwrap();
        assert!(store.find_refresh_token(&SecretHash::of("l0")).await.unwrap().is_none());
    }
}

both_backends! {
    /// The transaction helpers: a family inserted in a transaction that rolls
    /// back does not exist; one that commits does.
    async fn refresh_tx_follows_the_callers_transaction(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        let pool_url = db.url.clone();
        match db.backend {
            crate::common::Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&pool_url).await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                tx.insert_family(&family("rolled", &client, &user, "r0", 1000)).await.unwrap();
                tx.rollback().await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                tx.insert_family(&family("kept", &client, &user, "k0", 1000)).await.unwrap();
                assert_eq!(tx.revoke_families_by_origin(&code("kept"), 1001).await.unwrap(), 1);
                tx.deny_access_token("jti-1", 2000).await.unwrap();
                tx.commit().await.unwrap();
                pool.close().await;
            }
            crate::common::Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&pool_url).await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                tx.insert_family(&family("rolled", &client, &user, "r0", 1000)).await.unwrap();
                tx.rollback().await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                tx.insert_family(&family("kept", &client, &user, "k0", 1000)).await.unwrap();
                assert_eq!(tx.revoke_families_by_origin(&code("kept"), 1001).await.unwrap(), 1);
                tx.deny_access_token("jti-1", 2000).await.unwrap();
                tx.commit().await.unwrap();
                pool.close().await;
            }
        }
        assert!(store.find_refresh_token(&SecretHash::of("r0")).await.unwrap().is_none());
        let kept = store.find_refresh_token(&SecretHash::of("k0")).await.unwrap().unwrap();
        assert_eq!(kept.family.revoked_at, Some(1001));
        assert!(store.is_access_token_denied("jti-1").await.unwrap());
    }
}

both_backends! {
    /// The deny list: idempotent, kept until the token's `exp`, then purged.
    async fn deny_list(db) {
        let store = db.store().await;
        assert!(!store.is_access_token_denied("j1").await.unwrap());
        store.deny_access_token("j1", 2000).await.unwrap();
        store.deny_access_token("j1", 2000).await.unwrap();
        store.deny_access_token("j2", 3000).await.unwrap();
        assert!(store.is_access_token_denied("j1").await.unwrap());
        assert_eq!(store.purge_denied_access_tokens(1999).await.unwrap(), 0);
        assert_eq!(store.purge_denied_access_tokens(2000).await.unwrap(), 1);
        assert!(!store.is_access_token_denied("j1").await.unwrap());
        assert!(store.is_access_token_denied("j2").await.unwrap());
    }
}

both_backends! {
    /// Attempt counters: N concurrent charges count N; a window that has
    /// passed starts over; forgiving and forgetting; purge by window start.
    async fn attempt_counters(db) {
        let store = Arc::new(db.store().await);
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move { store.charge_attempt("k", 1000, 900).await.unwrap().attempts }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        seen.sort();
        assert_eq!(seen, (1..=12).collect::<Vec<i64>>(), "every charge counted once");

        let c = store.charge_attempt("k", 1899, 900).await.unwrap();
        assert_eq!((c.window_start, c.attempts), (1000, 13), "still the first window");
        let c = store.charge_attempt("k", 1900, 900).await.unwrap();
        assert_eq!((c.window_start, c.attempts), (1900, 1), "a new window");

        store.forgive_attempt("k", 1000).await.unwrap();
        assert_eq!(store.charge_attempt("k", 1901, 900).await.unwrap().attempts, 2, "stale window: not forgiven");
        store.forgive_attempt("k", 1900).await.unwrap();
        assert_eq!(store.charge_attempt("k", 1902, 900).await.unwrap().attempts, 2);
        store.settle_attempt("k", 0, Settle::Forget, 1903, 900).await.unwrap();
        assert_eq!(store.charge_attempt("k", 1903, 900).await.unwrap().attempts, 1);

        store.charge_attempt("old", 100, 900).await.unwrap();
        assert_eq!(store.purge_attempt_counters(1903 - 900, epoch(1903)).await.unwrap(), 1);
        assert_eq!(store.charge_attempt("k", 1904, 900).await.unwrap().attempts, 2, "the live one stays");
    }
}

both_backends! {
    /// Sign-in slots: of concurrent reservations only `limit − failures` get
    /// one; failures and slots given back are accounted exactly; a locked key
    /// says until when; a slot lapses after its lease (a crashed process),
    /// and giving back a lapsed slot frees nothing it does not own.
    async fn signin_slots(db) {
        let store = Arc::new(db.store().await);
        let (now, window) = (100 * SLOT_LEASE_SECONDS, 900);
        let e = epoch(now);
        let reserve = |key: &'static str, now: i64| {
            let store = store.clone();
            async move { store.reserve_attempt(key, 10, now, window, epoch(now)).await.unwrap() }
        };
        let settle = |key: &'static str, slot_epoch: i64, how: Settle, now: i64| {
            let store = store.clone();
            async move { store.settle_attempt(key, slot_epoch, how, now, window).await.unwrap() }
        };

        // Step 1: 30 at once, 10 get a slot, in any number of connections.
        let tasks: Vec<_> = (0..30).map(|_| tokio::spawn(reserve("u", now))).collect();
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        let reserved = got.iter().filter(|r| **r == Reservation::Reserved { failures: 0 }).count();
        assert_eq!((reserved, got.iter().filter(|r| **r == Reservation::Busy).count()), (10, 20), "{got:?}");

        // Step 2: 4 failures and 2 slots given back: 4 + 4 in flight, so
        // 2 more fit, and they are told of the 4 failures.
        for _ in 0..4 {
            settle("u", e, Settle::Failure, now).await;
        }
        assert_eq!(reserve("u", now).await, Reservation::Busy);
        settle("u", e, Settle::Release, now).await;
        settle("u", e, Settle::Release, now).await;
        assert_eq!(reserve("u", now).await, Reservation::Reserved { failures: 4 });
        assert_eq!(reserve("u", now).await, Reservation::Reserved { failures: 4 });
        assert_eq!(reserve("u", now).await, Reservation::Busy);

        // Step 3: the 6 in flight fail: locked since the first failure,
        // until the window has passed.
        for _ in 0..6 {
            settle("u", e, Settle::Failure, now + 1).await;
        }
        assert_eq!(reserve("u", now + 2).await, Reservation::Locked { window_start: now });
        assert_eq!(reserve("u", now + window - 1).await, Reservation::Locked { window_start: now });
        let later = now + window;
        assert_eq!(reserve("u", later).await, Reservation::Reserved { failures: 0 });
        settle("u", epoch(later), Settle::Failure, later).await;
        assert_eq!(reserve("u", later).await, Reservation::Reserved { failures: 1 }, "a new window");

        // Step 4: a success on a username forgets its failures.
        settle("u", epoch(later), Settle::Forget, later).await;
        assert_eq!(reserve("u", later).await, Reservation::Reserved { failures: 0 });

        // Step 5: slots never given back (a crash) count in their epoch and
        // the next, then lapse.
        for _ in 0..10 {
            assert!(matches!(reserve("v", now).await, Reservation::Reserved { .. }));
        }
        assert_eq!(reserve("v", now + SLOT_LEASE_SECONDS).await, Reservation::Busy);
        let lapsed = now + 2 * SLOT_LEASE_SECONDS;
        assert_eq!(reserve("v", lapsed).await, Reservation::Reserved { failures: 0 });
        // Giving back a lapsed slot does not free the live one.
        settle("v", e, Settle::Release, lapsed).await;
        for _ in 0..9 {
            assert!(matches!(reserve("v", lapsed).await, Reservation::Reserved { .. }));
        }
        assert_eq!(reserve("v", lapsed).await, Reservation::Busy);

        // Step 6: a slot of the previous epoch is given back from where it
        // moved: 5 taken in e, 1 in e + 1, one of the 5 back → 5 free.
        for _ in 0..5 {
            assert!(matches!(reserve("w", now).await, Reservation::Reserved { .. }));
        }
        let next = now + SLOT_LEASE_SECONDS;
        assert!(matches!(reserve("w", next).await, Reservation::Reserved { .. }));
        settle("w", e, Settle::Release, next).await;
        for _ in 0..5 {
            assert!(matches!(reserve("w", next).await, Reservation::Reserved { .. }));
        }
        assert_eq!(reserve("w", next).await, Reservation::Busy);

        // Step 7: the purge spares a counter whose slots may still be live,
        // even once its window has passed ("v" and "w"; "u" is in a window).
        assert_eq!(store.purge_attempt_counters(now, epoch(lapsed)).await.unwrap(), 0);
        assert_eq!(store.purge_attempt_counters(now, epoch(lapsed) + 2).await.unwrap(), 2, "v and w");
    }
}

both_backends! {
    /// A rotation that fails half-way (its successor's hash already exists)
    /// changes nothing, and leaves no transaction open behind it: the token is
    /// still unused and the store keeps working.
    async fn a_failed_rotation_rolls_back(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        store.insert_family(&family("f1", &client, &user, "t0", 1000)).await.unwrap();
        store.insert_family(&family("f2", &client, &user, "taken", 1000)).await.unwrap();
        for _ in 0..6 {
            let clash = record("taken", "f1", 1001, 1101);
            assert!(store.rotate_refresh_token(&SecretHash::of("t0"), &clash, 1001).await.is_err());
        }
        let t0 = store.find_refresh_token(&SecretHash::of("t0")).await.unwrap().unwrap();
        assert_eq!(t0.used_at, None, "the claim was rolled back");
        assert!(store.rotate_refresh_token(&SecretHash::of("t0"), &record("t1", "f1", 1002, 1102), 1002).await.unwrap());
        store.deny_access_token("after", 5000).await.unwrap();
        store.insert_family(&family("f3", &client, &user, "u0", 1003)).await.unwrap();
    }
}

fn item(used: &str, successor: &str, family: &str, now: i64) -> RotationItem {
    RotationItem {
        used: SecretHash::of(used),
        successor: record(successor, family, now, now + 100),
        now,
    }
}

both_backends! {
    /// Group commit: one batch, each item answered as if it had been alone.
    /// An item whose family was revoked after the caller read it is refused,
    /// one whose successor cannot be inserted fails (and is rolled back), a
    /// second item for a token already in the batch loses to the first; the
    /// batch-mates of all three are rotated all the same.
    async fn a_rotation_that_fails_in_a_batch_fails_alone(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        for (f, t) in [("fa", "a0"), ("fb", "b0"), ("fc", "c0"), ("fd", "d0"), ("fe", "e0")] {
            store.insert_family(&family(f, &client, &user, t, 1000)).await.unwrap();
        }
        // Read, then the family is revoked before the write.
        store.revoke_family("fb", 1001).await.unwrap();
        let batch = [
            item("a0", "a1", "fa", 1002),
            item("b0", "b1", "fb", 1002),
            item("c0", "c1", "fc", 1002),
            // Its successor's hash is taken (by e0): the INSERT fails.
            item("d0", "e0", "fd", 1002),
            item("a0", "a1", "fa", 1002),
            item("nope", "n1", "fa", 1002),
        ];
        let answers = store.rotate_refresh_tokens(&batch).await;
        let summary: Vec<Option<bool>> = answers.iter().map(|a| a.as_ref().ok().copied()).collect();
        assert_eq!(summary, [Some(true), Some(false), Some(true), None, Some(false), Some(false)], "{answers:?}");

        let h = SecretHash::of;
        for (used, succ) in [("a0", "a1"), ("c0", "c1")] {
            let t = store.find_refresh_token(&h(used)).await.unwrap().unwrap();
            assert_eq!((t.used_at, t.successor_hash), (Some(1002), Some(h(succ))));
            assert!(store.find_refresh_token(&h(succ)).await.unwrap().unwrap().is_live(1002));
        }
        let b0 = store.find_refresh_token(&h("b0")).await.unwrap().unwrap();
        assert_eq!(b0.used_at, None, "a revoked family's token is not claimed");
        assert!(store.find_refresh_token(&h("b1")).await.unwrap().is_none());
        let d0 = store.find_refresh_token(&h("d0")).await.unwrap().unwrap();
        assert_eq!(d0.used_at, None, "the failed item was rolled back");
        assert_eq!(store.find_refresh_token(&h("e0")).await.unwrap().unwrap().family.id, "fe");

        // A batch of good items only commits as one, and the store goes on.
        let answers = store.rotate_refresh_tokens(&[
            item("a1", "a2", "fa", 1003),
            item("c1", "c2", "fc", 1003),
            item("d0", "d1", "fd", 1003),
        ]).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(true))), "{answers:?}");
        // A token claimed by an earlier batch is not claimed again, and its
        // recorded successor stays the first one.
        // The revoked family is refused inside a batch that commits, too.
        let answers = store.rotate_refresh_tokens(&[
            item("a1", "a2", "fa", 1003),
            item("b0", "b1", "fb", 1003),
            item("c2", "c3", "fc", 1003),
        ]).await;
        assert_eq!(answers.iter().map(|a| *a.as_ref().unwrap()).collect::<Vec<_>>(), [false, false, true]);
    }
}

both_backends! {
    /// A successor inserted by a batch is not claimed by the same batch,
    /// even when an item presents it.
    async fn a_batch_does_not_claim_its_own_successors(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        store.insert_family(&family("f", &client, &user, "t0", 1000)).await.unwrap();
        store.insert_family(&family("g", &client, &user, "g0", 1000)).await.unwrap();
        let answers = store.rotate_refresh_tokens(&[
            item("t0", "t1", "f", 1001),
            item("t1", "t2", "f", 1001),
            item("g0", "g1", "g", 1001),
        ]).await;
        assert_eq!(answers.iter().map(|a| *a.as_ref().unwrap()).collect::<Vec<_>>(), [true, false, true]);
        let t1 = store.find_refresh_token(&SecretHash::of("t1")).await.unwrap().unwrap();
        assert_eq!(t1.used_at, None);
        assert!(store.find_refresh_token(&SecretHash::of("t2")).await.unwrap().is_none());
    }
}

/// A claim of `used` by `client` at `now`, rotating it into `successor`.
fn claim<'a>(
    used: &'a SecretHash,
    successor: &'a SecretHash,
    client: &'a ClientId,
    jkt: Option<&'a Jkt>,
    now: i64,
) -> Claim<'a> {
    Claim {
        used,
        successor,
        client_id: client,
        dpop_jkt: jkt,
        now,
        expires_at: now + 100,
    }
}

both_backends! {
    /// The refresh grant's one-step read and rotation consumes a token
    /// exactly when the grant's own checks pass — unused, unexpired, a live
    /// family of the presenting client, an enabled user, the DPoP key a
    /// bound family requires — and otherwise leaves it as it was. In one
    /// batch a second claim of one token loses to the first, and an item
    /// whose successor cannot be inserted fails alone.
    async fn a_claim_consumes_only_what_the_grant_would(db) {
        let store = db.store().await;
        let (client, user) = owner(&store).await;
        let (other_client, other_user) = owner(&store).await;
        let h = SecretHash::of;
        let bound = Jkt::new("thumbprint-of-the-bound-key");
        for (f, c, u, t) in [
            ("fa", &client, &user, "a0"),
            ("fb", &client, &user, "b0"),
            ("fc", &client, &user, "c0"),
            ("fd", &client, &other_user, "d0"),
            ("fe", &client, &user, "e0"),
            ("ff", &client, &user, "f0"),
            ("fg", &other_client, &user, "g0"),
        ] {
            let mut new = family(f, c, u, t, 1000);
            if f == "fe" {
                new.family.dpop_jkt = Some(bound.clone());
            }
            store.insert_family(&new).await.unwrap();
        }
        store.revoke_family("fb", 1001).await.unwrap();
        store
            .set_user_disabled(&UserId::from(other_user.as_str()), true, 1001)
            .await
            .unwrap();
        let me = ClientId::from(client.as_str());
        let (a0, a1, b0, b1, c0, d0, d1, e0, e1, f0, g0, g1, x) = (
            h("a0"), h("a1"), h("b0"), h("b1"), h("c0"), h("d0"), h("d1"), h("e0"), h("e1"),
            h("f0"), h("g0"), h("g1"), h("x"),
        );
        let answers = store
            .claim_refresh_tokens(&[
                claim(&a0, &a1, &me, None, 1002),
                claim(&b0, &b1, &me, None, 1002),
                // Its successor's hash is taken (by f0): the insert fails.
                claim(&c0, &f0, &me, None, 1002),
                claim(&d0, &d1, &me, None, 1002),
                claim(&e0, &e1, &me, None, 1002),
                claim(&g0, &g1, &me, None, 1002),
                claim(&a0, &a1, &me, None, 1002),
                claim(&x, &a1, &me, None, 1002),
            ])
            .await;
        let summary: Vec<Option<Option<bool>>> = answers
            .iter()
            .map(|a| a.as_ref().ok().map(|c| c.as_ref().map(|c| c.claimed)))
            .collect();
        assert_eq!(
            summary,
            [
                Some(Some(true)),
                Some(Some(false)),
                None,
                Some(Some(false)),
                Some(Some(false)),
                Some(Some(false)),
                Some(Some(false)),
                Some(None),
            ],
            "{answers:?}"
        );
        let a = store.find_refresh_token(&a0).await.unwrap().unwrap();
        assert_eq!((a.used_at, a.successor_hash), (Some(1002), Some(a1.clone())));
        let succ = store.find_refresh_token(&a1).await.unwrap().unwrap();
        assert!(succ.is_live(1002));
        assert_eq!((succ.family.id.as_str(), succ.record.expires_at), ("fa", 1102));
        // Nothing else was consumed, and no other successor exists.
        for (used, succ) in [(&b0, &b1), (&c0, &f0), (&d0, &d1), (&e0, &e1), (&g0, &g1)] {
            let t = store.find_refresh_token(used).await.unwrap().unwrap();
            assert_eq!(t.used_at, None, "{t:?}");
            if succ != &f0 {
                assert!(store.find_refresh_token(succ).await.unwrap().is_none());
            }
        }
        assert_eq!(store.find_refresh_token(&f0).await.unwrap().unwrap().family.id, "ff");

        // The bound family's token with a proof by its key, and a token in
        // its last seconds (the family's absolute expiry caps the
        // successor's); a repeat of a claimed token is not claimed again.
        let answers = store
            .claim_refresh_tokens(&[
                claim(&e0, &e1, &me, Some(&bound), 1003),
                Claim { expires_at: 5000, ..claim(&c0, &h("c1"), &me, None, 1003) },
                claim(&a0, &a1, &me, None, 1003),
            ])
            .await;
        let claimed: Vec<bool> = answers.iter().map(|a| a.as_ref().unwrap().as_ref().unwrap().claimed).collect();
        assert_eq!(claimed, [true, true, false]);
        let c1 = store.find_refresh_token(&h("c1")).await.unwrap().unwrap();
        assert_eq!(c1.record.expires_at, 2000, "capped by the family's expiry");
        assert_eq!(
            store.find_refresh_token(&a0).await.unwrap().unwrap().successor_hash,
            Some(a1),
            "the first successor stays"
        );
    }
}
