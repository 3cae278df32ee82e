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

#[tokio::test(flavor = "multi_thread")]
async fn a_command_reaches_nothing_outside_its_own_workspace() -> Result<()> {
    // Where an operator's data directory is: not under /tmp, which the sandbox has always covered.
    let server = deck(TestServer::builder().data_dir(DataDir::new_in(Path::new("/var/tmp"))?)).await?;
    let (mine, theirs) = (open_session(&server).await?, open_session(&server).await?);
    call_in(&server, &theirs, "fs.write", json!({ "path": "secret.txt", "content": "theirs only" })).await?.ok();
    call_in(&server, &theirs, "git.init", json!({ "path": "project" })).await?.ok();
    let data = server.data_dir().to_path_buf();
    let their_dir = session_dir(&server, &theirs);

    let plant = format!(
        "ln -s {} hop && ln -s ../../{theirs}/workspace hop-up && ln -s / root && mkdir -p real/inner && \
         ln -s real/inner inside && echo planted",
        their_dir.join("workspace").display()
    );
    assert_eq!(run(&server, &mine, &plant).await?["stdout"], "planted\n");
    for cwd in ["hop", "hop-up", "root", "root/etc"] {
        let answer = call_in(&server, &mine, "cmd.run", json!({ "shell": "cat secret.txt; pwd", "cwd": cwd })).await?;
        let message = answer.error_message("unauthorized");
        assert!(message.contains("`cwd`"), "the refusal names `cwd` ({cwd}): {message}");
    }
    let inside = call_in(&server, &mine, "cmd.run", json!({ "shell": "pwd -P", "cwd": "inside" })).await?;
    assert_eq!(inside.ok()["output"]["stdout"], "/tmp/workspace/real/inner\n", "a link that stays inside is fine");

    let server_pid = server.pid();
    let d = data.display();
    let targets = [
        format!("{d}/jwt.secret"),
        format!("{d}/vault.key"),
        format!("{d}/url.key"),
        format!("{d}/helmdeck.db"),
        format!("{d}/artifacts"),
        format!("{d}/sessions"),
        format!("{}/workspace/secret.txt", their_dir.display()),
        format!("{}/private/git", their_dir.display()),
        format!("/proc/1/root{d}/jwt.secret"),
        format!("/proc/{server_pid}/root{d}/jwt.secret"),
        format!("/proc/{server_pid}/cwd/jwt.secret"),
    ];
    let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let probe = format!(
        "for p in {}; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then echo \"seen $p\"; fi; done; ls -A /",
        quoted.join(" ")
    );
    let out = run(&server, &mine, &probe).await?;
    let (seen, mut root): (Vec<&str>, Vec<&str>) =
        out["stdout"].as_str().unwrap_or_default().lines().partition(|line| line.starts_with("seen "));
    assert!(seen.is_empty(), "the command reached what is not its own: {seen:?}");
    let mut expected = vec!["dev", "etc", "proc", "tmp", "usr", "var"];
    expected
        .extend(["bin", "lib", "lib32", "lib64", "libx32", "sbin"].iter().filter(|n| Path::new("/").join(n).exists()));
    expected.sort_unstable();
    root.sort_unstable();
    assert_eq!(root, expected, "the command's root holds the system's tools, its /tmp and nothing else");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_sees_no_process_but_its_own() -> Result<()> {
    let server = deck(TestServer::builder()).await?;
    let (mine, theirs) = (open_session(&server).await?, open_session(&server).await?);
    let marker = "marker-of-another-session";
    // Another session's command, with a command line worth reading, runs until it is told to stop.
    let theirs_runs = call_in(
        &server,
        &theirs,
        "cmd.run",
        json!({ "shell": format!("while [ ! -e stop ]; do sleep 0.05; done # {marker}"), "timeout_ms": 60000 }),
    );
    let look = async {
        let visible = wait_until(|| async { Ok(host_command_lines().iter().any(|c| c.contains(marker))) }).await?;
        assert!(visible, "the other session's command started");
        let probe = format!(
            "for d in /proc/[0-9]*; do printf '%s: ' \"${{d#/proc/}}\"; tr '\\0' ' ' < $d/cmdline; echo; done; \
             kill -0 {} 2>/dev/null && echo server' 'signalled; cat /proc/1/environ > /dev/null 2>&1 && echo environ' 'read",
            server.pid()
        );
        let out = run(&server, &mine, &probe).await;
        call_in(&server, &theirs, "fs.write", json!({ "path": "stop", "content": "" })).await?.ok();
        out
    };
    let (theirs_ended, seen) = tokio::join!(theirs_runs, look);
    assert_eq!(theirs_ended?.ok()["output"]["exit_code"], 0);
    let seen = seen?;
    // (The probe's own command line spells its two verdicts with quotes inside, so only an echo prints them.)
    let listing = seen["stdout"].as_str().unwrap_or_default();
    for leak in [marker, "helmdeck", "--data-dir", "server signalled", "environ read"] {
        assert!(!listing.contains(leak), "a command saw `{leak}`:\n{listing}");
    }
    Ok(())
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

#[tokio::test(flavor = "multi_thread")]
async fn nothing_a_killed_server_started_runs_on_after_a_restart() -> Result<()> {
    let server = deck(TestServer::builder()).await?;
    let sid = open_session(&server).await?;
    // Detached every way a command can: its own session, a double fork, the foreground.
    let shell = "setsid sleep 4242.25 & (sleep 4242.5 &); sleep 4242.75";
    let request = server
        .client()
        .post(server.at("/api/v1/packs/cmd.run"))
        .json(&json!({ "shell": shell, "timeout_ms": 600000, "_session_id": sid }));
    let in_flight = tokio::spawn(request.send());
    let sleeps = || host_command_lines().into_iter().filter(|c| c.starts_with("sleep 4242.")).collect::<Vec<_>>();
    assert!(wait_until(|| async { Ok(sleeps().len() == 3) }).await?, "the command started: {:?}", sleeps());

    let data = server.kill()?;
    let _ = in_flight.await;
    let server = TestServer::builder().data_dir(data).start().await?;
    assert_eq!(sleeps(), Vec::<String>::new(), "the old server's commands were still running once the new one was up");
    let sessions = server.data_dir().join("sessions");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(sessions.to_str().unwrap_or("-"))).collect();
    assert!(left.is_empty(), "the old sessions' workspaces are unmounted: {left:#?}");
    Ok(())
}
