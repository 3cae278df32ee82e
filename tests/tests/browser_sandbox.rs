//! What contains the session browsers, end to end against real Chromium,
//! with the server running as root (as it must for `cmd.run`): browsers run
//! as an unprivileged user of their own with Chromium's sandbox on, nothing
//! a killed server started outlives its restart, and a page that opens
//! windows without end is stopped at the session's cap. Processes are read
//! from `/proc` ([`helmdeck_tests::procs`]), not from the server.

use anyhow::Result;
use helmdeck_tests::browser::{Options, Server};
use helmdeck_tests::procs::{self, Proc};
use helmdeck_tests::site::{BLOCK_RGB, Site};
use helmdeck_tests::wait_until;
use image::GenericImageView;
use serde_json::json;
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

/// The uids `cmd.run` sessions get; browsers must not use them.
const EXEC_UIDS: std::ops::Range<u32> = 0x6865_0000..0x6866_0000;

/// The running browsers' process ids, as the pool reports them.
async fn browser_pids(server: &Server) -> Result<Vec<u32>> {
    let pool = server.browsers().await?;
    Ok(pool["instances"].as_array().into_iter().flatten().filter_map(|p| p.as_str()?.parse().ok()).collect())
}

/// Whether `p` belongs to a browser whose profile lies outside `ours`: the
/// nearest process up its parent chain (itself included) whose command line
/// names a `--user-data-dir` names another server's.
fn another_servers(p: &Proc, all: &[Proc], ours: &str) -> bool {
    let mut at = Some(p);
    for _ in 0..16 {
        let Some(q) = at else { return false };
        if let Some(dir) = q.cmdline.iter().find_map(|a| a.strip_prefix("--user-data-dir=")) {
            return !dir.starts_with(ours);
        }
        at = all.iter().find(|r| r.pid == q.ppid);
    }
    false
}

/// The directory holding the profile of browser `pid`, read from its
/// command line (`--user-data-dir`).
fn profiles_dir(pid: u32) -> Result<std::path::PathBuf> {
    let profile = helmdeck_tests::endpoints::browser_profile(&pid.to_string())?;
    Ok(profile.parent().map(std::path::Path::to_path_buf).unwrap_or(profile))
}

#[tokio::test]
async fn browsers_run_as_an_unprivileged_user_of_their_own_with_chromiums_sandbox_on() -> Result<()> {
    let (server, site) = (Server::start().await?, Site::start().await?);
    let shot = server.call("browser.screenshot_url", json!({ "url": site.url("/block") })).await?;
    let id = shot.output()["artifact"]["id"].as_str().unwrap_or_default().to_owned();
    let png = image::load_from_memory(&server.artifact(&id).await?)?;
    assert_eq!(png.get_pixel(100, 50).0[..3], BLOCK_RGB, "the page still renders");

    let init_ns = Proc::read(1).map(|p| p.user_ns).unwrap_or_default();
    let mut users = BTreeSet::new();
    let pids = browser_pids(&server).await?;
    assert!(!pids.is_empty());
    for pid in &pids {
        let group = procs::group(*pid);
        assert!(group.len() > 1, "browser {pid} leads a group with its helpers: {group:?}");
        for p in &group {
            assert!(
                p.uids.iter().all(|u| *u != 0),
                "process {} of browser {pid} runs as root: {:?} {:?}",
                p.pid,
                p.uids,
                p.cmdline
            );
            assert!(p.uids.iter().all(|u| *u == p.uids[0]), "{:?}", p.uids);
            assert!(!EXEC_UIDS.contains(&p.uids[0]), "browser {pid} runs as a cmd.run session user: {}", p.uids[0]);
            assert!(!p.cmdline.iter().any(|a| a == "--no-sandbox"), "sandbox off for {}: {:?}", p.pid, p.cmdline);
            users.insert(p.uids[0]);
        }
        assert!(
            group.iter().any(|p| p.user_ns != init_ns),
            "no process of browser {pid} is in a user namespace of Chromium's sandbox: {group:?}"
        );
    }
    assert_eq!(users.len(), pids.len(), "each browser has a user of its own: {users:?}");
    let pool = server.browsers().await?;
    assert_eq!(pool["sandbox"]["chromium_sandbox"], true, "{pool}");
    assert!(users.contains(&pool["sandbox"]["users"][0].as_u64().unwrap_or_default().try_into()?), "{pool}");
    // Where the profiles are, as the browsers' own command lines say.
    let profiles = profiles_dir(pids[0])?;
    for profile in std::fs::read_dir(&profiles)?.flatten().filter(|e| e.path().is_dir()) {
        let meta = profile.metadata()?;
        assert!(users.contains(&meta.uid()), "{} is owned by {}", profile.path().display(), meta.uid());
        assert_eq!(meta.mode() & 0o077, 0, "{} is open to other users", profile.path().display());
    }
    Ok(())
}

#[tokio::test]
async fn nothing_a_server_killed_under_load_started_is_running_once_its_restart_is_ready() -> Result<()> {
    let config = vec!["browser_warm = 2".to_owned(), "browser_max = 4".to_owned()];
    let mut server = Server::start_with(Options { config, ..Options::default() }).await?;
    let site = Site::start().await?;
    let old_sid = server.pid();
    assert!(wait_until(|| async { Ok(!browser_pids(&server).await?.is_empty()) }).await?, "a warm browser");
    let browsers_dir = profiles_dir(browser_pids(&server).await?[0])?.display().to_string();
    let snapshot = std::sync::Mutex::new(Vec::<Proc>::new());
    let starved = std::sync::Mutex::new(None);
    let load = async {
        let mut calls = Vec::new();
        for _ in 0..3 {
            let session = server.session().await?;
            let input = json!({ "url": site.url("/block"), "_session_id": session });
            calls.push(server.call("browser.screenshot_url", input));
        }
        for path in ["/hang", "/hang", "/busy", "/busy"] {
            calls.push(server.call("browser.screenshot_url", json!({ "url": site.url(path), "timeout_ms": 60000 })));
        }
        calls.push(server.call("web.content", json!({ "url": site.url("/spa") })));
        let _ = futures::future::join_all(calls).await;
        anyhow::Ok(())
    };
    let kill = async {
        let busy = wait_until(|| async {
            Ok(["/hang", "/busy"].iter().all(|p| site.received().iter().filter(|r| r.uri == *p).count() >= 2))
        });
        assert!(busy.await?, "the load reached the browsers");
        let old: Vec<Proc> = procs::all().into_iter().filter(|p| p.sid == old_sid).collect();
        // On a loaded machine a browser's helpers take seconds to notice that
        // it died and exit: the helpers get almost no CPU from here on.
        let helpers = old.iter().filter(|p| p.cmdline.iter().any(|a| a.starts_with("--type=")));
        starved.lock().unwrap().replace(Starved::start(helpers.map(|p| p.pid))?);
        *snapshot.lock().unwrap() = old;
        signal(old_sid, rustix::process::Signal::KILL);
        anyhow::Ok(())
    };
    let (_, killed) = tokio::join!(load, kill);
    killed?;
    server.kill_hard()?;
    let old: Vec<Proc> = snapshot.into_inner().unwrap();
    let old_pgids: BTreeSet<u32> = old.iter().map(|p| p.pgid).filter(|g| *g != old_sid).collect();
    let old_uids: BTreeSet<u32> = old.iter().map(|p| p.uids[0]).filter(|u| *u != 0).collect();
    assert!(old.len() > 2, "the server had browsers running: {old:?}");

    server.restart().await?;
    let new_sid = server.pid();
    let now = procs::all();
    let left: Vec<Proc> = now
        .iter()
        .filter(|p| p.sid != new_sid)
        .filter(|p| {
            p.sid == old_sid
                || old_pgids.contains(&p.pgid)
                // Browser uids are claimed machine-wide and free again once
                // reaped: another test's server may hold one of them by now.
                || (old_uids.contains(&p.uids[0]) && !another_servers(p, &now, &browsers_dir))
                || p.cmdline.iter().any(|a| a.contains(&browsers_dir))
        })
        .cloned()
        .collect();
    for p in &left {
        signal(p.pid, rustix::process::Signal::KILL);
    }
    drop(starved);
    assert!(left.is_empty(), "the killed server's processes outlived the restart:\n{left:#?}");
    server.call("browser.screenshot_url", json!({ "url": site.url("/block") })).await?.output();
    Ok(())
}

#[tokio::test]
async fn a_page_opening_windows_in_a_loop_is_stopped_at_the_cap_and_other_sessions_keep_working() -> Result<()> {
    let (server, site) = (Server::start().await?, Site::start().await?);
    let other = server.session().await?;
    let shot = json!({ "url": site.url("/block") });
    server.call_in(&other, "browser.screenshot_url", shot.clone()).await?.output();
    let before = browser_pids(&server).await?;

    let bomb = json!({ "url": site.url("/popup-loop"), "actions": [
        { "action": "wait_for", "selector": "#opened", "timeout_ms": 60000 }
    ] });
    let stopped = server.call("browser.interact", bomb).await?;
    assert_eq!(stopped.code(), "resource_exhausted", "{}", stopped.body);
    assert!(stopped.message().contains("windows"), "{}", stopped.message());
    let details = &stopped.body["error"]["details"]["error"];
    assert!(details["message"].as_str().unwrap_or_default().contains("at most"), "{details}");

    server.call_in(&other, "browser.screenshot_url", shot.clone()).await?.output();
    let pool = server.browsers().await?;
    assert_eq!(pool["stats"]["crashes"], 0, "{pool}");
    assert_eq!(browser_pids(&server).await?, before, "the same browser serves on");
    let closed = wait_until(|| async { Ok(server.open_pages().await?.len() <= 4) }).await?;
    assert!(closed, "windows outlived the call: {}", server.open_pages().await?.len());
    Ok(())
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Processes held to 0.2 % of a CPU (a cgroup v1 `cpu` group of their
/// own), as on a machine too busy to run them; released when dropped.
struct Starved {
    dir: std::path::PathBuf,
}

impl Starved {
    fn start(pids: impl Iterator<Item = u32>) -> Result<Starved> {
        let dir = std::path::PathBuf::from(format!("/sys/fs/cgroup/cpu/helmdeck-e2e-starved-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("cpu.cfs_period_us"), "1000000")?;
        std::fs::write(dir.join("cpu.cfs_quota_us"), "2000")?;
        for pid in pids {
            // A helper may have exited meanwhile.
            let _ = std::fs::write(dir.join("cgroup.procs"), pid.to_string());
        }
        Ok(Starved { dir })
    }
}

impl Drop for Starved {
    fn drop(&mut self) {
        let left = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in left.lines() {
            let _ = std::fs::write("/sys/fs/cgroup/cpu/cgroup.procs", pid);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
