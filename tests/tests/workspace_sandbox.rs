//! The session workspace through the real binary: fs paths that lead
//! outside are refused however they are spelled (a symlink planted by a
//! command included), and cmd.run contains a fork bomb and a runaway
//! command, reports it, and leaves the session usable.

use anyhow::Result;
use helmdeck_tests::live_server::{Instance, LiveServer};
use serde_json::{Value, json};

/// A served instance, an agent token (`packs:call`) and a session it opened.
async fn agent_session() -> Result<(Instance, LiveServer, String, String)> {
    let instance = Instance::new(&[])?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let (_, session) = server.send(&agent, reqwest::Method::POST, "/api/v1/sessions", Some(&json!({}))).await?;
    let sid = session["id"].as_str().unwrap().to_owned();
    Ok((instance, server, agent, sid))
}

/// `input` bound to session `sid`.
fn in_session(mut input: Value, sid: &str) -> Value {
    input["_session_id"] = json!(sid);
    input
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes_are_refused_and_runaway_commands_are_contained_and_reported() -> Result<()> {
    let (_instance, server, agent, sid) = agent_session().await?;
    let with = |input: Value| in_session(input, &sid);
    let outside = tempfile::tempdir()?;
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "host-only")?;

    let planted = server
        .call_ok(
            &agent,
            "cmd.run",
            with(json!({ "shell": format!("ln -s {} link && ln -s / root && echo planted", secret.display()) })),
        )
        .await?;
    assert_eq!(planted["stdout"], "planted\n", "{planted}");
    for path in
        ["../secret.txt", "a/../../secret.txt", secret.to_str().unwrap(), "/etc/passwd", "link", "root/etc/passwd"]
    {
        for (tool, input) in [
            ("fs.read", json!({ "path": path })),
            ("fs.write", json!({ "path": path, "content": "overwritten" })),
            ("fs.patch", json!({ "path": path, "search": "host", "replace": "agent" })),
        ] {
            let (status, refused) = server.call(&agent, tool, with(input)).await?;
            assert_eq!(
                (status, refused["error"]["code"].as_str()),
                (403, Some("unauthorized")),
                "{tool} {path}: {refused}"
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&secret)?, "host-only");
    let listed = server.call_ok(&agent, "fs.list", with(json!({}))).await?;
    let kinds: Vec<(&str, &str)> = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("link", "symlink"), ("root", "symlink")], "symlinks are listed, not followed");
    for path in ["root", "root/tmp"] {
        let (status, refused) = server.call(&agent, "git.init", with(json!({ "path": path }))).await?;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("unauthorized")),
            "git.init {path}: {refused}"
        );
        let clone = json!({ "url": "https://git.example.com/team/app.git", "dir": format!("{path}/app") });
        let (status, refused) = server.call(&agent, "repo.fetch", with(clone)).await?;
        assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("unauthorized")), "clone {path}: {refused}");
    }

    let me = server.call_ok(&agent, "cmd.run", with(json!({ "shell": "id -u" }))).await?;
    let uid: u32 = me["stdout"].as_str().unwrap().trim().parse()?;
    assert!(uid >= 0x6865_0000, "commands run as the session's own unprivileged user, not {uid}");
    let bomb = server
        .call_ok(
            &agent,
            "cmd.run",
            with(json!({ "shell": "bomb() { bomb & bomb; }; bomb", "max_processes": 32, "timeout_ms": 3000 })),
        )
        .await?;
    // dash gives up at the process limit ("Cannot fork"); bash retries until the deadline.
    let stderr = bomb["stderr"].as_str().unwrap();
    assert!(stderr.contains("Cannot fork") || stderr.contains("Resource temporarily unavailable"), "{bomb}");
    assert!(bomb["timed_out"] == true || bomb["exit_code"].as_i64().is_some_and(|c| c != 0), "{bomb}");
    assert_eq!(live_processes_of(uid), 0, "nothing of the bomb survives the call");
    let runaway =
        server.call_ok(&agent, "cmd.run", with(json!({ "shell": "while :; do :; done", "timeout_ms": 1000 }))).await?;
    assert_eq!((runaway["timed_out"].as_bool(), runaway["exit_code"].clone()), (Some(true), Value::Null), "{runaway}");

    let after = server.call_ok(&agent, "cmd.run", with(json!({ "shell": "echo still usable" }))).await?;
    assert_eq!((after["exit_code"].as_i64(), after["stdout"].as_str()), (Some(0), Some("still usable\n")));
    let (status, refused) = server.call(&agent, "cmd.run", with(json!({ "program": "sh", "shell": "x" }))).await?;
    assert_eq!(status, 400, "{refused}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_repository_starts_empty_takes_a_first_commit_and_is_made_once() -> Result<()> {
    let (_instance, server, agent, sid) = agent_session().await?;
    let with = |input: Value| in_session(input, &sid);
    let made = server.call_ok(&agent, "git.init", with(json!({ "path": "project" }))).await?;
    assert_eq!((made["path"].as_str(), made["branch"].as_str()), (Some("project"), Some("main")), "{made}");
    let empty = server.call_ok(&agent, "git.log", with(json!({ "path": "project" }))).await?;
    assert_eq!(empty["commits"], json!([]), "a new repository has no history");
    let (status, nothing) =
        server.call(&agent, "git.commit", with(json!({ "path": "project", "message": "x" }))).await?;
    assert_eq!((status, nothing["error"]["code"].as_str()), (400, Some("invalid_input")), "{nothing}");

    server.call_ok(&agent, "fs.write", with(json!({ "path": "project/README.md", "content": "# Project\n" }))).await?;
    let diff = server.call_ok(&agent, "git.diff", with(json!({ "path": "project" }))).await?;
    assert_eq!(diff["files"], json!([{ "path": "README.md", "status": "untracked" }]), "{diff}");
    assert!(diff["diff"].as_str().unwrap().contains("+# Project"), "{diff}");
    let first = server.call_ok(&agent, "git.commit", with(json!({ "path": "project", "message": "Start" }))).await?;
    assert!(first["commit"]["author"].as_str().unwrap().starts_with("agent-ada <"), "{first}");
    let log = server.call_ok(&agent, "git.log", with(json!({ "path": "project" }))).await?;
    assert_eq!(log["commits"].as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(log["commits"][0]["id"], first["commit"]["id"]);
    let workspace_git = server.call_ok(&agent, "cmd.run", with(json!({ "shell": "ls -a project" }))).await?;
    assert!(
        !workspace_git["stdout"].as_str().unwrap().contains(".git"),
        "the git directory stays host-private: {workspace_git}"
    );

    let (status, again) = server.call(&agent, "git.init", with(json!({ "path": "project" }))).await?;
    assert_eq!((status, again["error"]["code"].as_str()), (400, Some("invalid_input")), "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("already a checkout"), "{again}");
    Ok(())
}

/// Live (not zombie) processes owned by `uid`, counted here rather than
/// with the sandbox's own count: the test checks the server from outside.
fn live_processes_of(uid: u32) -> usize {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().metadata().is_ok_and(|m| m.uid() == uid))
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            stat.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z'))
        })
        .count()
}
