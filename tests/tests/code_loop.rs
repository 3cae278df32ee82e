//! The code-edit loop through the real binary against real git remotes on
//! 127.0.0.1: repo.fetch → fs.list → fs.read → fs.patch → cmd.run (the
//! repository's own test script) → git.commit → repo.push, with the
//! credential only in the vault. The secret is then searched for in every
//! response, audit record, log line and file of the data directory.

use anyhow::Result;
use helmdeck_tests::git_servers::{BareRepo, GitHttpServer, KeyPair, SshServer, hostile_gitmodules};
use helmdeck_tests::live_server::{Instance, LiveServer, credential, find_secret, read_tree};
use helmdeck_tests::loopback_http::{Handler, LoopbackHttp, Request, Response};
use helmdeck_tests::rebinding_dns::RebindingDns;
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

/// The private git directory of the only checkout in session `sid`.
fn git_dir_of(instance: &Instance, sid: &str) -> Result<std::path::PathBuf> {
    let dirs: Vec<_> = std::fs::read_dir(instance.data.path().join("sessions").join(sid).join("private/git"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "git"))
        .collect();
    assert_eq!(dirs.len(), 1, "one checkout: {dirs:?}");
    Ok(dirs[0].clone())
}

/// `git config --file <git_dir>/config args…`, as a compromised session
/// would rewrite it.
fn rewrite_config(git_dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(git_dir.join("config"))
        .args(args)
        .output()?;
    anyhow::ensure!(out.status.success(), "git config {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_goes_only_to_the_remote_the_checkout_was_cloned_from() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let (origin_root, decoy_root) = (scratch.path().join("origin"), scratch.path().join("decoy"));
    std::fs::create_dir_all(&origin_root)?;
    std::fs::create_dir_all(&decoy_root)?;
    let bare = BareRepo::seeded(&origin_root)?;
    let decoy_bare = BareRepo::seeded(&decoy_root)?;
    let token = "ghp_D3coyN0tForY0u5ecretT0ken0123456789";
    let remote = GitHttpServer::start(&origin_root, "agent", token)?;
    // A real git server on another port of the same host: the credential's
    // host pattern (`127.0.0.1`) fits it, so only the recorded remote stops it.
    let decoy = GitHttpServer::start(&decoy_root, "agent", token)?;
    let (instance, server, admin, agent) = start().await?;
    let body = credential(
        "forge",
        "api_key",
        &["http://127.0.0.1"],
        &["repo"],
        json!({ "token": token, "username": "agent" }),
    );
    assert_eq!(server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?.0, 200);
    let (url, decoy_url) = (remote.url(&bare), decoy.url(&decoy_bare));
    let decoy_head = decoy_bare.git(&["rev-parse", "main"])?;

    // Each way a session that got write access to its private git directory
    // could name another destination; `None` when the tamper leaves git's
    // own configuration alone.
    let origin_record = json!({ "url": decoy_url, "credential": "forge" }).to_string();
    let tampers: [(&str, Option<Vec<String>>); 5] = [
        ("the recorded origin file", None),
        ("remote.origin.url", Some(vec!["remote.origin.url".into(), decoy_url.clone()])),
        ("remote.origin.pushurl", Some(vec!["remote.origin.pushurl".into(), decoy_url.clone()])),
        ("url.<decoy>.pushInsteadOf", Some(vec![format!("url.{decoy_url}.pushInsteadOf"), url.clone()])),
        ("url.<decoy>.insteadOf", Some(vec![format!("url.{decoy_url}.insteadOf"), url.clone()])),
    ];
    for (what, config) in tampers {
        let (_, session) = server.send(&agent, reqwest::Method::POST, "/api/v1/sessions", Some(&json!({}))).await?;
        let sid = session["id"].as_str().unwrap().to_owned();
        let with = |mut input: Value| {
            input["_session_id"] = json!(sid);
            input
        };
        server.call_ok(&agent, "repo.fetch", with(json!({ "url": url, "credential": "forge" }))).await?;
        let note = format!("project/{}.md", what.replace(['<', '>', '.', ' '], "-"));
        server.call_ok(&agent, "fs.write", with(json!({ "path": note, "content": "change\n" }))).await?;
        let committed =
            server.call_ok(&agent, "git.commit", with(json!({ "path": "project", "message": what }))).await?;
        let git_dir = git_dir_of(&instance, &sid)?;
        // Wherever the host keeps the clone's address on disk, it now names the decoy.
        for record in std::fs::read_dir(&git_dir)?.flatten().filter(|e| e.file_name() == "helmdeck-origin.json") {
            std::fs::write(record.path(), &origin_record)?;
        }
        if let Some(args) = &config {
            rewrite_config(&git_dir, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
        }

        let (status, pushed) = server.call(&agent, "repo.push", with(json!({ "path": "project" }))).await?;
        assert!(decoy.requests().is_empty(), "{what}: the decoy remote was contacted ({pushed})");
        assert_eq!(decoy_bare.git(&["rev-parse", "main"])?, decoy_head, "{what}: the decoy received a push");
        if config.is_some() {
            // git's own configuration of the checkout changed since the clone.
            assert_eq!((status, pushed["error"]["code"].as_str()), (403, Some("unauthorized")), "{what}: {pushed}");
        } else {
            // A file in the git directory does not decide: the host's own record does.
            assert_eq!(status, 200, "{what}: {pushed}");
            assert_eq!(bare.git(&["rev-parse", "main"])?, committed["commit"]["id"].as_str().unwrap(), "{what}");
        }
    }
    Ok(())
}

/// A listener on 127.0.0.2 (not allow-listed) that asks for credentials,
/// as a server an attacker points git at would; it records every request.
fn forbidden_listener(port: u16) -> Result<LoopbackHttp> {
    let lure: Handler = std::sync::Arc::new(|_: &Request| Response {
        status: 401,
        headers: vec![("WWW-Authenticate".into(), "Basic realm=\"git\"".into())],
        body: b"credentials, please\n".to_vec(),
    });
    LoopbackHttp::start_on(std::net::SocketAddr::from(([127, 0, 0, 2], port)), lure)
}

/// A served instance whose system resolver asks `dns`, an admin token, an
/// agent token, and a `forge` credential for `127.0.0.1` and `host`.
async fn serve_resolving(dns: &RebindingDns, host: &str, token: &str) -> Result<(Instance, LiveServer, String)> {
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token(AGENT, "packs:read,packs:call")?;
    let server = instance.serve_with_resolv_conf(dns.resolv_conf())?;
    let body = credential(
        "forge",
        "api_key",
        &[&format!("http://{host}"), "http://127.0.0.1"],
        &["repo"],
        json!({ "token": token, "username": "agent" }),
    );
    assert_eq!(server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?.0, 200);
    Ok((instance, server, agent))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "known gap: libgit2's HTTP transport resolves the name again; needs a smart subtransport on the guarded client"]
async fn git_over_http_connects_only_to_the_address_the_guard_vetted() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let _bare = BareRepo::seeded(scratch.path())?;
    let token = "glpat-R3b1ndM3IfY0uCan0123456789abc";
    let remote = GitHttpServer::start(scratch.path(), "agent", token)?;
    // Same port on 127.0.0.2: where a second lookup of the name would send git.
    let rebound = forbidden_listener(remote.port())?;
    let dns = RebindingDns::start("forge.rebind.test", "127.0.0.1".parse()?, "127.0.0.2".parse()?)?;
    let (_instance, server, agent) = serve_resolving(&dns, "forge.rebind.test", token).await?;

    let rebinding = format!("http://forge.rebind.test:{}/project.git", remote.port());
    let (status, refused) =
        server.call(&agent, "repo.fetch", json!({ "url": rebinding, "credential": "forge" })).await?;
    assert!(dns.a_queries() >= 1, "the server resolved the name through the test's name server");
    assert!(rebound.requests().is_empty(), "git connected to an address the guard never vetted: {refused}");
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("egress_denied")), "{refused}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn git_over_http_follows_no_redirect_the_guard_did_not_vet() -> Result<()> {
    let elsewhere = forbidden_listener(0)?;
    let moved_to = elsewhere.url("");
    let redirect: Handler = std::sync::Arc::new(move |req: &Request| {
        let query = if req.query.is_empty() { String::new() } else { format!("?{}", req.query) };
        Response {
            status: 302,
            headers: vec![("Location".into(), format!("{moved_to}{}{query}", req.path))],
            body: vec![],
        }
    });
    let redirector = LoopbackHttp::start(redirect)?;
    let dns = RebindingDns::start("forge.rebind.test", "127.0.0.1".parse()?, "127.0.0.1".parse()?)?;
    let (_instance, server, agent) =
        serve_resolving(&dns, "forge.rebind.test", "glpat-N0tF0rTh3R3d1r3ct0123456789").await?;

    let redirected = redirector.url("/project.git");
    let (status, refused) =
        server.call(&agent, "repo.fetch", json!({ "url": redirected, "credential": "forge" })).await?;
    assert!(elsewhere.requests().is_empty(), "git followed a redirect the guard did not vet: {refused}");
    assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("egress_denied")), "{refused}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_submodules_are_ignored_and_run_nothing() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    let bare = BareRepo::seeded(scratch.path())?;
    let marker = scratch.path().join("a-command-ran");
    bare.add_submodules(scratch.path(), &hostile_gitmodules(&marker), &["run", "ext", "local"])?;
    let token = "ghp_Subm0dul3sAreN0tF0ll0wed0123456789";
    let remote = GitHttpServer::start(scratch.path(), "agent", token)?;
    let (instance, server, admin, agent) = start().await?;
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
    let with = |mut input: Value| {
        input["_session_id"] = json!(sid);
        input
    };

    let fetched =
        server.call_ok(&agent, "repo.fetch", with(json!({ "url": remote.url(&bare), "credential": "forge" }))).await?;
    assert_eq!(fetched["head"].as_str().unwrap(), bare.git(&["rev-parse", "main"])?);
    let steps = [
        ("git.diff", json!({ "path": "project" })),
        ("fs.write", json!({ "path": "project/CHANGE.md", "content": "x\n" })),
        ("git.commit", json!({ "path": "project", "message": "Change" })),
        ("git.log", json!({ "path": "project" })),
        ("repo.push", json!({ "path": "project" })),
    ];
    for (tool, input) in steps {
        let (status, answer) = server.call(&agent, tool, with(input)).await?;
        assert_eq!(status, 200, "{tool} on a repository with hostile submodules: {answer}");
    }
    assert!(bare.git(&["show", "main:CHANGE.md"]).is_ok(), "the push landed");
    let workspace = instance.data.path().join("sessions").join(&sid).join("workspace");
    for path in ["run", "ext", "local"] {
        let fetched = std::fs::read_dir(workspace.join("project").join(path)).map_or(0, |d| d.count());
        assert_eq!(fetched, 0, "submodule `{path}` was fetched");
    }
    assert!(!workspace.join("../outside").exists(), "nothing was written outside the working tree");
    assert!(!marker.exists(), "a command named by .gitmodules ran");
    Ok(())
}
