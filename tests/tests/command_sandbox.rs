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
