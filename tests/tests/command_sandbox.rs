//! The command sandbox (`cmd.run`) through the real binary, as root, each
//! boundary attacked for real by a session's own commands: what a command
//! can reach (nothing outside its session's workspace), see (no process but
//! its own), take over through the host (nothing, however the workspace
//! hand-over is raced), and leave behind (nothing, even when the
//! server is killed).

use anyhow::{Context, Result};
use helmdeck_tests::server::ServerBuilder;
use helmdeck_tests::{ApiResponse, DataDir, TestServer, builtin_pack, fixture_pack, wait_until};
use serde_json::{Value, json};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A server with the `cmd`, `fs` and `git` packs.
async fn deck(builder: ServerBuilder) -> Result<TestServer> {
    let server = builder.start().await?;
    for pack in ["cmd", "fs", "git"] {
        server.install(builtin_pack(pack)).await?;
    }
    Ok(server)
}

/// A new named session of the admin subject.
async fn open_session(server: &TestServer) -> Result<String> {
    let made = server.post("/api/v1/sessions", &json!({})).await?;
    Ok(made.ok()["id"].as_str().context("a session id")?.to_owned())
}

/// `tool` with `input` in session `sid`.
async fn call_in(server: &TestServer, sid: &str, tool: &str, mut input: Value) -> Result<ApiResponse> {
    input["_session_id"] = json!(sid);
    server.call(tool, &input).await
}

/// `cmd.run` of `shell` in `sid`: the output of a call that must succeed.
async fn run(server: &TestServer, sid: &str, shell: &str) -> Result<Value> {
    Ok(call_in(server, sid, "cmd.run", json!({ "shell": shell })).await?.ok()["output"].clone())
}

/// The command lines of every process on the machine, read from outside.
fn host_command_lines() -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .collect()
}

/// The session directory of `sid` on the host.
fn session_dir(server: &TestServer, sid: &str) -> PathBuf {
    server.data_dir().join("sessions").join(sid)
}

/// Entries under `root` owned by root that another user could read, write
/// or enter (any group or other bit), skipping what commands own (the
/// inside of session workspaces).
fn loose_entries(root: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = path.symlink_metadata() else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.uid() == 0 && meta.mode() & 0o077 != 0 {
            loose.push(format!("{} {:o}", path.display(), meta.mode() & 0o7777));
        }
        let workspace = path.file_name().is_some_and(|n| n == "workspace")
            && path.parent().and_then(Path::parent).is_some_and(|p| p.ends_with("sessions"));
        if meta.is_dir() && !workspace {
            pending.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        }
    }
    loose
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_directory_is_closed_to_every_other_user_on_disk() -> Result<()> {
    let server = deck(TestServer::builder()).await?;
    server.install(fixture_pack("fixture-pack")).await?;
    let sid = open_session(&server).await?;
    run(&server, &sid, "echo hi > note.txt").await?;
    call_in(&server, &sid, "fs.write", json!({ "path": "from-the-host.txt", "content": "x" })).await?.ok();
    let stored = server.call("fixture.png", &json!({ "width": 4, "height": 4 })).await?;
    stored.ok();
    let loose = loose_entries(server.data_dir());
    assert!(loose.is_empty(), "entries another user could open: {loose:#?}");

    // Even with no namespace in the way, another uid reads none of it.
    let data = server.data_dir().to_path_buf();
    let mut secrets: Vec<PathBuf> =
        ["jwt.secret", "vault.key", "url.key", "helmdeck.db"].iter().map(|f| data.join(f)).collect();
    secrets.extend(walk_files(&data.join("artifacts")));
    assert!(secrets.len() > 4, "an artifact blob was stored: {secrets:?}");
    for file in &secrets {
        let read = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(file)
            .output()?;
        assert!(!read.status.success(), "another user read {}", file.display());
    }

    // A data directory left open (by hand, by an older version) is closed again on start.
    let data = server.stop().await?;
    let opened = std::process::Command::new("chmod").arg("-R").arg("go+rwX").arg(data.path()).status()?;
    assert!(opened.success());
    let server = TestServer::builder().data_dir(data).start().await?;
    let loose = loose_entries(server.data_dir());
    assert!(loose.is_empty(), "entries still open after a restart: {loose:#?}");
    Ok(())
}

/// Every regular file under `dir`.
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        match path.symlink_metadata() {
            Ok(meta) if meta.is_dir() => {
                pending.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()))
            }
            Ok(meta) if meta.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

/// Set-up of the swapper: 200 directories `d<k>` (a few entries each, for
/// the hand-over to walk) beside links `d<k>-link` to `target<k>`.
const SWAP_SETUP: &str = r#"use strict;
my ($victim, $private) = @ARGV;
for my $k (0..199) {
    mkdir "d$k" or die; for my $i (1..5) { open my $f, ">", "d$k/f$i" or die; close $f }
    symlink($k % 2 ? $private : $victim, "d$k-link") or die;
}
"#;

/// The swap: every `d<k>` flips with its link, atomically (`renameat2`
/// with `RENAME_EXCHANGE`, x86_64 syscall 316), as fast as perl goes.
const SWAP: &str = r#"use strict;
my @pairs = map { ["d$_", "d$_-link"] } 0..199;
open my $s, ">", "started"; close $s;
while (1) { for my $pair (@pairs) { my ($from, $to) = @$pair; syscall(316, -100, $from, -100, $to, 2) == 0 or die "renameat2: $!" } }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_swapped_for_a_symlink_during_the_hand_over_gives_nothing_away() -> Result<()> {
    let server = deck(TestServer::builder()).await?;
    let sid = open_session(&server).await?;
    call_in(&server, &sid, "git.init", json!({ "path": "project" })).await?.ok();
    let private = session_dir(&server, &sid).join("private");
    // Root's own, outside the data directory.
    let victim = tempfile::tempdir_in("/var/tmp")?;
    // Named as the swapped directories' entries, so a walk by path that
    // meets a link at either step takes the victim's file.
    for i in 1..=5 {
        std::fs::write(victim.path().join(format!("f{i}")), "root's")?;
    }
    std::fs::create_dir(victim.path().join("inner"))?;
    for (name, script) in [("setup.pl", SWAP_SETUP), ("swap.pl", SWAP)] {
        call_in(&server, &sid, "fs.write", json!({ "path": name, "content": script })).await?.ok();
    }
    let setup = format!("perl setup.pl '{}' '{}' && echo ready", victim.path().display(), private.display());
    assert_eq!(run(&server, &sid, &setup).await?["stdout"], "ready\n");

    let started = session_dir(&server, &sid).join("workspace/started");
    for _ in 0..5 {
        let _ = std::fs::remove_file(&started);
        // The swapper runs while another command of the session hands the workspace over.
        let swapping = call_in(&server, &sid, "cmd.run", json!({ "shell": "exec perl swap.pl", "timeout_ms": 3000 }));
        let racing = async {
            assert!(wait_until(|| async { Ok(started.exists()) }).await?, "the swapper started");
            call_in(&server, &sid, "cmd.run", json!({ "shell": "true" })).await
        };
        let (swapped, raced) = tokio::join!(swapping, racing);
        swapped?;
        raced?;
    }
    let mut outside = walk_files(victim.path());
    outside.push(victim.path().join("inner"));
    outside.extend(walk_files(&private));
    outside.push(private.clone());
    assert!(outside.len() > 5, "the targets exist: {outside:?}");
    let taken: Vec<String> = outside
        .iter()
        .filter_map(|p| {
            p.symlink_metadata().ok().filter(|m| m.uid() != 0).map(|m| format!("{} uid {}", p.display(), m.uid()))
        })
        .collect();
    assert!(taken.is_empty(), "the hand-over gave the session what is not its own: {taken:#?}");
    Ok(())
}
