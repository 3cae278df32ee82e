//! The session workspace through the real binary: fs paths that lead
//! outside are refused however they are spelled (a symlink planted by a
//! command included), and cmd.run contains a fork bomb and a runaway
//! command, reports it, and leaves the session usable.

use anyhow::Result;
use helmdeck_tests::git_servers::{BareRepo, GitHttpServer};
use helmdeck_tests::live_server::{Instance, LiveServer, credential};
use helmdeck_tests::loopback_http::{Handler, LoopbackHttp, Request, Response};
use helmdeck_tests::wait_until;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_planted_where_git_reads_pins_no_thread_and_every_git_call_answers() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let bare = BareRepo::seeded(scratch.path())?;
    let token = "ghp_F1f0sD0ntH4ngTh3H0st0123456789abc";
    let remote = GitHttpServer::start(scratch.path(), "agent", token)?;
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let body = credential(
        "forge",
        "api_key",
        &["http://127.0.0.1"],
        &["repo"],
        json!({ "token": token, "username": "agent" }),
    );
    assert_eq!(server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?.0, 200);
    let (_, session) = server.send(&agent, reqwest::Method::POST, "/api/v1/sessions", Some(&json!({}))).await?;
    let sid = session["id"].as_str().unwrap().to_owned();
    let with = |input: Value| in_session(input, &sid);
    server.call_ok(&agent, "repo.fetch", with(json!({ "url": remote.url(&bare), "credential": "forge" }))).await?;

    // Files git opens by name (ignore and attribute files, in the root and
    // in a directory it walks, the submodule list), a tracked file, and a
    // symlink that leads to a FIFO.
    let plants = [
        ".gitignore",
        ".gitattributes",
        "newdir/.gitignore",
        "src/.gitattributes",
        ".gitmodules",
        "src/status.txt",
        "link:.gitignore",
    ];
    for plant in plants {
        let shell = match plant.strip_prefix("link:") {
            Some(name) => format!("mkfifo ../pipe && ln -s ../pipe {name}"),
            None => format!("mkdir -p newdir && rm -f {plant} && mkfifo {plant}"),
        };
        let planted = server.call_ok(&agent, "cmd.run", with(json!({ "shell": shell, "cwd": "project" }))).await?;
        assert_eq!(planted["exit_code"], 0, "{plant}: {planted}");
        server.call_ok(&agent, "fs.write", with(json!({ "path": "project/more.txt", "content": plant }))).await?;
        for (tool, input) in [
            ("git.diff", json!({ "path": "project" })),
            ("git.commit", json!({ "path": "project", "message": format!("with {plant}") })),
            ("repo.push", json!({ "path": "project" })),
        ] {
            let (status, answer) = server.call(&agent, tool, with(input)).await?;
            let code = answer["error"]["code"].as_str();
            assert!(
                status == 200 || (status < 500 && code != Some("timeout")),
                "{tool} with a FIFO at `{plant}` answers at once, with a result or a typed error: {status} {answer}"
            );
        }
        let released = wait_until(|| async { Ok(server.threads_pinned_on_fifos() == 0) }).await?;
        assert!(released, "a FIFO at `{plant}` left {} server threads blocked", server.threads_pinned_on_fifos());
        let clear = "rm -rf newdir ../pipe; for f in .gitignore .gitattributes src/.gitattributes .gitmodules \
                     src/status.txt; do if [ -p $f ] || [ -L $f ]; then rm $f; fi; done";
        let cleared = server.call_ok(&agent, "cmd.run", with(json!({ "shell": clear, "cwd": "project" }))).await?;
        assert_eq!(cleared["exit_code"], 0, "{cleared}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_that_block_threads_cannot_starve_the_server_of_audit_writes() -> Result<()> {
    // A git remote that takes connections and never answers.
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Arc::new(std::sync::Mutex::new(held));
    let stall: Handler = std::sync::Arc::new(move |_: &Request| {
        let _ = held.lock().map(|rx| rx.recv());
        Response { status: 500, headers: vec![], body: vec![] }
    });
    let silent = LoopbackHttp::start(stall)?;
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")])?;
    let text = helmdeck_tests::builtin_pack("text").dir.to_str().unwrap().to_owned();
    let out = instance.cli(&["pack", "install", "--yes", &text])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = std::sync::Arc::new(instance.serve()?);
    let (_, session) = server.send(&agent, reqwest::Method::POST, "/api/v1/sessions", Some(&json!({}))).await?;
    let sid = session["id"].as_str().unwrap().to_owned();
    server.call_ok(&agent, "git.init", in_session(json!({ "path": "project" }), &sid)).await?;
    let fifo = json!({ "shell": "mkfifo .gitignore", "cwd": "project" });
    assert_eq!(server.call_ok(&agent, "cmd.run", in_session(fifo, &sid)).await?["exit_code"], 0);

    // More hostile calls than the blocking pool has threads (512), in waves
    // that stay under the engine's instance limit. Each either answers or
    // blocks a thread (on the FIFO, or waiting for the silent remote); once
    // it does, its client hangs up, so the next wave gets instances.
    let (waves, per_wave) = (9, 64);
    for _ in 0..waves {
        let (fifo_base, silent_base) = (server.threads_pinned_on_fifos(), silent.requests().len());
        let calls: Vec<_> = (0..per_wave)
            .map(|i| {
                let (server, agent) = (server.clone(), agent.clone());
                let (tool, input) = if i % 2 == 0 {
                    ("git.diff", in_session(json!({ "path": "project" }), &sid))
                } else {
                    ("repo.fetch", json!({ "url": silent.url("/stalled.git") }))
                };
                tokio::spawn(async move { server.call(&agent, tool, input).await })
            })
            .collect();
        let settled = wait_until(|| async {
            let answered = calls.iter().filter(|c| c.is_finished()).count();
            let blocked = server.threads_pinned_on_fifos().saturating_sub(fifo_base)
                + silent.requests().len().saturating_sub(silent_base);
            Ok(answered + blocked >= per_wave)
        })
        .await?;
        for call in &calls {
            call.abort();
        }
        if !settled {
            break; // the server stopped taking calls: starved already
        }
    }

    let stats = json!({ "text": "still answering" });
    let answered =
        tokio::time::timeout(std::time::Duration::from_secs(60), server.call(&agent, "text.stats", stats)).await;
    let (status, output) =
        answered.map_err(|_| anyhow::anyhow!("text.stats did not answer: the blocking pool is starved"))??;
    assert_eq!(status, 200, "{output}");
    let (status, records) = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        server.send(&admin, reqwest::Method::GET, "/api/v1/audit?limit=5", None),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the audit read did not answer: the blocking pool is starved"))??;
    assert_eq!(status, 200, "{records}");
    let recorded = records["records"].as_array().unwrap().iter().any(|r| r["pack"] == "text" && r["tool"] == "stats");
    assert!(recorded, "the text.stats call was audited: {records}");
    let (status, health) = server.send(&admin, reqwest::Method::GET, "/healthz", None).await?;
    assert_eq!(status, 200, "{health}");
    drop(hold);
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
