//! Authentication and authorization of `/api/v1` through the real binary:
//! a missing, invalid or expired token gets 401 in the error shape; a valid
//! token lacking the scope gets 403 `unauthorized`; `/healthz` stays open.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use helmdeck_tests::server::client_with_token;
use helmdeck_tests::{DataDir, Helmdeck, TestServer, builtin_pack, fixture_pack};
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `exp` claim (seconds since the epoch) of a JWT.
fn expiry(token: &str) -> u64 {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["exp"].as_u64().expect("an exp claim")
}

#[tokio::test]
async fn missing_invalid_foreign_and_expired_tokens_get_401_in_the_error_shape() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let anonymous = reqwest::Client::builder().no_proxy().build()?;

    let health = anonymous.get(server.at("/healthz")).send().await?;
    assert_eq!(health.status(), 200, "/healthz needs no token");

    let missing = anonymous.get(server.at("/api/v1/packs")).send().await?;
    assert_eq!(missing.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    let message = server.send(anonymous.get(server.at("/api/v1/packs"))).await?.error_message("auth_failed");
    assert!(message.contains("helmdeck token issue"), "{message}");
    server.send(anonymous.post(server.at("/api/v1/packs/http.fetch")).json(&json!({}))).await?.error("auth_failed");

    let garbage = client_with_token("not-a-jwt")?;
    server.send(garbage.get(server.at("/api/v1/packs"))).await?.error("auth_failed");

    // A real token, from another Helmdeck's secret.
    let other = DataDir::new()?;
    let foreign = Helmdeck::new(other.path(), &[]).issue_token("intruder", &["admin"], "1h").await?;
    let message =
        server.send(client_with_token(&foreign)?.get(server.at("/api/v1/packs"))).await?.error_message("auth_failed");
    assert!(message.contains("not signed by this Helmdeck"), "{message}");

    let short_lived = server.issue_token("brief", &["packs:read"], "1s").await?;
    let client = client_with_token(&short_lived)?;
    server.send(client.get(server.at("/api/v1/packs"))).await?.ok();
    let exp = UNIX_EPOCH + Duration::from_secs(expiry(&short_lived) + 1);
    if let Ok(wait) = exp.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let message = server.send(client.get(server.at("/api/v1/packs"))).await?.error_message("auth_failed");
    assert!(message.contains("expired"), "{message}");

    let denials = server.audit("outcome=auth_failed").await?;
    assert_eq!(denials.len(), 6, "every refused request is audited: {denials:#?}");
    assert!(denials.iter().all(|r| r["decision"] == "deny"));
    assert!(denials.iter().filter(|r| r["actor"] == "anonymous").count() == 6);
    Ok(())
}

#[tokio::test]
async fn a_token_without_the_needed_scope_gets_403_unauthorized() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(fixture_pack("slow-1.0")).await?;
    let agent = client_with_token(&server.issue_token("agent", &[], "1h").await?)?;
    let reader = client_with_token(&server.issue_token("reader", &["packs:read"], "1h").await?)?;

    // The default scopes (read, call, audit) do not include admin.
    let http = builtin_pack("http");
    let install = json!({
        "manifest": std::fs::read_to_string(http.dir.join("helmdeck-pack.yaml"))?,
        "component_base64": base64::engine::general_purpose::STANDARD.encode(std::fs::read(http.component())?),
        "grants": ["http"],
    });
    let message =
        server.send(agent.post(server.at("/api/v1/packs")).json(&install)).await?.error_message("unauthorized");
    assert!(message.contains("admin"), "the refusal names the missing scope: {message}");
    server.send(agent.delete(server.at("/api/v1/packs/slow"))).await?.error("unauthorized");
    server.send(agent.post(server.at("/api/v1/packs/slow.wait")).json(&json!({ "ms": 0 }))).await?.ok();

    server
        .send(reader.post(server.at("/api/v1/packs/slow.wait")).json(&json!({ "ms": 0 })))
        .await?
        .error("unauthorized");
    server.send(reader.get(server.at("/api/v1/audit"))).await?.error("unauthorized");
    server.send(reader.get(server.at("/api/v1/packs/slow"))).await?.ok();

    let listing = server.get("/api/v1/packs").await?;
    let names: Vec<&str> =
        listing.ok()["packs"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["slow"], "nothing was installed or removed");
    Ok(())
}

#[tokio::test]
async fn an_artifact_is_read_back_by_its_owner_and_admin_only_while_its_signed_link_is_a_shared_capability()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(fixture_pack("fixture-pack")).await?;
    let alice = client_with_token(&server.issue_token("alice", &[], "1h").await?)?;
    let mallory = client_with_token(&server.issue_token("mallory", &[], "1h").await?)?;

    let made =
        server.send(alice.post(server.at("/api/v1/packs/fixture.png")).json(&json!({ "width": 2, "height": 2 })));
    let image = made.await?.ok()["output"]["image"].clone();
    let id = image["id"].as_str().expect("an artifact id").to_owned();
    let by_id = server.at(&format!("/api/v1/artifacts/{id}"));

    let own = alice.get(&by_id).send().await?;
    assert_eq!(own.status(), 200, "the owner reads its artifact back");
    assert_eq!(own.headers()["content-type"], "image/png");

    // Another subject with the same scopes learns nothing, not even that the
    // artifact exists: the answer is the one an unknown id gets.
    let stolen = server.send(mallory.get(&by_id)).await?;
    let refusal = stolen.error_message("not_found");
    let unknown = format!("{}{}", &id[..id.len() - 1], if id.ends_with('0') { '1' } else { '0' });
    let absent = server.send(mallory.get(server.at(&format!("/api/v1/artifacts/{unknown}")))).await?;
    assert_eq!(refusal.replace(&id, "ID"), absent.error_message("not_found").replace(&unknown, "ID"));

    // Admin reads everyone's.
    assert_eq!(server.client().get(&by_id).send().await?.status(), 200, "admin reads every artifact");

    // The signed link is a bearer capability: whoever holds it downloads,
    // token or not (its owner chose to hand it out).
    let link = image["download_url"].as_str().expect("a signed link");
    let anonymous = reqwest::Client::builder().no_proxy().build()?;
    assert_eq!(anonymous.get(link).send().await?.status(), 200, "a signed link needs no token");
    Ok(())
}
