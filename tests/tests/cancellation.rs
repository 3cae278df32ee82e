//! A call that ends early ends everything it started and still leaves its
//! audit records: an MCP `notifications/cancelled`, a REST client that
//! disconnects and a pack timeout each end every process of a `cmd.run`
//! (detached ones included) before the call's API record is written, and
//! both the `exec.run` record and the API record say `cancelled` (or
//! `timeout`). A capability call in flight elsewhere (`http.fetch`, a
//! browser wait) leaves its record too, and a cut-off page is not kept. Processes are counted from `/proc` by a marker in their
//! command line, independently of the server's own count.

use anyhow::{Context, Result};
use helmdeck_tests::mcp_support::client_at;
use helmdeck_tests::site::Site;
use helmdeck_tests::{HttpFixture, TestServer, browser, builtin_pack, wait_until};
use serde_json::{Value, json};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// A process tree that outlives its shell's direct child if only that is
/// killed: a background child, one in a session of its own, one
/// double-forked (its parent exits, so it is nobody's child), and one in
/// the foreground. `marker` (a fractional number of seconds, unique per
/// test) tells them apart in `/proc`.
fn process_tree(marker: &str) -> String {
    format!("sleep {marker} & setsid sleep {marker} & (sleep {marker} &); sleep {marker}")
}

/// The `sleep` processes of the tree, alive (zombies do not count).
fn alive_sleeps(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"sleep")) && args.get(1).is_some_and(|a| *a == marker.as_bytes())
        })
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            stat.rsplit(") ").next().is_some_and(|rest| !rest.starts_with(['Z', 'X']))
        })
        .count()
}

/// A marker no other test's processes carry.
fn unique_marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("300.{}{nanos:09}", std::process::id())
}

/// A server with `packs` (built-in pack directories) installed, loopback allow-listed.
async fn server(packs: &[&str]) -> Result<TestServer> {
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    for pack in packs {
        server.install(builtin_pack(pack)).await?;
    }
    Ok(server)
}

/// A session opened by `token`'s subject.
async fn open_session(server: &TestServer, token: &str) -> Result<String> {
    let client = helmdeck_tests::server::client_with_token(token)?;
    let opened = server.send(client.post(server.at("/api/v1/sessions")).json(&json!({}))).await?;
    Ok(opened.ok()["id"].as_str().context("a session id")?.to_owned())
}

/// Wait until all four sleeps of the tree run: the command is under way.
async fn tree_is_running(marker: &str) -> Result<()> {
    let marker = marker.to_owned();
    let started = wait_until(|| {
        let marker = marker.clone();
        async move { Ok(alive_sleeps(&marker) == 4) }
    })
    .await?;
    anyhow::ensure!(started, "the command's four sleeps did not start ({} alive)", alive_sleeps(&marker));
    Ok(())
}

/// The API record of the one call of `tool` (`pack.tool`), once it exists.
async fn api_record(server: &TestServer, tool: &str) -> Result<Option<Value>> {
    let (pack, tool) = tool.split_once('.').context("pack.tool")?;
    let records = server.audit(&format!("kind=api&pack={pack}&tool={tool}")).await?;
    Ok(records.into_iter().next())
}

/// Wait for the API record of `tool`; at the moment it is seen, count the
/// sleeps still alive. Returns the record and that count.
async fn once_recorded(server: &TestServer, tool: &str, marker: &str) -> Result<(Value, usize)> {
    let found = wait_until(|| async { Ok(api_record(server, tool).await?.is_some()) }).await?;
    let alive = alive_sleeps(marker);
    anyhow::ensure!(found, "no API record of the {tool} call: {:#}", calls_so_far(server).await?);
    Ok((api_record(server, tool).await?.context("the record")?, alive))
}

/// Every record but those of the test's own audit queries, for failure messages.
async fn calls_so_far(server: &TestServer) -> Result<Value> {
    let records = server.audit("").await?;
    Ok(records.into_iter().filter(|r| r["capability"] != "GET /api/v1/audit").collect())
}

/// The call's capability records named `capability`.
async fn capability_records(server: &TestServer, api: &Value, capability: &str) -> Result<Vec<Value>> {
    let call_id = api["call_id"].as_str().context("the API record has a call id")?;
    let records = server.audit(&format!("call_id={call_id}&kind=capability")).await?;
    Ok(records.into_iter().filter(|r| r["capability"] == capability).collect())
}

/// Both records of an early-ended `cmd.run` say `outcome`, and nothing of it is alive.
async fn assert_ended(server: &TestServer, api: &Value, alive: usize, outcome: &str) -> Result<()> {
    assert_eq!(alive, 0, "processes of the command were alive once its API record existed: {api}");
    assert_eq!(api["outcome"], outcome, "{api}");
    let exec = capability_records(server, api, "exec.run").await?;
    assert_eq!(exec.len(), 1, "the call has one exec.run record: {exec:#?}");
    assert_eq!(exec[0]["outcome"], outcome, "{:#}", exec[0]);
    assert!(exec[0]["id"].as_i64() < api["id"].as_i64(), "the capability record comes before the API record");
    Ok(())
}

/// Send `POST /api/v1/packs/{tool}` with `body` on a raw connection and
/// return the connection without reading the answer.
async fn send_raw(server_url: &str, token: &str, tool: &str, body: &Value) -> Result<tokio::net::TcpStream> {
    let addr = server_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await?;
    let body = body.to_string();
    let request = format!(
        "POST /api/v1/packs/{tool} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    Ok(stream)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_mcp_call_ends_every_process_of_its_command_and_is_recorded_cancelled() -> Result<()> {
    let server = server(&["cmd", "text"]).await?;
    let token = server.issue_token("agent-mcp", &["packs:call", "packs:read"], "1h").await?;
    let sid = open_session(&server, &token).await?;
    let marker = unique_marker();
    let ready = tempfile::tempdir()?;
    let signal = ready.path().join("cancel-now");
    let args = json!({ "shell": process_tree(&marker), "_session_id": sid }).to_string();
    let then = json!({ "text": "after" }).to_string();
    let (url, signal_arg) = (server.url().to_owned(), signal.to_string_lossy().into_owned());
    let client = tokio::task::spawn_blocking(move || {
        client_at(
            &url,
            &token,
            &[
                "cancel",
                "--tool",
                "cmd_run",
                "--args",
                &args,
                "--cancel-when",
                &signal_arg,
                "--then-tool",
                "text_stats",
                "--then-args",
                &then,
            ],
        )
    });
    tree_is_running(&marker).await?;
    std::fs::write(&signal, b"")?;
    let (api, alive) = once_recorded(&server, "cmd.run", &marker).await?;
    let run = client.await??;
    assert_eq!(run.report["cancelled"], true, "{}", run.report);
    assert_eq!(run.report["then"]["is_error"], false, "the connection still serves calls: {}", run.report);
    assert_eq!(api["capability"], "mcp tools/call");
    assert_ended(&server, &api, alive, "cancelled").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rest_client_that_disconnects_ends_every_process_of_its_command_and_is_recorded_cancelled() -> Result<()> {
    let server = server(&["cmd"]).await?;
    let token = server.issue_token("agent-rest", &["packs:call"], "1h").await?;
    let sid = open_session(&server, &token).await?;
    let marker = unique_marker();
    let stream =
        send_raw(server.url(), &token, "cmd.run", &json!({ "shell": process_tree(&marker), "_session_id": sid }))
            .await?;
    tree_is_running(&marker).await?;
    drop(stream);
    let (api, alive) = once_recorded(&server, "cmd.run", &marker).await?;
    assert_eq!(api["capability"], "POST /api/v1/packs/{name}");
    assert_ended(&server, &api, alive, "cancelled").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pack_timeout_ends_every_process_of_its_command_and_is_recorded_timeout() -> Result<()> {
    let server = TestServer::start().await?;
    // The cmd pack as it ships, but with a 2 s limit per call.
    let pack = tempfile::tempdir()?;
    copy_pack(&builtin_pack("cmd").dir, pack.path(), |manifest| {
        manifest.replace("timeout_ms: 620000", "timeout_ms: 2000")
    })?;
    server
        .run_cli(["pack".as_ref(), "install".as_ref(), "--yes".as_ref(), pack.path().as_os_str()])
        .await?
        .success()?;
    let token = server.issue_token("agent-timeout", &["packs:call"], "1h").await?;
    let sid = open_session(&server, &token).await?;
    let marker = unique_marker();
    let client = helmdeck_tests::server::client_with_token(&token)?;
    let request = client.post(server.at("/api/v1/packs/cmd.run"));
    let call = tokio::spawn(request.json(&json!({ "shell": process_tree(&marker), "_session_id": sid })).send());
    tree_is_running(&marker).await?;
    let answer = helmdeck_tests::ApiResponse::read(call.await??).await?;
    let alive = alive_sleeps(&marker);
    let message = answer.error_message("timeout");
    assert!(message.contains("2000 ms"), "{message}");
    let api = api_record(&server, "cmd.run").await?.context("the call's API record")?;
    assert_ended(&server, &api, alive, "timeout").await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_fetch_in_flight_when_its_client_disconnects_leaves_its_capability_record() -> Result<()> {
    let server = server(&["http"]).await?;
    let fixture = HttpFixture::start()?;
    let token = server.issue_token("agent-fetch", &["packs:call"], "1h").await?;
    let stream = send_raw(server.url(), &token, "http.fetch", &json!({ "url": fixture.url("/gate/held") })).await?;
    fixture.wait_for_hits("/gate/held", 1).await?;
    drop(stream);
    let found = wait_until(|| async { Ok(api_record(&server, "http.fetch").await?.is_some()) }).await?;
    assert!(found, "no API record of the fetch after its client went away: {:#}", calls_so_far(&server).await?);
    let api = api_record(&server, "http.fetch").await?.context("the record")?;
    assert_eq!(api["outcome"], "cancelled", "{api}");
    let fetched = capability_records(&server, &api, "http.fetch").await?;
    assert_eq!(fetched.len(), 1, "{fetched:#?}");
    assert_eq!(fetched[0]["outcome"], "cancelled", "{:#}", fetched[0]);
    assert_eq!(fetched[0]["target"], fixture.url("/gate/held"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_call_cut_off_mid_wait_leaves_its_record_and_none_of_its_pages() -> Result<()> {
    let (server, site) = (browser::Server::start().await?, Site::start().await?);
    let sid = server.session().await?;
    let page = site.url("/block");
    let hang = json!({
        "_session_id": sid,
        "url": page,
        "actions": [{ "action": "wait_for", "selector": "#never", "timeout_ms": 60000 }],
    });
    let stream = send_raw(&server.url, &server.token, "browser.interact", &hang).await?;
    let navigated = wait_until(|| async { Ok(!server.audit("capability=browser.navigate").await?.is_empty()) }).await?;
    assert!(navigated, "the call reached its page: {:#?}", server.audit("").await?);
    drop(stream);
    let recorded = wait_until(|| async { Ok(!server.audit("kind=api&pack=browser").await?.is_empty()) }).await?;
    let pages = server.open_pages().await?;
    assert!(recorded, "no API record of the call after its client went away: {:#?}", server.audit("").await?);
    assert!(!pages.contains(&page), "the cut-off call's tab still shows its page: {pages:?}");
    let api = &server.audit("kind=api&pack=browser").await?[0];
    assert_eq!(api["outcome"], "cancelled", "{api}");
    let waited = server
        .audit(&format!("call_id={}&capability=browser.wait_for", api["call_id"].as_str().unwrap_or_default()))
        .await?;
    assert_eq!(waited.len(), 1, "{waited:#?}");
    assert_eq!((waited[0]["outcome"].as_str(), waited[0]["target"].as_str()), (Some("cancelled"), Some(page.as_str())));
    Ok(())
}

/// Copy the pack directory `from` into `to`, passing its manifest through `edit`.
fn copy_pack(from: &Path, to: &Path, edit: impl Fn(&str) -> String) -> Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_name() == "helmdeck-pack.yaml" {
            let manifest = std::fs::read_to_string(entry.path())?;
            let edited = edit(&manifest);
            anyhow::ensure!(edited != manifest, "the manifest edit changed nothing");
            std::fs::write(target, edited)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
