//! The async facade: redaction before storage, and errors at the edge.

use crate::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, Redactor};
use crate::store::testing::TempDb;
use crate::store::{SqliteStore, Store};
use crate::{ErrorCode, audit::redact::MASK};
use std::sync::Arc;

#[tokio::test]
async fn the_log_redacts_before_storing_and_clones_share_one_chain() {
    let db = TempDb::new();
    let redactor = Redactor::new();
    let log = AuditLog::new(Arc::new(db.open()), redactor.clone());
    redactor.register("vault-value-4242").unwrap();

    let event = AuditEvent {
        target: Some("https://bob:pw@api.example.com/x?api_key=k1&page=2".to_owned()),
        details: Some(serde_json::json!({ "header": "Bearer abc.def", "echo": "got vault-value-4242" })),
        ..AuditEvent::new(AuditKind::Capability, "alice")
    };
    let returned = log.record(event).await.unwrap();
    let clone = log.clone();
    clone.record(AuditEvent::new(AuditKind::Api, "alice")).await.unwrap();

    let stored = &log.query(AuditQuery::default()).await.unwrap().records[1];
    assert_eq!(stored, &returned);
    assert_eq!(
        stored.event.target.as_deref(),
        Some(format!("https://{MASK}@api.example.com/x?api_key={MASK}&page=2").as_str())
    );
    let details = stored.event.details.as_ref().unwrap();
    assert_eq!(details["header"], format!("Bearer {MASK}"));
    assert_eq!(details["echo"], format!("got {MASK}"));
    let raw = db
        .raw()
        .query_row("SELECT group_concat(target || details) FROM audit_log", [], |r| r.get::<_, String>(0))
        .unwrap();
    for secret in ["bob:pw", "k1", "abc.def", "vault-value-4242"] {
        assert!(!raw.contains(secret), "{secret} reached the database: {raw}");
    }

    let report = clone.verify(None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2);
}

#[tokio::test]
async fn query_errors_reach_the_caller_as_edge_codes() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let log = AuditLog::new(store, Redactor::new());
    let err = log.query(AuditQuery { limit: Some(5000), ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(err.details, Some(serde_json::json!({ "field": "limit" })));
}
