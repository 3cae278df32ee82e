//! `http.fetch` through the real binary against an HTTP server on 127.0.0.1:
//! the egress guard lets it through only when 127.0.0.1 is allow-listed,
//! re-checks every redirect hop, and every call and hop is audited.

use helmdeck_tests::{HttpFixture, TestServer, builtin_pack};
use serde_json::json;
use std::net::Ipv4Addr;

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
