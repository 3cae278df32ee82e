//! `helmdeck pack install|list|info|call|remove` through the real command
//! line: against a running server they hot-load into it (no restart);
//! without one they work on the data directory, which the next server loads.

use helmdeck_tests::{DataDir, Helmdeck, HttpFixture, TestServer, builtin_pack, fixture_pack};
use serde_json::json;

#[tokio::test]
async fn pack_commands_against_a_running_server_hot_load_into_it() -> anyhow::Result<()> {
    let site = HttpFixture::builder().page("/hi", "text/plain", "hi from the fixture").start()?;
    let mut server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    let pid = server.pid();
    let http = builtin_pack("http").dir.to_string_lossy().into_owned();

    // Grants are given by a person: without --yes or --grant nothing is installed.
    let ungranted = server.run_cli(["pack", "install", &http]).await?;
    assert!(!ungranted.status.success());
    assert!(ungranted.stderr.contains("--grant http"), "{}", ungranted.stderr);
    let installed = server.run_cli(["pack", "install", "--grant", "http", &http]).await?.success()?;
    assert!(installed.stderr.contains("live in the running server"), "{}", installed.stderr);
    assert_eq!(installed.json()?["grants"], json!(["http"]));

    // Live in the server at once.
    let listing = server.get("/api/v1/packs").await?;
    assert_eq!(listing.ok()["packs"][0]["name"], "http");
    let table = server.run_cli(["pack", "list"]).await?.success()?;
    let row = table.stdout.lines().find(|l| l.starts_with("http")).unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(row.contains("0.1.0") && row.contains("fetch"), "{row}");
    let info = server.run_cli(["pack", "info", "http.fetch"]).await?.success()?.json()?;
    assert_eq!(info["input_schema"]["required"], json!(["url"]));

    let input = json!({ "url": site.url("/hi") }).to_string();
    let called = server.run_cli(["pack", "call", "http.fetch", "--input", &input]).await?.success()?;
    assert_eq!(called.json()?["body"], "hi from the fixture");
    let records = server.audit("pack=http&kind=api&actor=cli").await?;
    assert_eq!(records.len(), 1, "the CLI's call went through the server's audit log: {records:#?}");

    let refused = server.run_cli(["pack", "call", "http.fetch", "--input", r#"{"url": 5}"#]).await?;
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("error[invalid_input]") && refused.stderr.contains("/url"), "{}", refused.stderr);

    let removed = server.run_cli(["pack", "remove", "http"]).await?.success()?;
    assert_eq!(removed.json()?["removed"], json!(["0.1.0"]));
    server.call("http.fetch", &json!({ "url": site.url("/hi") })).await?.error("not_found");
    assert_eq!(server.get("/api/v1/packs").await?.ok()["packs"], json!([]));

    assert!(server.is_running() && server.pid() == pid, "all of it happened without a restart");
    Ok(())
}

#[tokio::test]
async fn without_a_server_the_cli_works_on_the_data_directory_and_the_next_server_loads_it() -> anyhow::Result<()> {
    let data = DataDir::new()?;
    let cli = Helmdeck::new(data.path(), &[]);
    let slow = fixture_pack("slow-1.0").dir.to_string_lossy().into_owned();
    let installed = cli.run_ok(["pack", "install", "--yes", &slow]).await?;
    assert!(!installed.stderr.contains("live in the running server"), "{}", installed.stderr);
    let called = cli.run_ok(["pack", "call", "slow.wait", "--input", r#"{"ms": 0}"#]).await?;
    assert_eq!(called.json()?["version"], "1.0.0");

    let server = TestServer::builder().data_dir(data).start().await?;
    assert_eq!(server.call("slow.wait", &json!({ "ms": 0 })).await?.ok()["output"]["version"], "1.0.0");
    let local_call = server.audit("pack=slow&actor=cli&kind=api").await?;
    assert_eq!(local_call.len(), 1, "the offline call was audited in the same log: {local_call:#?}");
    Ok(())
}
