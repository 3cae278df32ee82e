//! Searching the log: every filter, paging, limits, and parsing from a URL.

use super::append_samples;
use crate::audit::{AuditKind, AuditQuery, Decision, Outcome};
use crate::store::testing::{TempDb, sample_event};
use crate::store::{SqliteStore, Store, Timestamp};
use crate::{Error, ErrorCode};
use axum::extract::Query;
use std::time::Duration;

/// The ids `query` returns (one page), newest first.
fn ids(store: &SqliteStore, query: AuditQuery) -> Vec<i64> {
    store.query_audit(&query).unwrap().records.into_iter().map(|r| r.id).collect()
}

/// The ids of sample events 0..10 (stored as ids 1..=10) that satisfy `keep`,
/// newest first.
fn expected(keep: impl Fn(u64) -> bool) -> Vec<i64> {
    (0..10u64).rev().filter(|&n| keep(n)).map(|n| n as i64 + 1).collect()
}

#[test]
fn every_filter_selects_exactly_the_matching_records() {
    let db = TempDb::new();
    let store = db.open();
    append_samples(&store, 0, 10);
    let admin = crate::audit::AuditEvent {
        pack: Some("fs".to_owned()),
        tool: Some("read".to_owned()),
        capability: Some("pack.install".to_owned()),
        outcome: Outcome::Error(ErrorCode::Timeout),
        ..crate::audit::AuditEvent::new(AuditKind::Admin, "root")
    };
    store.append_audit(&admin).unwrap();
    let q = AuditQuery::default;

    assert_eq!(ids(&store, q()), [vec![11], expected(|_| true)].concat());
    assert_eq!(ids(&store, AuditQuery { actor: Some("agent-1".into()), ..q() }), expected(|n| n % 2 == 1));
    assert_eq!(ids(&store, AuditQuery { kind: Some(AuditKind::Admin), ..q() }), [11]);
    assert_eq!(ids(&store, AuditQuery { kind: Some(AuditKind::Capability), ..q() }), expected(|_| true));
    assert_eq!(ids(&store, AuditQuery { pack: Some("fs".into()), ..q() }), [11]);
    assert_eq!(ids(&store, AuditQuery { tool: Some("read".into()), ..q() }), [11]);
    assert_eq!(ids(&store, AuditQuery { capability: Some("pack.install".into()), ..q() }), [11]);
    assert_eq!(ids(&store, AuditQuery { outcome: Some(Outcome::Ok), ..q() }), expected(|n| n % 5 != 4));
    assert_eq!(
        ids(&store, AuditQuery { outcome: Some(Outcome::Error(ErrorCode::EgressDenied)), ..q() }),
        expected(|n| n % 5 == 4)
    );
    assert_eq!(ids(&store, AuditQuery { decision: Some(Decision::Deny), ..q() }), expected(|n| n % 5 == 4));
    assert_eq!(ids(&store, AuditQuery { call_id: Some("call-3".into()), ..q() }), [8, 7]);
    assert_eq!(
        ids(&store, AuditQuery { actor: Some("agent-0".into()), decision: Some(Decision::Deny), ..q() }),
        [5],
        "filters combine with AND"
    );
    assert!(ids(&store, AuditQuery { actor: Some("nobody".into()), ..q() }).is_empty());
}

#[test]
fn since_is_inclusive_and_until_exclusive_on_the_append_time() {
    let store = SqliteStore::open_in_memory().unwrap();
    let pause = || std::thread::sleep(Duration::from_millis(3));
    append_samples(&store, 0, 3);
    pause();
    let t1 = Timestamp::now();
    pause();
    let middle = append_samples(&store, 3, 3);
    pause();
    let t2 = Timestamp::now();
    pause();
    append_samples(&store, 6, 3);
    let q = AuditQuery::default;

    assert_eq!(ids(&store, AuditQuery { since: Some(t1), ..q() }), [9, 8, 7, 6, 5, 4]);
    assert_eq!(ids(&store, AuditQuery { until: Some(t2), ..q() }), [6, 5, 4, 3, 2, 1]);
    assert_eq!(ids(&store, AuditQuery { since: Some(t1), until: Some(t2), ..q() }), [6, 5, 4]);
    let exact = AuditQuery { since: Some(middle[0].ts), until: Some(middle[0].ts), ..q() };
    assert!(ids(&store, exact).is_empty(), "until excludes its own instant");
    assert_eq!(ids(&store, AuditQuery { since: Some(middle[2].ts), until: Some(t2), ..q() }), [6]);
}

#[test]
fn the_cursor_pages_through_all_matches_newest_first_without_gaps_or_repeats() {
    let store = SqliteStore::open_in_memory().unwrap();
    append_samples(&store, 0, 25);
    for (filter, total) in [(None, 25), (Some("agent-0"), 13)] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let query = AuditQuery { actor: filter.map(str::to_owned), limit: Some(10), cursor, ..Default::default() };
            let page = store.query_audit(&query).unwrap();
            assert!(page.records.len() <= 10);
            seen.extend(page.records.iter().map(|r| r.id));
            pages += 1;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), total, "{filter:?}");
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {seen:?}");
        assert_eq!(pages, total.div_ceil(10), "{filter:?}");
    }
    let exact = store.query_audit(&AuditQuery { limit: Some(25), ..Default::default() }).unwrap();
    assert_eq!((exact.records.len(), exact.next_cursor), (25, None), "no cursor when nothing is left");
}

#[test]
fn an_out_of_range_limit_or_a_bad_cursor_is_invalid_input_naming_the_field() {
    let store = SqliteStore::open_in_memory().unwrap();
    append_samples(&store, 0, 3);
    for (query, field) in [
        (AuditQuery { limit: Some(0), ..Default::default() }, "limit"),
        (AuditQuery { limit: Some(1001), ..Default::default() }, "limit"),
        (AuditQuery { cursor: Some("yesterday".into()), ..Default::default() }, "cursor"),
        (AuditQuery { cursor: Some("-4".into()), ..Default::default() }, "cursor"),
    ] {
        let err = Error::from(store.query_audit(&query).unwrap_err());
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert_eq!(err.details, Some(serde_json::json!({ "field": field })));
        assert!(err.message.contains(&format!("`{field}`")), "{}", err.message);
    }
    assert_eq!(store.query_audit(&AuditQuery { limit: Some(1000), ..Default::default() }).unwrap().records.len(), 3);
    assert_eq!(AuditQuery::default().page_size().unwrap(), 100);
}

#[test]
fn a_query_parses_from_url_parameters_as_rest_receives_them() {
    let uri: axum::http::Uri = "http://h/api/v1/audit?actor=alice&kind=capability&pack=http&tool=fetch\
        &capability=http&outcome=egress_denied&decision=deny&call_id=c1\
        &since=2026-05-01T12:00:00Z&until=2026-05-01T14:00:00.5%2B02:00&limit=50&cursor=42"
        .parse()
        .unwrap();
    let Query(query) = Query::<AuditQuery>::try_from_uri(&uri).unwrap();
    assert_eq!(query.actor.as_deref(), Some("alice"));
    assert_eq!(query.kind, Some(AuditKind::Capability));
    assert_eq!((query.pack.as_deref(), query.tool.as_deref()), (Some("http"), Some("fetch")));
    assert_eq!(query.capability.as_deref(), Some("http"));
    assert_eq!(query.outcome, Some(Outcome::Error(ErrorCode::EgressDenied)));
    assert_eq!(query.decision, Some(Decision::Deny));
    assert_eq!(query.call_id.as_deref(), Some("c1"));
    assert_eq!(query.since.unwrap().to_string(), "2026-05-01T12:00:00.000000Z");
    assert_eq!(query.until.unwrap().to_string(), "2026-05-01T12:00:00.500000Z");
    assert_eq!((query.limit, query.cursor.as_deref()), (Some(50), Some("42")));

    let ok: axum::http::Uri = "http://h/api/v1/audit?outcome=ok".parse().unwrap();
    assert_eq!(Query::<AuditQuery>::try_from_uri(&ok).unwrap().0.outcome, Some(Outcome::Ok));
    let empty: axum::http::Uri = "http://h/api/v1/audit".parse().unwrap();
    assert_eq!(Query::<AuditQuery>::try_from_uri(&empty).unwrap().0, AuditQuery::default());
    let typo: axum::http::Uri = "http://h/api/v1/audit?actr=alice".parse().unwrap();
    assert!(Query::<AuditQuery>::try_from_uri(&typo).is_err(), "a misspelt filter is refused");
}

#[test]
fn a_record_serializes_flat_with_microsecond_utc_time_and_the_outcome_code() {
    let store = SqliteStore::open_in_memory().unwrap();
    let record = store.append_audit(&sample_event(4)).unwrap();
    let json = serde_json::to_value(&record).unwrap();
    let ts = json["ts"].as_str().unwrap();
    assert_eq!((ts.len(), &ts[19..20], &ts[26..]), (27, ".", "Z"), "{ts}");
    assert_eq!(json["id"], 1);
    assert_eq!(json["kind"], "capability");
    assert_eq!(json["outcome"], "egress_denied");
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["details"], serde_json::json!({ "n": 4, "note": "sample" }));
    assert_eq!(json["prev_hash"], crate::audit::GENESIS_HASH);
    assert_eq!(json["hash"].as_str().unwrap().len(), 64);
    assert_eq!(serde_json::from_value::<crate::audit::AuditRecord>(json).unwrap(), record);
    let stored = store.query_audit(&AuditQuery::default()).unwrap().records;
    assert_eq!(stored, [record], "what append returns is what a query reads back");
}
