//! Behaviour of the SQLite store on real files: schema and migrations,
//! installed packs, artifact metadata, and how its errors reach the edge.

use super::testing::TempDb;
use super::{ArtifactMeta, InstalledPack, SqliteStore, Store, StoreError, Timestamp};
use crate::ErrorCode;

fn pack(name: &str, version: &str) -> InstalledPack {
    InstalledPack {
        name: name.to_owned(),
        version: version.to_owned(),
        digest: "0f".repeat(32),
        grants: vec!["http".to_owned(), "artifacts".to_owned()],
        source: format!("/packs/{name}-{version}.wasm"),
        signer: Some("helmdeck-release".to_owned()),
        installed_at: Timestamp::now(),
    }
}

fn artifact(id: &str) -> ArtifactMeta {
    ArtifactMeta {
        id: id.to_owned(),
        name: "screenshot.png".to_owned(),
        content_type: "image/png".to_owned(),
        size: 48_213,
        sha256: "a1".repeat(32),
        created_at: Timestamp::now(),
        actor: "alice".to_owned(),
        call_id: Some("call-7".to_owned()),
        pack: Some("browser".to_owned()),
    }
}

fn schema_objects(db: &TempDb) -> Vec<String> {
    let conn = db.raw();
    let mut stmt = conn
        .prepare("SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1")
        .unwrap();
    stmt.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn user_version(db: &TempDb) -> i64 {
    db.raw().pragma_query_value(None, "user_version", |row| row.get(0)).unwrap()
}

#[test]
fn migrations_build_the_schema_on_an_empty_file_and_reopening_changes_nothing() {
    let db = TempDb::new();
    let store = db.open();
    store.upsert_pack(&pack("fs", "1.0.0")).unwrap();
    let objects = schema_objects(&db);
    for expected in [
        "table audit_log",
        "table installed_packs",
        "table artifacts",
        "table sessions",
        "trigger audit_log_no_update",
        "trigger audit_log_no_delete",
        "trigger audit_log_append_only",
        "index audit_log_call_id",
    ] {
        assert!(objects.iter().any(|o| o == expected), "missing {expected} in {objects:?}");
    }
    assert_eq!(user_version(&db), SqliteStore::schema_version());
    let mode: String = db.raw().pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");

    drop(store);
    for _ in 0..2 {
        let reopened = db.open();
        assert_eq!(reopened.list_packs().unwrap().len(), 1, "data survives a reopen");
    }
    assert_eq!(schema_objects(&db), objects, "reopening must not change the schema");
    assert_eq!(user_version(&db), SqliteStore::schema_version());
}

#[test]
fn a_database_written_by_a_newer_helmdeck_is_refused_with_its_version() {
    let db = TempDb::new();
    drop(db.open());
    db.raw().pragma_update(None, "user_version", 99).unwrap();
    let Err(err) = SqliteStore::open(&db.path) else { panic!("a newer schema must be refused") };
    assert!(
        matches!(&err, StoreError::Open { source, .. } if matches!(**source, StoreError::UnknownSchema { found: 99, supported } if supported == SqliteStore::schema_version())),
        "{err:?}"
    );
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(err.to_string().contains(&db.path.display().to_string()), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_the_file() {
    let db = TempDb::new();
    std::fs::write(&db.path, b"this is not sqlite, just some text long enough for a header....").unwrap();
    let err = SqliteStore::open(&db.path).err().expect("garbage must be refused");
    let edge = crate::Error::from(err);
    assert_eq!(edge.code, ErrorCode::InternalError);
    assert!(edge.message.contains("helmdeck.db"), "{}", edge.message);
}

#[test]
fn installed_packs_upsert_list_in_semver_order_and_remove_by_version_or_name() {
    let db = TempDb::new();
    let store = db.open();
    for (name, version) in [("fs", "1.10.0"), ("browser", "0.3.0"), ("fs", "1.9.0"), ("fs", "1.0.0")] {
        store.upsert_pack(&pack(name, version)).unwrap();
    }
    let listed: Vec<_> = store.list_packs().unwrap().into_iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    assert_eq!(listed, ["browser@0.3.0", "fs@1.0.0", "fs@1.9.0", "fs@1.10.0"]);

    let mut reinstalled = pack("fs", "1.9.0");
    reinstalled.digest = "e3".repeat(32);
    reinstalled.grants = vec!["fs".to_owned()];
    reinstalled.signer = None;
    store.upsert_pack(&reinstalled).unwrap();
    let packs = store.list_packs().unwrap();
    assert_eq!(packs.len(), 4, "an upsert of the same version replaces it");
    assert!(packs.contains(&reinstalled), "{packs:?}");

    assert_eq!(store.remove_pack("fs", Some("1.9.0")).unwrap(), 1);
    assert_eq!(store.remove_pack("fs", Some("2.0.0")).unwrap(), 0);
    assert_eq!(store.remove_pack("fs", None).unwrap(), 2);
    assert_eq!(store.remove_pack("nope", None).unwrap(), 0);
    let left: Vec<_> = store.list_packs().unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(left, ["browser"]);
}

#[test]
fn a_pack_with_a_non_semver_version_or_a_malformed_digest_is_refused_naming_the_field() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut bad_version = pack("fs", "latest");
    let err = crate::Error::from(store.upsert_pack(&bad_version).unwrap_err());
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(err.details, Some(serde_json::json!({ "field": "version" })));
    assert!(err.message.contains("latest"), "{}", err.message);

    bad_version.version = "1.0.0".to_owned();
    bad_version.digest = "ABCDEF".to_owned();
    let err = crate::Error::from(store.upsert_pack(&bad_version).unwrap_err());
    assert_eq!(err.details, Some(serde_json::json!({ "field": "digest" })));
    assert!(store.list_packs().unwrap().is_empty(), "nothing is written on refusal");
}

#[test]
fn artifact_metadata_round_trips_and_an_unknown_id_is_not_found() {
    let db = TempDb::new();
    let store = db.open();
    let meta = artifact("01J0ARTIFACT");
    store.put_artifact(&meta).unwrap();
    let anonymous = ArtifactMeta { call_id: None, pack: None, ..artifact("01J0OTHER") };
    store.put_artifact(&anonymous).unwrap();

    let reopened = db.open();
    assert_eq!(reopened.get_artifact("01J0ARTIFACT").unwrap(), meta);
    assert_eq!(reopened.get_artifact("01J0OTHER").unwrap(), anonymous);

    let missing = crate::Error::from(reopened.get_artifact("01J0MISSING").unwrap_err());
    assert_eq!(missing.code, ErrorCode::NotFound);
    assert!(missing.message.contains("01J0MISSING"), "{}", missing.message);
}

#[test]
fn artifact_metadata_is_immutable_and_checked() {
    let store = SqliteStore::open_in_memory().unwrap();
    store.put_artifact(&artifact("a")).unwrap();
    let changed = ArtifactMeta { size: 1, ..artifact("a") };
    let err = crate::Error::from(store.put_artifact(&changed).unwrap_err());
    assert_eq!(err.code, ErrorCode::InternalError);
    assert_eq!(store.get_artifact("a").unwrap().size, 48_213);

    let bad_hash = ArtifactMeta { sha256: "xyz".to_owned(), ..artifact("b") };
    let err = crate::Error::from(store.put_artifact(&bad_hash).unwrap_err());
    assert_eq!(err.details, Some(serde_json::json!({ "field": "sha256" })));
}

#[test]
fn the_wal_is_checkpointed_in_the_background_while_the_store_stays_open() {
    let db = TempDb::new();
    let store = db.open();
    let main_file = || std::fs::metadata(&db.path).unwrap().len();
    let before = main_file();
    for i in 0..200 {
        store.upsert_pack(&pack(&format!("p{i}"), "1.0.0")).unwrap();
    }
    // Commits no longer checkpoint; only the background thread moves pages
    // from the WAL into the database file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while main_file() <= before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(main_file() > before, "the database file never received the WAL's pages");
    assert_eq!(store.list_packs().unwrap().len(), 200);
}
