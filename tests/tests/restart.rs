//! Installed packs across restarts of the real binary: they load again from
//! the precompiled cache and are callable; a component modified on disk
//! while the server was down is refused at load and listed as a failure,
//! and the other packs still load.

use helmdeck_tests::{HttpFixture, TestServer, builtin_pack, fixture_pack, wait_until};
use serde_json::json;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The precompiled cache entries: file name and inode (a recompiled entry
/// is written to a new file and renamed into place, so its inode changes).
fn cache_entries(data_dir: &Path) -> anyhow::Result<BTreeSet<(String, u64)>> {
    let mut entries = BTreeSet::new();
    for entry in std::fs::read_dir(data_dir.join("cache/components"))? {
        let entry = entry?;
        entries.insert((entry.file_name().to_string_lossy().into_owned(), entry.metadata()?.ino()));
    }
    Ok(entries)
}

#[tokio::test]
async fn installed_packs_survive_a_restart_and_load_from_the_precompiled_cache() -> anyhow::Result<()> {
    let site = HttpFixture::builder().page("/a", "text/plain", "still here").start()?;
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    server.install(builtin_pack("http")).await?;
    server.install(fixture_pack("slow-1.0")).await?;
    assert_eq!(server.call("slow.wait", &json!({ "ms": 0 })).await?.ok()["output"]["version"], "1.0.0");
    let cached = cache_entries(server.data_dir())?;
    assert_eq!(cached.len(), 2, "one precompiled entry per installed component: {cached:?}");
    let first_pid = server.pid();

    let data = server.stop().await?;
    assert!(!data.path().join("server.json").exists(), "a graceful stop removes server.json");

    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").data_dir(data).start().await?;
    assert_ne!(server.pid(), first_pid);
    let listing = server.get("/api/v1/packs").await?;
    assert_eq!(listing.ok()["failures"], json!([]));
    assert_eq!(server.call("slow.wait", &json!({ "ms": 0 })).await?.ok()["output"]["version"], "1.0.0");
    let fetched = server.call("http.fetch", &json!({ "url": site.url("/a") })).await?;
    assert_eq!(fetched.ok()["output"]["body"], "still here");
    assert_eq!(cache_entries(server.data_dir())?, cached, "the restart compiled nothing: it loaded the cache");

    // The audit chain spans both runs.
    let verified = server.run_cli(["audit", "verify"]).await?.success()?;
    assert!(verified.stdout.contains("intact"), "{}", verified.stdout);
    Ok(())
}

#[tokio::test]
async fn a_graceful_stop_ends_the_warm_browsers_and_logs_no_error() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let instances = || async {
        let pool = server.get("/api/v1/browsers").await?;
        Ok::<_, anyhow::Error>(pool.ok()["instances"].as_array().cloned().unwrap_or_default())
    };
    wait_until(|| async { Ok(!instances().await?.is_empty()) }).await?;
    let browsers = instances().await?;
    assert!(!browsers.is_empty(), "serve warms a browser at start");
    let data = server.stop().await?;
    for pid in &browsers {
        let pid = pid.as_str().unwrap_or_default();
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "browser {pid} outlived the stop");
    }
    let log = data.serve_log(1);
    let alarms: Vec<&str> = log.lines().filter(|line| line.contains(" ERROR ") || line.contains(" WARN ")).collect();
    assert!(alarms.is_empty(), "a stop on request is no error: {alarms:#?}");
    Ok(())
}

#[tokio::test]
async fn a_component_modified_on_disk_is_refused_at_load_and_the_other_packs_still_load() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(fixture_pack("slow-1.0")).await?;
    server.install(fixture_pack("web")).await?;
    let data = server.stop().await?;

    // Someone edits the installed component while the server is down.
    let component = data.path().join("packs/slow/1.0.0/slow.wasm");
    let mut bytes = std::fs::read(&component)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&component, bytes)?;

    let server = TestServer::builder().data_dir(data).start().await?;
    let listing = server.get("/api/v1/packs").await?;
    let body = listing.ok();
    let loaded: Vec<&str> = body["packs"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(loaded, ["web"], "the untouched pack still loads");
    let failures = body["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!((failures[0]["name"].as_str(), failures[0]["version"].as_str()), (Some("slow"), Some("1.0.0")));
    let reason = failures[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(reason.contains("modified on disk") && reason.contains("reinstall"), "{reason}");

    server.call("slow.wait", &json!({ "ms": 0 })).await?.error("not_found");
    let scraped = server.call("web.scrape_spa", &json!({ "url": "https://example.test/" })).await?;
    assert_eq!(scraped.ok()["output"]["pack"], "web");
    let ready = reqwest::get(server.at("/readyz")).await?.json::<serde_json::Value>().await?;
    assert_eq!(ready["failed_packs"], 1);
    let listed = server.run_cli(["pack", "list"]).await?.success()?;
    assert!(listed.stderr.contains("failed to load slow 1.0.0"), "{}", listed.stderr);

    // Reinstalling, as the message advises, repairs it without a restart.
    server.install(fixture_pack("slow-1.0")).await?;
    assert_eq!(server.get("/api/v1/packs").await?.ok()["failures"], json!([]));
    assert_eq!(server.call("slow.wait", &json!({ "ms": 0 })).await?.ok()["output"]["version"], "1.0.0");
    Ok(())
}
