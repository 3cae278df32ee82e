//! The OpenAPI document at `/api/v1/openapi.json`, through the real binary:
//! it is an OpenAPI 3.1 document, every operation it documents is routed,
//! and every installed tool has its own path with its real schemas.

use helmdeck_tests::server::client_with_token;
use helmdeck_tests::{TestServer, builtin_pack, fixture_pack};
use oas3::spec::ParameterIn;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Structural checks beyond parsing: unique operation ids, responses that
/// resolve and are described, and every path template parameter declared.
fn check_structure(spec: &oas3::Spec) {
    let mut ids = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        let id = op.operation_id.clone().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.clone()), "operationId `{id}` is used twice");
        let responses = op.responses.as_ref().unwrap_or_else(|| panic!("{method} {path} has no responses"));
        assert!(responses.contains_key("200"), "{method} {path} documents no success");
        for (status, response) in responses {
            let response = response.resolve(spec).unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
            assert!(response.description.is_some_and(|d| !d.is_empty()), "{method} {path} {status} has no description");
        }
        if let Some(body) = &op.request_body {
            body.resolve(spec).unwrap_or_else(|e| panic!("{method} {path} request body: {e}"));
        }
        let declared: Vec<_> = op
            .parameters
            .iter()
            .map(|p| p.resolve(spec).unwrap_or_else(|e| panic!("{method} {path} parameter: {e}")))
            .filter(|p| p.location == ParameterIn::Path)
            .collect();
        for name in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
            let param = declared.iter().find(|p| p.name == name);
            assert!(
                param.is_some_and(|p| p.required == Some(true)),
                "{method} {path}: `{{{name}}}` is not a required path parameter"
            );
        }
    }
}

/// A concrete request path for a documented one, naming things that exist.
fn concrete(path: &str, method: &str) -> String {
    let name = match method {
        "post" => "slow.wait",
        "delete" => "not-installed",
        _ => "slow",
    };
    path.replace("{name}", name).replace("{version}", "v1").replace("{id}", "no-such-artifact")
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1_and_matches_the_routes_and_the_installed_tools() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(builtin_pack("http")).await?;
    server.install(fixture_pack("slow-1.0")).await?;

    let answer = server.get("/api/v1/openapi.json").await?;
    answer.ok();
    let spec = oas3::from_json(&answer.text)?;
    assert_eq!(spec.validate_version()?.minor, 1, "OpenAPI 3.1");
    check_structure(&spec);
    let doc = &answer.body;
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    // Every documented operation is routed: not 405, and not the fallback
    // that answers paths no route matches.
    let anonymous = reqwest::Client::builder().no_proxy().build()?;
    let unrouted = server.get("/api/v1/no-such-route").await?;
    assert!(unrouted.error_message("not_found").starts_with("no route"));
    let mut checked = 0;
    for (path, verb, _) in spec.operations() {
        let method = verb.as_str().to_ascii_lowercase();
        if path.starts_with("/api/v1/packs/") && !path.contains('{') {
            continue; // a tool's own path: checked below
        }
        let url = server.at(&concrete(&path, &method));
        let request = |client: &reqwest::Client| client.request(verb.clone(), &url).json(&json!({ "ms": 0 }));
        let answer = server.send(request(server.client())).await?;
        assert_ne!(answer.status, 405, "{method} {path} is documented but not routed: {}", answer.text);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.starts_with("no route"), "{method} {path} is documented but not routed: {message}");
        assert!(answer.status < 500, "{method} {path}: {}", answer.text);
        // The documented security holds: open operations need no token, the others one.
        let open = doc["paths"][&path][&method]["security"] == json!([]);
        let without_token = server.send(request(&anonymous)).await?;
        if open {
            // Open routes need no bearer token (a signed link may still refuse a missing signature).
            let refusal = without_token.body["error"]["message"].as_str().unwrap_or_default();
            assert!(!refusal.contains("bearer token"), "{method} {path} is documented as open: {refusal}");
            assert!(without_token.status < 500, "{method} {path}: {}", without_token.text);
        } else {
            without_token.error("auth_failed");
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} operations were documented");

    // Every installed tool has its path, with the schemas the server validates against.
    let listing = server.get("/api/v1/packs").await?;
    let tools: Vec<Value> =
        listing.ok()["packs"].as_array().unwrap().iter().flat_map(|p| p["tools"].as_array().unwrap().clone()).collect();
    let tool_paths: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/api/v1/packs/") && !p.contains('{'))
        .cloned()
        .collect();
    let expected: BTreeSet<String> =
        tools.iter().map(|t| format!("/api/v1/packs/{}", t["qualified"].as_str().unwrap())).collect();
    assert_eq!(tool_paths, expected);
    assert_eq!(expected.len(), 3, "http.fetch, slow.wait, slow.wait_for");
    for tool in &tools {
        let op = &doc["paths"][format!("/api/v1/packs/{}", tool["qualified"].as_str().unwrap())]["post"];
        assert_eq!(op["requestBody"]["content"]["application/json"]["schema"], tool["input_schema"]);
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["output"],
            tool["output_schema"]
        );
    }
    let fetch_schema =
        &doc["paths"]["/api/v1/packs/http.fetch"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(fetch_schema["required"], json!(["url"]));
    assert!(server.call("http.fetch", &json!({})).await?.error_message("invalid_input").contains("url"));
    assert_eq!(server.post("/api/v1/packs/slow.wait", &json!({ "ms": 0 })).await?.ok()["output"]["version"], "1.0.0");

    // The document follows hot changes.
    server.run_cli(["pack", "remove", "slow"]).await?.success()?;
    let after = server.get("/api/v1/openapi.json").await?;
    let paths = after.ok()["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/packs/http.fetch") && !paths.contains_key("/api/v1/packs/slow.wait"));
    Ok(())
}

/// Every `$ref` string anywhere in `value`.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                found.push(r.clone());
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// Whether the document lists `status` with `content_type` for `op`.
fn documents(op: &Value, status: u16, content_type: &str) -> bool {
    let Some(response) = op["responses"].get(status.to_string()) else { return false };
    let media = content_type.split(';').next().unwrap_or_default().trim();
    response["content"].as_object().is_some_and(|content| {
        content.keys().any(|listed| {
            listed == media
                || listed == "*/*"
                || listed.strip_suffix("/*").is_some_and(|family| media.starts_with(&format!("{family}/")))
        })
    })
}

#[tokio::test]
async fn every_ref_resolves_and_every_status_and_content_type_answered_is_documented() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for pack in [builtin_pack("http"), builtin_pack("web"), fixture_pack("slow-1.0"), fixture_pack("fixture-pack")] {
        server.install(pack).await?;
    }
    let doc = server.get("/api/v1/openapi.json").await?.ok().clone();

    // Every reference resolves within the document, the tool schemas'
    // own definitions (web.scrape_spa's recursive FieldSpec) included.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.iter().any(|r| r.contains("FieldSpec")), "web.scrape_spa's FieldSpec is referenced: {found:?}");
    for r in &found {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("`{r}` points outside the document"));
        assert!(doc.pointer(pointer).is_some(), "`{r}` does not resolve in the document");
    }

    // Probe every operation as an admin, without a token, with a token
    // lacking its scope, and with a parameter it does not take; then the
    // answers that need something real: artifacts, a streamed install.
    let reader = client_with_token(&server.issue_token("reader", &["audit:read"], "1h").await?)?;
    let anonymous = reqwest::Client::builder().no_proxy().build()?;
    let made = server.call("fixture.png", &json!({ "width": 2, "height": 2 })).await?;
    let image = made.ok()["output"]["image"].clone();
    let id = image["id"].as_str().unwrap();
    let link = image["download_url"].as_str().unwrap().strip_prefix(server.url()).unwrap().to_owned();
    let mut probes: Vec<(String, String, reqwest::RequestBuilder)> = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            let url = server.at(&concrete(path, method).replace("no-such-artifact", id));
            let verb: reqwest::Method = method.to_ascii_uppercase().parse()?;
            let body = op.get("requestBody").map(|_| match path.as_str() {
                "/api/v1/packs/slow.wait" => json!({ "ms": 0 }),
                // Other tools are refused before they run (fixture.spin never returns).
                tool if !tool.contains('{') && tool.starts_with("/api/v1/packs/") => json!([]),
                _ => json!({}),
            });
            for client in [server.client(), &reader, &anonymous] {
                let mut request = client.request(verb.clone(), &url);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                probes.push((path.clone(), method.clone(), request));
            }
            let sep = if url.contains('?') { '&' } else { '?' };
            probes.push((path.clone(), method.clone(), server.client().request(verb, format!("{url}{sep}colour=red"))));
        }
    }
    let shared = "/shared/artifacts/{id}".to_owned();
    probes.push((shared.clone(), "get".into(), anonymous.get(server.at(&link))));
    probes.push((shared, "get".into(), anonymous.get(server.at(&format!("/shared/artifacts/{id}?expires=1&sig=00")))));
    let install = "/api/v1/marketplace/install".to_owned();
    let streamed = server.client().post(server.at(&install)).header("accept", "application/x-ndjson");
    probes.push((install, "post".into(), streamed.json(&json!({ "pack": "greeter" }))));

    let mut undocumented = Vec::new();
    for (path, method, request) in probes {
        let answer = request.send().await?;
        let status = answer.status().as_u16();
        let content_type = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        if !documents(&doc["paths"][&path][&method], status, &content_type) {
            undocumented.push(format!("{method} {path}: {status} {content_type}"));
        }
    }
    assert!(undocumented.is_empty(), "answers the document does not list:\n{}", undocumented.join("\n"));
    Ok(())
}
