//! The code-edit loop through the real binary against real git remotes on
//! 127.0.0.1: repo.fetch → fs.list → fs.read → fs.patch → cmd.run (the
//! repository's own test script) → git.commit → repo.push, with the
//! credential only in the vault. The secret is then searched for in every
//! response, audit record, log line and file of the data directory.

use anyhow::Result;
use helmdeck_tests::git_servers::{BareRepo, GitHttpServer, KeyPair, SshServer};
use helmdeck_tests::live_server::{Instance, LiveServer, credential, find_secret, read_tree};
use serde_json::{Value, json};

const AGENT: &str = "agent-ada";

/// A server with the packs, an admin token and an agent token.
async fn start() -> Result<(Instance, LiveServer, String, String)> {
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1"), ("HELMDECK_LOG", "debug")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token(AGENT, "packs:read,packs:call")?;
    let server = instance.serve()?;
    Ok((instance, server, admin, agent))
}

/// The whole loop on `url` with vault credential `name`; returns the session id.
async fn edit_loop(server: &LiveServer, agent: &str, url: &str, name: &str, bare: &BareRepo) -> Result<String> {
    let (status, session) = server.send(agent, reqwest::Method::POST, "/api/v1/sessions", Some(&json!({}))).await?;
    assert_eq!(status, 200, "{session}");
    let sid = session["id"].as_str().unwrap().to_owned();
    let with = |mut input: Value| {
        input["_session_id"] = json!(sid);
        input
    };
    let fetched = server.call_ok(agent, "repo.fetch", with(json!({ "url": url, "credential": name }))).await?;
    assert_eq!((fetched["path"].as_str(), fetched["branch"].as_str()), (Some("project"), Some("main")));
    assert_eq!(fetched["head"].as_str().unwrap(), bare.git(&["rev-parse", "main"])?);
    assert!(fetched["readme"]["excerpt"].as_str().unwrap().contains("run-tests.sh"), "{fetched}");
    assert!(fetched["entry_points"].as_array().unwrap().contains(&json!("run-tests.sh")), "{fetched}");

    let listed = server.call_ok(agent, "fs.list", with(json!({ "path": "project", "recursive": true }))).await?;
    let paths: Vec<&str> = listed["entries"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(paths.contains(&"project/src/status.txt") && !paths.iter().any(|p| p.contains(".git")), "{paths:?}");

    let read = server.call_ok(agent, "fs.read", with(json!({ "path": "project/src/status.txt" }))).await?;
    assert_eq!(read["content"], "status: broken\n");

    let failing =
        server.call_ok(agent, "cmd.run", with(json!({ "shell": "sh run-tests.sh", "cwd": "project" }))).await?;
    assert_eq!(failing["exit_code"], 1, "a failing test run is a normal result: {failing}");

    let patched = server
        .call_ok(
            agent,
            "fs.patch",
            with(json!({ "path": "project/src/status.txt", "search": "broken", "replace": "fixed" })),
        )
        .await?;
    assert_eq!(patched["replacements"], 1);

    let passing =
        server.call_ok(agent, "cmd.run", with(json!({ "shell": "sh run-tests.sh", "cwd": "project" }))).await?;
    assert_eq!((passing["exit_code"].as_i64(), passing["stdout"].as_str()), (Some(0), Some("all tests passed\n")));

    let diff = server.call_ok(agent, "git.diff", with(json!({ "path": "project" }))).await?;
    assert!(diff["diff"].as_str().unwrap().contains("+status: fixed"), "{diff}");
    let committed =
        server.call_ok(agent, "git.commit", with(json!({ "path": "project", "message": "Fix the status" }))).await?;
    assert!(committed["commit"]["author"].as_str().unwrap().starts_with(AGENT), "{committed}");
    let (status, again) =
        server.call(agent, "git.commit", with(json!({ "path": "project", "message": "Again" }))).await?;
    assert_eq!((status, again["error"]["code"].as_str()), (400, Some("invalid_input")), "{again}");

    let pushed = server.call_ok(agent, "repo.push", with(json!({ "path": "project" }))).await?;
    assert_eq!(pushed["head"], committed["commit"]["id"]);
    assert_eq!(
        bare.git(&["log", "-1", "--format=%s|%an|%cn", "main"])?,
        format!("Fix the status|{AGENT}|helmdeck-agent")
    );
    assert_eq!(bare.git(&["show", "main:src/status.txt"])?, "status: fixed");
    Ok(sid)
}

/// The secret's distinctive pieces appear nowhere: responses, audit, log,
/// data directory; the audit names the credential `name` the clone used.
async fn assert_never_leaked(
    instance: &Instance,
    server: &LiveServer,
    admin: &str,
    name: &str,
    pieces: &[String],
) -> Result<()> {
    let records = server.audit(admin).await?;
    let clone = records.iter().find(|r| r["capability"] == "git.clone" && r["outcome"] == "ok");
    assert_eq!(clone.map(|r| &r["details"]["name"]), Some(&json!(name)), "the clone's record names its credential");
    let audit = serde_json::to_string(&records)?;
    assert!(audit.contains("git.push") && audit.contains("exec.run"), "the loop was audited");
    let transcript = server.transcript().join("\n");
    let log = server.log();
    assert!(log.contains("helmdeck"), "the server logged");
    for piece in pieces {
        for (what, text) in [("a response", &transcript), ("the audit log", &audit), ("the server log", &log)] {
            assert!(find_secret(text.as_bytes(), piece.as_bytes()).is_none(), "the secret appears in {what}");
        }
        for (path, bytes) in read_tree(instance.data.path()) {
            assert!(find_secret(&bytes, piece.as_bytes()).is_none(), "the secret appears in {}", path.display());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edit_loop_over_ssh_pushes_with_a_key_only_the_vault_holds() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let bare = BareRepo::seeded(scratch.path())?;
    let key = KeyPair::generate(scratch.path(), "deploy")?;
    let sshd = SshServer::start(&key.public)?;
    let (instance, server, admin, agent) = start().await?;
    let added = server
        .send(
            &admin,
            reqwest::Method::POST,
            "/api/v1/vault/credentials",
            Some(&credential(
                "deploy",
                "ssh_key",
                &["127.0.0.1"],
                &["repo"],
                json!({ "private_key": key.private, "host_key": sshd.host_key }),
            )),
        )
        .await?;
    assert_eq!(added.0, 200, "{}", added.1);
    assert_eq!(added.1["hint"], "ssh key (begin openssh private key)");
    std::fs::remove_file(scratch.path().join("deploy"))?;
    let other = credential("elsewhere", "api_key", &["*"], &["http"], json!({ "token": "not-for-repo-0123456789" }));
    assert_eq!(server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&other)).await?.0, 200);
    let usable = server.call_ok(&agent, "repo.credentials", json!({})).await?;
    let names: Vec<&str> =
        usable["credentials"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["deploy"], "only credentials whose ACL names the pack: {usable}");

    edit_loop(&server, &agent, &sshd.url(&bare), "deploy", &bare).await?;

    // The key's body lines are what would show if it leaked in any form.
    let pieces: Vec<String> =
        key.private.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16).map(str::to_owned).collect();
    assert!(!pieces.is_empty());
    assert_never_leaked(&instance, &server, &admin, "deploy", &pieces).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edit_loop_over_smart_http_pushes_with_a_token_only_the_vault_holds() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let bare = BareRepo::seeded(scratch.path())?;
    let token = "ghp_7fQ2mZ9xLw4KpR8vT1nB6cY3dH5sJ0aE";
    let remote = GitHttpServer::start(scratch.path(), "agent", token)?;
    let (instance, server, admin, agent) = start().await?;
    let body = credential(
        "forge",
        "api_key",
        &["http://127.0.0.1"],
        &["repo"],
        json!({ "token": token, "username": "agent" }),
    );
    let (status, added) = server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?;
    assert_eq!((status, added["hint"].as_str()), (200, Some("token …J0aE")), "{added}");

    edit_loop(&server, &agent, &remote.url(&bare), "forge", &bare).await?;
    assert!(remote.requests().iter().any(|r| r.path.ends_with("git-receive-pack")), "the push went over HTTP");

    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("agent:{token}"));
    assert_never_leaked(&instance, &server, &admin, "forge", &[token.to_owned(), basic]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_push_names_the_ref_and_a_wrong_key_fails_authentication() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let bare = BareRepo::seeded(scratch.path())?;
    let key = KeyPair::generate(scratch.path(), "deploy")?;
    let stranger = KeyPair::generate(scratch.path(), "stranger")?;
    let sshd = SshServer::start(&key.public)?;
    let (_instance, server, admin, agent) = start().await?;
    for (name, private) in [("deploy", &key.private), ("stranger", &stranger.private)] {
        let body = credential(
            name,
            "ssh_key",
            &["127.0.0.1"],
            &["repo"],
            json!({ "private_key": private, "host_key": sshd.host_key }),
        );
        assert_eq!(server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?.0, 200);
    }
    let url = sshd.url(&bare);
    let (status, refused) = server.call(&agent, "repo.fetch", json!({ "url": url, "credential": "stranger" })).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (401, Some("auth_failed")), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("refused credential `stranger`"), "{refused}");

    let (_, session) = server.send(&agent, reqwest::Method::POST, "/api/v1/sessions", Some(&json!({}))).await?;
    let sid = session["id"].as_str().unwrap();
    server.call_ok(&agent, "repo.fetch", json!({ "url": url, "credential": "deploy", "_session_id": sid })).await?;
    server
        .call_ok(&agent, "fs.write", json!({ "path": "project/NEW.md", "content": "mine\n", "_session_id": sid }))
        .await?;
    server.call_ok(&agent, "git.commit", json!({ "path": "project", "message": "Mine", "_session_id": sid })).await?;
    bare.advance(scratch.path())?;
    let (status, rejected) = server.call(&agent, "repo.push", json!({ "path": "project", "_session_id": sid })).await?;
    assert_eq!((status, rejected["error"]["code"].as_str()), (422, Some("schema_mismatch")), "{rejected}");
    assert_eq!(rejected["error"]["details"]["ref"], "refs/heads/main", "{rejected}");

    let (status, denied) = server
        .call(&agent, "repo.fetch", json!({ "url": format!("ssh://root@[::1]:{}/x.git", 22), "credential": "deploy" }))
        .await?;
    assert_eq!((status, denied["error"]["code"].as_str()), (403, Some("egress_denied")), "{denied}");
    Ok(())
}
