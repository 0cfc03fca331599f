//! Background purging in one place: old audit events go by
//! `audit_retention_days`, and every process may purge at once.

use latchkey::core::audit::{AuditEvent, AuditFilter, AuditStore as _, Kind, Outcome};
use latchkey::core::housekeeping::purge_expired;

use crate::common::TestServer;

both_backends! {
    async fn old_audit_events_are_purged_by_retention_in_every_process_at_once(db) {
        let a = TestServer::start_with(&db, |s| s.audit_retention_days = 30).await;
        let b = TestServer::start_with(&db, |s| s.audit_retention_days = 30).await;
        let now = a.now();
        let day = 86_400;
        let store = &a.server.app.store();
        let events: Vec<AuditEvent> = [now - 31 * day, now - 40 * day, now - 29 * day, now]
            .into_iter()
            .map(|at| AuditEvent::new(at, Kind::Signin, "anonymous", Outcome::Failure).detail(at.to_string()))
            .collect();
        store.insert_audit_events(&events).await.unwrap();
        // The queue path too: recorded, flushed, stored.
        a.server.app.audit().record(AuditEvent::new(now, Kind::Login, "user:u1", Outcome::Success).user("u1"));
        a.server.app.audit().flush().await;

        // Two processes purge at the same moment (and their background loops
        // may be purging too): every call succeeds, the old rows go once.
        let (x, y) = tokio::join!(purge_expired(&a.server.app), purge_expired(&b.server.app));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x.audit_events + y.audit_events <= 2);

        let left = store
            .list_audit_events(&AuditFilter { limit: 100, ..AuditFilter::default() })
            .await
            .unwrap();
        let mut ats: Vec<i64> = left.iter().map(|e| e.at).collect();
        ats.sort();
        assert_eq!(ats, vec![now - 29 * day, now, now]);
        let mine = store
            .list_audit_events(&AuditFilter { user_id: Some("u1".into()), since: Some(now - 1), limit: 100 })
            .await
            .unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].kind, "login");
        a.server.shutdown().await;
        b.server.shutdown().await;
    }
}
