//! `http.fetch` through the real binary against an HTTP server on 127.0.0.1:
//! the egress guard lets it through only when 127.0.0.1 is allow-listed,
//! re-checks every redirect hop, and every call and hop is audited; a name
//! outside a pack's scope is refused before DNS hears of it; and whatever
//! the allowlist says, packs and pages never reach Helmdeck's own
//! listener, its browsers' DevTools or another session's proxy.

use anyhow::{Context, Result};
use helmdeck_tests::dns::DnsRecorder;
use helmdeck_tests::endpoints::{devtools_port, listening_ports};
use helmdeck_tests::{ApiResponse, HttpFixture, TestServer, builtin_pack, wait_until};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

#[tokio::test]
async fn an_allow_listed_loopback_server_is_fetched_and_the_call_is_audited() -> anyhow::Result<()> {
    let site = HttpFixture::builder().page("/hello.html", "text/html", "<h1>hello from the fixture</h1>").start()?;
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    server.install(builtin_pack("http")).await?;

    let answer = server.call("http.fetch", &json!({ "url": site.url("/hello.html") })).await?;
    let body = answer.ok();
    assert_eq!(body["output"]["status"], 200);
    assert_eq!(body["output"]["body"], "<h1>hello from the fixture</h1>");
    assert_eq!(body["output"]["headers"]["content-type"], "text/html");
    assert_eq!(site.hits(), ["GET /hello.html"]);

    let call_id = body["call_id"].as_str().unwrap();
    let records = server.audit(&format!("call_id={call_id}")).await?;
    let api = records.iter().find(|r| r["kind"] == "api").expect("an api record for the call");
    assert_eq!(
        (api["pack"].as_str(), api["tool"].as_str(), api["outcome"].as_str()),
        (Some("http"), Some("fetch"), Some("ok"))
    );
    assert_eq!(api["actor"], "e2e-admin");
    let hop = records.iter().find(|r| r["kind"] == "capability").expect("a capability record for the request");
    assert_eq!(hop["target"], site.url("/hello.html"));
    assert_eq!((hop["decision"].as_str(), hop["outcome"].as_str()), (Some("allow"), Some("ok")));
    Ok(())
}

#[tokio::test]
async fn without_the_allowlist_the_same_fetch_is_egress_denied_and_nothing_is_sent() -> anyhow::Result<()> {
    let site = HttpFixture::builder().page("/hello.html", "text/html", "<h1>hello</h1>").start()?;
    let server = TestServer::start().await?;
    server.install(builtin_pack("http")).await?;

    let answer = server.call("http.fetch", &json!({ "url": site.url("/hello.html") })).await?;
    let message = answer.error_message("egress_denied");
    assert!(message.contains("HELMDECK_EGRESS_ALLOWLIST"), "the denial says how to open the address: {message}");
    assert!(site.hits().is_empty(), "a refused destination is never contacted: {:?}", site.hits());

    let call_id = answer.body["error"]["call_id"].as_str().expect("a failed call still has a call id");
    let records = server.audit(&format!("call_id={call_id}")).await?;
    let hop = records.iter().find(|r| r["kind"] == "capability").expect("the refused request is audited");
    assert_eq!((hop["decision"].as_str(), hop["outcome"].as_str()), (Some("deny"), Some("egress_denied")));
    assert_eq!(hop["target"], site.url("/hello.html"));
    let api = records.iter().find(|r| r["kind"] == "api").expect("the call is audited");
    assert_eq!(api["outcome"], "egress_denied");
    Ok(())
}

#[tokio::test]
async fn a_redirect_from_the_allowed_server_to_a_refused_address_is_refused_and_both_hops_are_audited()
-> anyhow::Result<()> {
    // 127.0.0.2 is loopback like 127.0.0.1 but not on the allowlist: a real
    // server listens there, so a guard that let the hop through would show.
    let refused =
        HttpFixture::builder().ip(Ipv4Addr::new(127, 0, 0, 2)).page("/secret", "text/plain", "secret").start()?;
    let allowed = HttpFixture::start()?;
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1").start().await?;
    server.install(builtin_pack("http")).await?;

    let hop_two = refused.url("/secret");
    let hop_one = format!("{}?to={hop_two}", allowed.url("/redirect"));
    let answer = server.call("http.fetch", &json!({ "url": hop_one })).await?;
    answer.error("egress_denied");
    assert_eq!(allowed.hits(), [format!("GET /redirect?to={hop_two}")]);
    assert!(refused.hits().is_empty(), "the refused hop was contacted: {:?}", refused.hits());

    let call_id = answer.body["error"]["call_id"].as_str().unwrap();
    let mut hops = server.audit(&format!("call_id={call_id}&kind=capability")).await?;
    hops.reverse(); // oldest first
    let seen: Vec<(&str, &str, &str)> = hops
        .iter()
        .map(|h| {
            (
                h["target"].as_str().unwrap_or(""),
                h["decision"].as_str().unwrap_or(""),
                h["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(seen, [(hop_one.as_str(), "allow", "ok"), (hop_two.as_str(), "deny", "egress_denied")]);
    Ok(())
}

/// A copy of built-in pack `name` (manifest and component) in `into`, with
/// `capabilities.<cap>.hosts` set to `hosts`: a pack whose operator
/// narrowed where it may go.
fn scoped_copy(name: &str, cap: &str, hosts: &[&str], into: &Path) -> Result<PathBuf> {
    let source = &builtin_pack(name).dir;
    let dir = into.join(name);
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(source)?.flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
    }
    let path = dir.join("helmdeck-pack.yaml");
    let mut manifest: Value = serde_norway::from_str(&std::fs::read_to_string(&path)?)?;
    manifest["capabilities"][cap]["hosts"] = json!(hosts);
    std::fs::write(&path, serde_norway::to_string(&manifest)?)?;
    Ok(dir)
}

async fn install_dir(server: &TestServer, dir: &Path) -> Result<()> {
    server.run_cli(["pack".as_ref(), "install".as_ref(), "--yes".as_ref(), dir.as_os_str()]).await?.success()?;
    Ok(())
}

#[tokio::test]
async fn a_name_outside_the_packs_scope_is_refused_before_any_dns_lookup() -> Result<()> {
    let site = HttpFixture::builder().page("/hello", "text/plain", "hello").start()?;
    let dns = DnsRecorder::start(&[("api.example.com", Ipv4Addr::LOCALHOST)])?;
    let server = TestServer::builder()
        .env("HELMDECK_EGRESS_ALLOWLIST", "api.example.com")
        .resolv_conf(dns.resolv_conf())
        .start()
        .await?;
    let work = tempfile::tempdir()?;
    install_dir(&server, &scoped_copy("http", "http", &["api.example.com"], work.path())?).await?;
    install_dir(&server, &scoped_copy("repo", "git", &["api.example.com"], work.path())?).await?;
    let in_scope = format!("http://api.example.com:{}", site.addr().port());

    // The server's resolver is the recorder: the name in scope is asked of it.
    let fetched = server.call("http.fetch", &json!({ "url": format!("{in_scope}/hello") })).await?;
    assert_eq!(fetched.ok()["output"]["body"], "hello");
    assert!(dns.was_asked_about("api.example.com"), "the recorder saw no query: {:?}", dns.queried());

    // Outside the scope: directly, as a redirect hop, as a git remote.
    let direct = server.call("http.fetch", &json!({ "url": "http://secret-data.attacker.test/" })).await?;
    assert!(direct.error_message("egress_denied").contains("capabilities.http.hosts"), "{}", direct.text);
    let hop = format!("{in_scope}/redirect?to=http://more-data.attacker.test/");
    server.call("http.fetch", &json!({ "url": hop })).await?.error("egress_denied");
    let clone = server.call("repo.fetch", &json!({ "url": "https://repo-data.attacker.test/x.git" })).await?;
    assert!(clone.error_message("egress_denied").contains("capabilities.git.hosts"), "{}", clone.text);

    assert!(!dns.was_asked_about("attacker.test"), "names outside the scope reached DNS: {:?}", dns.queried());
    assert_eq!(site.hits(), ["GET /hello", "GET /redirect?to=http://more-data.attacker.test/"]);
    let call_id = direct.body["error"]["call_id"].as_str().context("the refused call's id")?;
    let records = server.audit(&format!("call_id={call_id}&kind=capability")).await?;
    assert!(
        records.iter().any(|r| r["target"] == "http://secret-data.attacker.test/" && r["decision"] == "deny"),
        "the refusal is audited: {records:?}"
    );
    Ok(())
}

/// Every endpoint of Helmdeck's own a pack or page could aim at: the API
/// listener (by address and by name), each browser's DevTools, and every
/// session proxy, read from the kernel and Chromium's files.
async fn own_endpoints(server: &TestServer) -> Result<Vec<String>> {
    let api = url_port(server.url())?;
    let mut targets = vec![
        format!("http://127.0.0.1:{api}/healthz"),
        format!("http://127.0.0.1:{api}/api/v1/sessions"),
        format!("http://localhost:{api}/mcp"),
    ];
    let browsers = server.get("/api/v1/browsers").await?;
    for pid in browsers.ok()["instances"].as_array().context("browser instances")? {
        let port = devtools_port(pid.as_str().context("a browser pid")?)?;
        targets.push(format!("http://127.0.0.1:{port}/json/version"));
    }
    let proxies: Vec<u16> = listening_ports(server.pid())?.into_iter().filter(|p| *p != api).collect();
    assert!(!proxies.is_empty(), "the sessions' proxies listen in the server process");
    targets.extend(proxies.iter().map(|port| format!("http://127.0.0.1:{port}/")));
    Ok(targets)
}

fn url_port(url: &str) -> Result<u16> {
    Ok(url.rsplit(':').next().context("a URL with a port")?.trim_end_matches('/').parse()?)
}

#[tokio::test]
#[ignore = "issue 11: the guard's registry of Helmdeck's own endpoints is not written yet; fails today"]
async fn with_loopback_allow_listed_packs_and_pages_still_never_reach_helmdecks_own_endpoints() -> Result<()> {
    let server = TestServer::builder().env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.0/8").start().await?;
    for pack in ["http", "browser", "web"] {
        server.install(builtin_pack(pack)).await?;
    }
    let site = HttpFixture::builder().page("/plain", "text/html", "<p>plain</p>").start()?;
    // Another session, with a browser context and a proxy of its own.
    let other = server.post("/api/v1/sessions", &json!({})).await?;
    let other = other.ok()["id"].as_str().context("session id")?.to_owned();
    let visited = server.call("web.content", &json!({ "url": site.url("/plain"), "_session_id": other })).await?;
    visited.ok();
    let targets = own_endpoints(&server).await?;

    for target in &targets {
        let answer: ApiResponse = server.call("http.fetch", &json!({ "url": target })).await?;
        let message = answer.error_message("egress_denied");
        assert!(message.contains("Helmdeck"), "{target}: the refusal says whose endpoint it is: {message}");
        let call_id = answer.body["error"]["call_id"].as_str().context("call id")?;
        let hops = server.audit(&format!("call_id={call_id}&kind=capability")).await?;
        assert!(hops.iter().any(|h| h["target"] == target.as_str() && h["decision"] == "deny"), "{target}: {hops:?}");
    }

    // From inside Chromium: a page that frames and embeds every one of them.
    let frames: String = targets.iter().map(|t| format!("<iframe src=\"{t}\"></iframe><img src=\"{t}\">")).collect();
    let attack = HttpFixture::builder().page("/attack", "text/html", &format!("<h1>attack</h1>{frames}")).start()?;
    server.call("browser.screenshot_url", &json!({ "url": attack.url("/attack") })).await?.ok();
    let all_refused = wait_until(|| async {
        let records = server.audit("capability=browser.request").await?;
        Ok(targets.iter().all(|t| records.iter().any(|r| r["target"] == t.as_str() && r["decision"] == "deny")))
    })
    .await?;
    let records = server.audit("capability=browser.request").await?;
    let reached: Vec<&Value> =
        records.iter().filter(|r| targets.iter().any(|t| r["target"] == t.as_str()) && r["outcome"] == "ok").collect();
    assert!(reached.is_empty(), "the page reached Helmdeck's own endpoints: {reached:?}");
    assert!(all_refused, "every request of the page is refused and audited: {records:?}");
    Ok(())
}
