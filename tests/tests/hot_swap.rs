//! Packs change while the server runs: a new version swaps in without a
//! restart and without failing calls in flight, removal makes calls
//! `not_found`, `pack@version` and `/v{n}` pick the right version, and a
//! tool-name collision refuses the load.

use helmdeck_tests::{ApiResponse, HttpFixture, TestServer, fixture_pack};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A server that may reach the fixture server, with `slow` installed at `versions`.
async fn slow_server(versions: &[&str]) -> anyhow::Result<Arc<TestServer>> {
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    for v in versions {
        server.install(fixture_pack(&format!("slow-{v}"))).await?;
    }
    Ok(Arc::new(server))
}

/// The `version` a successful `slow` call reports.
#[track_caller]
fn version(answer: &ApiResponse) -> String {
    answer.ok()["output"]["version"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_swaps_in_under_load_without_a_restart_or_a_failed_call() -> anyhow::Result<()> {
    let gate = HttpFixture::start()?;
    let mut server = slow_server(&["1.0"]).await?;
    let pid = server.pid();

    // Calls held in flight on 1.0.0 until the gate opens.
    let held: Vec<_> = (0..4)
        .map(|_| {
            let (server, url) = (server.clone(), gate.url("/gate/swap"));
            tokio::spawn(async move { server.call("slow.wait_for", &json!({ "url": url })).await })
        })
        .collect();
    gate.wait_for_hits("/gate/swap", 4).await?;

    // Steady load of short calls across the swap.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    answers.push((started, server.call("slow.wait", &json!({ "ms": 20 })).await?));
                }
                anyhow::Ok(answers)
            })
        })
        .collect();

    let install = server.run_cli([
        "pack".as_ref(),
        "install".as_ref(),
        "--yes".as_ref(),
        fixture_pack("slow-1.1").dir.as_os_str(),
    ]);
    let install = install.await?.success()?;
    let swapped = Instant::now();
    assert!(install.stderr.contains("live in the running server"), "{}", install.stderr);
    assert_eq!(install.json()?["replaced"], "1.0.0");
    assert_eq!(version(&server.call("slow.wait", &json!({ "ms": 0 })).await?), "1.1.0");

    gate.open_gate("swap");
    for call in held {
        let answer = call.await??;
        assert_eq!(version(&answer), "1.0.0", "a call in flight finishes on the version it started on");
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for worker in load {
        for (started, answer) in worker.await?? {
            let v = version(&answer); // every call succeeded
            if started > swapped {
                assert_eq!(v, "1.1.0", "a call made after the install returned ran the old version");
            }
            total += 1;
        }
    }
    assert!(total >= 4, "the load ran ({total} calls)");

    let server = Arc::get_mut(&mut server).expect("every task is done");
    assert!(server.is_running() && server.pid() == pid, "the server was not restarted");
    let listing = server.get("/api/v1/packs/slow").await?;
    assert_eq!(listing.ok()["versions"], json!(["1.0.0", "1.1.0"]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_routed_by_at_version_and_major_route_and_removal_makes_calls_not_found() -> anyhow::Result<()> {
    let gate = HttpFixture::start()?;
    let server = slow_server(&["1.0", "2.0", "1.1"]).await?;
    let wait = json!({ "ms": 0 });

    assert_eq!(version(&server.call("slow.wait", &wait).await?), "2.0.0", "no version means the newest");
    assert_eq!(version(&server.call("slow.wait@1.0.0", &wait).await?), "1.0.0");
    assert_eq!(version(&server.call("slow.wait@1.1.0", &wait).await?), "1.1.0");
    assert_eq!(version(&server.post("/api/v1/packs/slow.wait/v1", &wait).await?), "1.1.0", "/v1 is the newest 1.x");
    assert_eq!(version(&server.post("/api/v1/packs/slow.wait/v2", &wait).await?), "2.0.0");
    assert_eq!(version(&server.post("/api/v1/packs/slow.wait@1.0.0/v1", &wait).await?), "1.0.0");
    server.post("/api/v1/packs/slow.wait/v3", &wait).await?.error("not_found");
    server.call("slow.wait@1.2.0", &wait).await?.error("not_found");
    assert_eq!(server.get("/api/v1/packs/slow@1.0.0").await?.ok()["version"], "1.0.0");

    // Removing one version: the others stay and routing follows.
    let removed = server.send(server.client().delete(server.at("/api/v1/packs/slow?version=2.0.0"))).await?;
    assert_eq!(removed.ok()["removed"], json!(["2.0.0"]));
    assert_eq!(version(&server.call("slow.wait", &wait).await?), "1.1.0");
    server.post("/api/v1/packs/slow.wait/v2", &wait).await?.error("not_found");

    // Removing the pack while a call is in flight: that call finishes, new ones are `not_found`.
    let held = {
        let (server, url) = (server.clone(), gate.url("/gate/remove"));
        tokio::spawn(async move { server.call("slow.wait_for", &json!({ "url": url })).await })
    };
    gate.wait_for_hits("/gate/remove", 1).await?;
    let removal = server.run_cli(["pack", "remove", "slow"]).await?.success()?;
    assert_eq!(removal.json()?["removed"], json!(["1.0.0", "1.1.0"]));
    let message = server.call("slow.wait", &wait).await?.error_message("not_found");
    assert!(message.contains("slow"), "{message}");
    server.call("slow.wait@1.0.0", &wait).await?.error("not_found");
    gate.open_gate("remove");
    assert_eq!(version(&held.await??), "1.1.0");
    assert!(!server.data_dir().join("packs/slow").exists(), "the pack's files are gone");
    Ok(())
}

#[tokio::test]
async fn a_tool_name_collision_over_mcp_refuses_the_load() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(fixture_pack("web-scrape")).await?;

    let web = fixture_pack("web");
    let refused = server.run_cli(["pack".as_ref(), "install".as_ref(), "--yes".as_ref(), web.dir.as_os_str()]).await?;
    assert!(!refused.status.success(), "the colliding pack was installed: {}", refused.stdout);
    assert!(refused.stderr.contains("error[invalid_input]"), "{}", refused.stderr);
    for name in ["web_scrape_spa", "web.scrape_spa", "web_scrape.spa"] {
        assert!(refused.stderr.contains(name), "the refusal names `{name}`: {}", refused.stderr);
    }

    let listing = server.get("/api/v1/packs").await?;
    let names: Vec<&str> =
        listing.ok()["packs"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["web_scrape"]);
    assert!(!server.data_dir().join("packs/web").exists());
    server.call("web.scrape_spa", &json!({ "url": "x" })).await?.error("not_found");
    assert_eq!(server.call("web_scrape.spa", &json!({})).await?.ok()["output"]["pack"], "web_scrape");
    Ok(())
}
