//! The audit log through the real binary: every API call is a record that
//! `GET /api/v1/audit` returns, `helmdeck audit verify` detects a record
//! edited by hand in the database, and the anchor it prints detects the
//! newest records being removed.

use futures::StreamExt as _;
use helmdeck_tests::server::client_with_token;
use helmdeck_tests::{Helmdeck, HttpFixture, TestServer, builtin_pack, fixture_pack};
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

/// Every record a token's holder gets from `GET /api/v1/audit`, following cursors.
async fn audit_as(server: &TestServer, client: &reqwest::Client, query: &str) -> anyhow::Result<Vec<Value>> {
    let mut records = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server.send(client.get(server.at(&format!("/api/v1/audit?limit=1000{query}{cursor}")))).await?;
        let body = page.ok();
        records.extend(body["records"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return Ok(records),
        }
    }
}

#[tokio::test]
async fn a_subject_reads_only_its_own_audit_records_unless_it_holds_audit_all() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(fixture_pack("slow-1.0")).await?;
    // Default scopes (packs:read, packs:call, audit:read) for the two agents.
    let alice = client_with_token(&server.issue_token("alice", &[], "1h").await?)?;
    let bob = client_with_token(&server.issue_token("bob", &[], "1h").await?)?;
    let call = |client: &reqwest::Client| client.post(server.at("/api/v1/packs/slow.wait")).json(&json!({ "ms": 0 }));
    let alice_call = server.send(call(&alice)).await?.ok()["call_id"].as_str().unwrap().to_owned();
    let bob_call = server.send(call(&bob)).await?.ok()["call_id"].as_str().unwrap().to_owned();

    let own = audit_as(&server, &alice, "").await?;
    assert!(own.iter().any(|r| r["call_id"] == alice_call), "alice reads her own call: {own:#?}");
    let others: Vec<&Value> = own.iter().filter(|r| r["actor"] != "alice").collect();
    assert!(others.is_empty(), "alice reads only her own records, not: {others:#?}");
    assert!(audit_as(&server, &alice, &format!("&call_id={bob_call}")).await?.is_empty(), "not bob's call by its id");
    let message = server.send(alice.get(server.at("/api/v1/audit?actor=bob"))).await?.error_message("unauthorized");
    assert!(message.contains("audit:all"), "asking for another subject's records names the scope: {message}");

    // `audit:all` and `admin` read everyone's.
    let auditor = client_with_token(&server.issue_token("auditor", &["audit:all"], "1h").await?)?;
    for reader in [&auditor, server.client()] {
        let all = audit_as(&server, reader, "").await?;
        for id in [&alice_call, &bob_call] {
            assert!(all.iter().any(|r| &r["call_id"] == id), "{id} is visible to an auditor: {all:#?}");
        }
    }
    assert_eq!(audit_as(&server, &auditor, "&actor=bob").await?.iter().filter(|r| r["call_id"] == bob_call).count(), 1);

    // The scopes say so where tokens are made.
    let help = server.run_cli(["token", "issue", "--help"]).await?.success()?;
    assert!(help.stdout.contains("audit:all"), "{}", help.stdout);
    assert!(help.stdout.contains("own"), "the help says audit:read covers the token's own records: {}", help.stdout);

    // The operator, on the data directory, still reads the whole log.
    let tail = server.run_cli(["audit", "tail", "--json", "-n", "1000"]).await?.success()?;
    for id in [&alice_call, &bob_call] {
        assert!(tail.stdout.contains(id.as_str()), "`helmdeck audit tail` shows {id}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_unauthenticated_requests_leave_a_bounded_number_of_records_that_still_count_them()
-> anyhow::Result<()> {
    const REQUESTS: usize = 10_000;
    let server = TestServer::start().await?;
    let anonymous = reqwest::Client::builder().no_proxy().build()?;
    let garbage = client_with_token("not-a-jwt")?;
    let answers = futures::stream::iter(0..REQUESTS)
        .map(|n| {
            let request = match n % 4 {
                0 => anonymous.get(server.at("/api/v1/packs")),
                1 => garbage.get(server.at("/api/v1/audit")),
                2 => anonymous.post(server.at("/mcp")).json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })),
                _ => anonymous.get(server.at("/shared/artifacts/0123abcd?expires=1&sig=00")),
            };
            async move { request.send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for status in answers {
        assert_eq!(status?, 401, "every unauthenticated request is refused");
    }

    let refusals = |records: &[Value]| -> Vec<Value> {
        records.iter().filter(|r| r["actor"] == "anonymous" || r["actor"] == "signed-link").cloned().collect()
    };
    let live = refusals(&server.audit("decision=deny").await?);
    assert!(live.len() <= 100, "{REQUESTS} unauthenticated requests left {} records", live.len());

    // The count is still in the log: a refusal recorded in full stands for
    // itself, a summary (written when its window closes, at the latest when
    // the server stops) for the `suppressed` requests of its window.
    let data = server.stop().await?;
    let restarted = TestServer::builder().data_dir(data).start().await?;
    let kept = refusals(&restarted.audit("decision=deny").await?);
    assert!(kept.len() <= 100, "{} records", kept.len());
    let counted: u64 = kept.iter().map(|r| r["details"]["suppressed"].as_u64().unwrap_or(1)).sum();
    assert_eq!(counted, REQUESTS as u64, "the records count every refused request: {kept:#?}");
    Ok(())
}
