//! The hash chain: it links, it survives reopening and concurrency, and any
//! tampering with the file is found at the row it touched.

use super::append_samples;
use crate::audit::{Anchor, AuditRecord, BreakReason, ChainReport, GENESIS_HASH, verify_chain};
use crate::store::testing::{TempDb, sample_event};
use crate::store::{SqliteStore, Store};
use std::sync::Arc;

fn verify(store: &SqliteStore) -> ChainReport {
    verify_chain(store, None).unwrap()
}

fn verify_against(store: &SqliteStore, anchor: &Anchor) -> ChainReport {
    verify_chain(store, Some(anchor)).unwrap()
}

/// Drop the append-only triggers, as an attacker with write access to the file can.
fn drop_triggers(db: &TempDb) {
    db.raw()
        .execute_batch(
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
             DROP TRIGGER audit_log_append_only;",
        )
        .unwrap();
}

#[test]
fn a_long_chain_links_every_record_to_the_one_before_and_verifies() {
    let db = TempDb::new();
    let store = db.open();
    // More than one verification batch, so the walk crosses batch boundaries.
    let records = append_samples(&store, 0, 2_345);
    assert_eq!(records[0].id, 1);
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    for pair in records.windows(2) {
        assert_eq!(pair[1].id, pair[0].id + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_ne!(pair[1].hash, pair[0].hash);
    }
    let report = verify(&store);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 2_345);
}

#[test]
fn an_empty_log_verifies_with_zero_records() {
    let report = verify(&SqliteStore::open_in_memory().unwrap());
    assert_eq!(report, ChainReport { records: 0, first_break: None, head: None });
}

#[test]
fn reopening_the_file_keeps_the_chain_and_new_appends_continue_it() {
    let db = TempDb::new();
    let before = append_samples(&db.open(), 0, 3);
    let reopened = db.open();
    let after = append_samples(&reopened, 3, 2);
    assert_eq!(after[0].id, 4);
    assert_eq!(after[0].prev_hash, before[2].hash);
    let report = verify(&reopened);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 5);
}

#[test]
fn update_delete_and_replace_through_sql_are_refused_by_the_triggers() {
    let db = TempDb::new();
    let records = append_samples(&db.open(), 0, 3);
    let raw = db.raw();
    for sql in [
        "UPDATE audit_log SET actor = 'mallory' WHERE id = 2",
        "DELETE FROM audit_log WHERE id = 2",
        "DELETE FROM audit_log",
        "INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE id = 2",
        "INSERT INTO audit_log SELECT * FROM audit_log WHERE id = 3 \
         ON CONFLICT (id) DO UPDATE SET actor = 'mallory'",
    ] {
        let err = raw.execute(sql, []).expect_err(sql);
        assert!(err.to_string().contains("audit_log is append-only"), "{sql}: {err}");
    }
    let report = verify(&db.open());
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, records.len() as u64);
}

#[test]
fn editing_any_column_of_a_row_by_hand_breaks_the_chain_at_that_row() {
    let edits = [
        ("id", "id = 1000"),
        ("ts_us", "ts_us = ts_us + 1"),
        ("kind", "kind = 'admin'"),
        ("actor", "actor = 'someone-else'"),
        ("call_id", "call_id = NULL"),
        ("session", "session = 'session-x'"),
        ("pack", "pack = 'fs'"),
        ("tool", "tool = 'read'"),
        ("version", "version = '9.9.9'"),
        ("digest", "digest = NULL"),
        ("capability", "capability = 'exec'"),
        ("target", "target = 'https://example.com/elsewhere'"),
        ("decision", "decision = 'deny'"),
        ("outcome", "outcome = 'teapot'"),
        ("duration_us", "duration_us = -1"),
        ("bytes_in", "bytes_in = bytes_in + 1"),
        ("bytes_out", "bytes_out = 0"),
        ("details", "details = '{\"n\":3,\"note\":\"forged\"}'"),
        ("prev_hash", "prev_hash = hash"),
        ("hash", "hash = prev_hash"),
    ];
    for (column, set) in edits {
        let db = TempDb::new();
        append_samples(&db.open(), 0, 5);
        drop_triggers(&db);
        let changed = db.raw().execute(&format!("UPDATE audit_log SET {set} WHERE id = 3"), []).unwrap();
        assert_eq!(changed, 1, "{column}");

        let report = verify(&db.open());
        let broken = report.first_break.unwrap_or_else(|| panic!("editing {column} went unnoticed"));
        assert_eq!(broken.id, 3, "editing {column}: {broken:?}");
        assert_eq!(report.records, 3, "editing {column}");
    }
}

#[test]
fn the_report_names_the_newest_record_as_an_anchor_that_verifies() {
    let db = TempDb::new();
    let records = append_samples(&db.open(), 0, 5);
    let head = verify(&db.open()).head.expect("a log with records has a head");
    assert_eq!(head, Anchor { id: 5, hash: records[4].hash.clone() });
    let text = head.to_string();
    assert_eq!(text.parse::<Anchor>(), Ok(head.clone()), "the printed anchor reads back");
    // Anchors stay valid as the log grows.
    append_samples(&db.open(), 5, 3);
    assert!(verify_against(&db.open(), &head).is_intact());
    let earlier = Anchor { id: 2, hash: records[1].hash.clone() };
    assert!(verify_against(&db.open(), &earlier).is_intact());
}

#[test]
fn removing_the_newest_records_passes_the_chain_but_fails_an_anchor_taken_before() {
    let db = TempDb::new();
    append_samples(&db.open(), 0, 6);
    let anchor = verify(&db.open()).head.unwrap();
    drop_triggers(&db);
    db.raw().execute("DELETE FROM audit_log WHERE id >= 5", []).unwrap();

    assert!(verify(&db.open()).is_intact(), "the chain alone cannot tell");
    let broken = verify_against(&db.open(), &anchor).first_break.expect("the anchor must notice");
    assert_eq!((broken.id, broken.reason), (5, BreakReason::Truncated { last: 4 }));
    let emptied = TempDb::new();
    let broken = verify_against(&emptied.open(), &anchor).first_break.unwrap();
    assert_eq!((broken.id, broken.reason), (1, BreakReason::Truncated { last: 0 }));
}

#[test]
fn a_log_replaced_by_another_consistent_chain_fails_the_anchor() {
    let original = TempDb::new();
    append_samples(&original.open(), 0, 4);
    let anchor = verify(&original.open()).head.unwrap();
    // A forger rebuilds a whole valid chain with other contents.
    let forged = TempDb::new();
    let records = append_samples(&forged.open(), 100, 6);
    assert!(verify(&forged.open()).is_intact());
    let report = verify_against(&forged.open(), &anchor);
    let broken = report.first_break.expect("the anchor must notice");
    assert_eq!(broken.id, 4);
    assert_eq!(broken.reason, BreakReason::NotAnchored { anchored: anchor.hash, found: records[3].hash.clone() });
    assert_eq!(report.head.map(|h| h.id), Some(3), "the head is the last record that checked out");
}

#[test]
fn anchors_that_do_not_read_as_id_and_hash_are_refused_with_the_expected_form() {
    let hash = "a".repeat(64);
    assert_eq!(format!("7:{}", hash.to_uppercase()).parse::<Anchor>().map(|a| a.hash), Ok(hash.clone()));
    for bad in
        [hash.clone(), format!("0:{hash}"), format!("x:{hash}"), "7:abc".to_owned(), format!("7:{}", "g".repeat(64))]
    {
        let error = bad.parse::<Anchor>().unwrap_err();
        assert!(error.contains("ID:HASH"), "{bad}: {error}");
    }
}

#[test]
fn a_deleted_row_is_reported_as_missing() {
    for deleted in [1, 3, 5] {
        let db = TempDb::new();
        append_samples(&db.open(), 0, 6);
        drop_triggers(&db);
        db.raw().execute("DELETE FROM audit_log WHERE id = ?1", [deleted]).unwrap();

        let broken = verify(&db.open()).first_break.expect("a deleted row must be noticed");
        assert_eq!(broken.id, deleted);
        assert_eq!(broken.reason, BreakReason::Missing);
    }
}

#[test]
fn a_forged_row_appended_through_sql_fails_its_hash() {
    let db = TempDb::new();
    let records = append_samples(&db.open(), 0, 2);
    // Correct link and id, but a made-up hash: all an attacker without the
    // hashing code (or patience) would write.
    db.raw()
        .execute(
            "INSERT INTO audit_log SELECT 3, ts_us, kind, 'mallory', call_id, session, pack, tool, \
             version, digest, capability, target, decision, outcome, duration_us, bytes_in, \
             bytes_out, details, ?1, ?2 FROM audit_log WHERE id = 2",
            [&records[1].hash, &"f".repeat(64)],
        )
        .unwrap();
    let broken = verify(&db.open()).first_break.expect("a forged row must be noticed");
    assert_eq!(broken.id, 3);
    assert!(matches!(broken.reason, BreakReason::HashMismatch { .. }), "{broken:?}");
}

fn assert_one_linear_chain(store: &SqliteStore, total: u64) {
    let report = verify(store);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, total);
}

#[test]
fn threads_appending_at_once_keep_one_linear_chain() {
    let db = TempDb::new();
    let store = Arc::new(db.open());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..50).map(|n| store.append_audit(&sample_event(t * 100 + n)).unwrap()).collect::<Vec<AuditRecord>>()
            })
        })
        .collect();
    let mut ids: Vec<i64> = threads.into_iter().flat_map(|t| t.join().unwrap()).map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
    assert_one_linear_chain(&store, 200);
}

#[test]
fn two_stores_on_one_file_append_at_once_like_two_processes_and_keep_one_chain() {
    let db = TempDb::new();
    let stores = [db.open(), db.open()];
    std::thread::scope(|scope| {
        for (s, store) in stores.iter().enumerate() {
            scope.spawn(move || append_samples(store, s as u64 * 1_000, 150));
        }
    });
    assert_one_linear_chain(&stores[0], 300);
    assert_one_linear_chain(&db.open(), 300);
}
