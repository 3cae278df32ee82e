//! The audit log through the real binary: every API call is a record that
//! `GET /api/v1/audit` returns, `helmdeck audit verify` detects a record
//! edited by hand in the database, and the anchor it prints detects the
//! newest records being removed.

use helmdeck_tests::{Helmdeck, HttpFixture, TestServer, builtin_pack};
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// The id of the API record of the call `call_id`.
fn api_record<'a>(records: &'a [Value], call_id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["kind"] == "api" && r["call_id"] == call_id)
        .unwrap_or_else(|| panic!("no api record for call {call_id}"))
}

#[tokio::test]
async fn every_call_is_audited_and_verify_detects_a_record_edited_by_hand() -> anyhow::Result<()> {
    let site = HttpFixture::builder().page("/a", "text/plain", "a").start()?;
    let elsewhere = HttpFixture::builder().ip(Ipv4Addr::new(127, 0, 0, 2)).start()?;
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    server.install(builtin_pack("http")).await?;

    let fetched = server.call("http.fetch", &json!({ "url": site.url("/a") })).await?;
    let fetched_id = fetched.ok()["call_id"].as_str().unwrap().to_owned();
    let denied = server.call("http.fetch", &json!({ "url": elsewhere.url("/b") })).await?;
    denied.error("egress_denied");
    let denied_id = denied.body["error"]["call_id"].as_str().unwrap().to_owned();
    let listed = server.get("/api/v1/packs").await?;
    listed.ok();

    let records = server.audit("").await?;
    assert_eq!(api_record(&records, &fetched_id)["outcome"], "ok");
    assert_eq!(api_record(&records, &denied_id)["outcome"], "egress_denied");
    let listing = records.iter().find(|r| r["target"] == "/api/v1/packs").expect("the listing request is audited");
    assert_eq!((listing["kind"].as_str(), listing["capability"].as_str()), (Some("api"), Some("GET /api/v1/packs")));
    let install = records.iter().find(|r| r["capability"] == "pack.install").expect("the install is audited");
    assert_eq!((install["kind"].as_str(), install["target"].as_str()), (Some("admin"), Some("http@0.1.0")));

    let intact = server.run_cli(["audit", "verify"]).await?.success()?;
    assert!(intact.stdout.contains("audit chain intact"), "{}", intact.stdout);

    // An attacker with write access to the database hides the denied call:
    // the append-only trigger is dropped first, then the record rewritten.
    let row = api_record(&records, &denied_id)["id"].as_i64().unwrap();
    let db = rusqlite::Connection::open(server.database())?;
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    db.execute_batch("DROP TRIGGER audit_log_no_update")?;
    let changed = db.execute("UPDATE audit_log SET outcome = 'ok', decision = 'allow' WHERE id = ?1", [row])?;
    assert_eq!(changed, 1);
    drop(db);

    let broken = server.run_cli(["audit", "verify"]).await?;
    assert!(!broken.status.success(), "verify passed a tampered log: {}", broken.stdout);
    assert!(
        broken.stderr.contains(&format!("record {row}")),
        "verify names the edited record {row}: {}",
        broken.stderr
    );
    Ok(())
}

#[tokio::test]
async fn the_anchor_verify_prints_catches_the_newest_records_being_removed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for _ in 0..3 {
        server.get("/api/v1/packs").await?.ok();
    }
    let data = server.stop().await?;
    let cli = Helmdeck::new(data.path(), &[]);

    let first = cli.run_ok(["audit", "verify"]).await?;
    let anchor = first.stdout.lines().find_map(|l| l.strip_prefix("anchor: ")).expect("verify prints an anchor");
    let (id, _) = anchor.split_once(':').unwrap();
    let again = cli.run_ok(["audit", "verify", "--anchor", anchor]).await?;
    assert!(again.stdout.contains(&format!("reaching anchored record {id}")), "{}", again.stdout);

    // Whoever can write the database drops the newest records: the chain
    // that is left is consistent, the anchor kept elsewhere is not.
    let db = rusqlite::Connection::open(data.path().join("helmdeck.db"))?;
    db.execute_batch("DROP TRIGGER audit_log_no_delete")?;
    assert!(db.execute("DELETE FROM audit_log WHERE id >= ?1", [id.parse::<i64>()? - 1])? >= 2);
    drop(db);
    cli.run_ok(["audit", "verify"]).await?;
    let caught = cli.run(["audit", "verify", "--anchor", anchor]).await?;
    assert_eq!(caught.status.code(), Some(3), "{}", caught.stderr);
    assert!(caught.stderr.contains("removed from its end"), "{}", caught.stderr);

    let malformed = cli.run(["audit", "verify", "--anchor", "12"]).await?;
    assert!(!malformed.status.success() && malformed.stderr.contains("--anchor"), "{}", malformed.stderr);
    assert!(malformed.stderr.contains("ID:HASH"), "{}", malformed.stderr);
    Ok(())
}
