//! Bad requests through the real binary: malformed JSON, input of the wrong
//! shape and unknown tools are client errors in the error shape, with JSON
//! pointers for schema violations, and never a 500; the pack never runs.

use helmdeck_tests::{ApiResponse, TestServer, builtin_pack};
use serde_json::json;

/// Asserts a client error (4xx) in the error shape and returns the code.
#[track_caller]
fn client_error(answer: &ApiResponse) -> String {
    assert!((400..500).contains(&answer.status), "expected a 4xx, got {}: {}", answer.status, answer.text);
    let code = answer.body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error shape: {}", answer.text));
    answer.error(code);
    code.to_owned()
}

#[tokio::test]
async fn malformed_json_and_wrong_types_are_invalid_input_with_json_pointers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(builtin_pack("http")).await?;
    let fetch = server.at("/api/v1/packs/http.fetch");

    let malformed = server.send(server.client().post(&fetch).body(r#"{"url": "http://x.test/""#)).await?;
    let error = malformed.error("invalid_input");
    assert!(error["message"].as_str().unwrap().contains("not valid JSON"), "{error}");
    assert!(error["details"]["line"].is_u64() && error["details"]["column"].is_u64(), "the position is given: {error}");

    let wrong = server
        .call("http.fetch", &json!({ "url": 5, "method": "FETCH", "timeout_ms": "soon", "headers": { "a": 1 } }))
        .await?;
    let mut pointers = wrong.violation_pointers();
    pointers.sort();
    assert_eq!(pointers, ["/headers/a", "/method", "/timeout_ms", "/url"], "{}", wrong.text);
    let message = wrong.error_message("invalid_input");
    assert!(message.contains("/url") && message.contains("http.fetch"), "the message names the fields: {message}");

    let missing = server.call("http.fetch", &json!({})).await?;
    assert_eq!(
        missing.violation_pointers(),
        [""],
        "a missing required field is reported at the root: {}",
        missing.text
    );
    assert!(missing.error_message("invalid_input").contains("url"));

    let unknown_field = server.call("http.fetch", &json!({ "url": "http://x.test/", "verb": "GET" })).await?;
    assert!(unknown_field.error_message("invalid_input").contains("verb"), "{}", unknown_field.text);

    let not_an_object = server.call("http.fetch", &json!(["http://x.test/"])).await?;
    assert_eq!(not_an_object.violation_pointers(), [""]);

    // The pack never ran: no capability call was made for any of these.
    assert!(server.audit("kind=capability").await?.is_empty());
    let refused = server.audit("pack=http&outcome=invalid_input").await?;
    assert_eq!(refused.len(), 4, "every refused call is audited: {refused:#?}");
    Ok(())
}

#[tokio::test]
async fn unknown_tools_and_malformed_tool_names_are_client_errors_never_500() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(builtin_pack("http")).await?;

    // A well-formed name of a tool that does not exist is `not_found`, like a
    // removed one, and the message lists what exists instead.
    let unknown_tool = server.call("http.fetchh", &json!({})).await?;
    let message = unknown_tool.error_message("not_found");
    assert!(message.contains("fetch"), "the message lists the pack's tools: {message}");
    let unknown_pack = server.call("htttp.fetch", &json!({})).await?;
    assert!(unknown_pack.error_message("not_found").contains("http"), "{}", unknown_pack.text);
    server.call("http.fetch@9.9.9", &json!({ "url": "http://x.test/" })).await?.error("not_found");
    server.post("/api/v1/packs/http.fetch/v9", &json!({ "url": "http://x.test/" })).await?.error("not_found");

    // A name that is not `pack.tool[@version]` is `invalid_input`, saying how to write one.
    for bad in ["http", "http.fetch.x", "http.fetch@latest", ".fetch"] {
        let answer = server.call(bad, &json!({})).await?;
        assert!(answer.error_message("invalid_input").contains("http.fetch"), "{bad}: {}", answer.text);
    }
    for answer in [
        server.post("/api/v1/packs/http.fetch/one", &json!({})).await?,
        server.post("/api/v1/packs/http.fetch@0.1.0/v2", &json!({})).await?,
        server.send(server.client().post(server.at("/api/v1/packs")).body("{")).await?,
        server.post("/api/v1/packs", &json!({ "manifest": "name: [", "component_base64": "" })).await?,
        server.post("/api/v1/packs", &json!({ "manifest": "x", "component_base64": "!!", "grant": [] })).await?,
        server.get("/api/v1/audit?limit=0").await?,
        server.get("/api/v1/audit?colour=red").await?,
        server.send(server.client().delete(server.at("/api/v1/packs/http?version=one"))).await?,
        server.get("/api/v1/nowhere").await?,
    ] {
        client_error(&answer);
    }
    // A method a route does not have: 405, still in the error shape.
    let wrong_method = server.send(server.client().put(server.at("/api/v1/packs/http.fetch"))).await?;
    assert_eq!((wrong_method.status, wrong_method.body["error"]["code"].as_str()), (405, Some("invalid_input")));
    Ok(())
}

#[tokio::test]
async fn a_path_the_operating_system_refuses_is_invalid_input_naming_the_field_for_every_capability()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(builtin_pack("fs")).await?;
    server.install(builtin_pack("git")).await?;
    let long_component = "a".repeat(300);
    let long_path = format!("{}/f.txt", vec!["d".repeat(200); 19].join("/"));
    assert!(long_path.len() < 4096, "within the tools' own 4096-character limit");
    for path in [long_component.as_str(), long_path.as_str(), "nul\0byte.txt", "dir/\0"] {
        let inputs = [
            ("fs.read", json!({ "path": path })),
            ("fs.write", json!({ "path": path, "content": "x" })),
            ("fs.patch", json!({ "path": path, "search": "a", "replace": "b" })),
            ("fs.list", json!({ "path": path })),
            ("fs.delete", json!({ "path": path })),
            ("git.init", json!({ "path": path })),
            ("git.log", json!({ "path": path })),
            ("git.diff", json!({ "path": path })),
            ("git.commit", json!({ "path": path, "message": "m" })),
        ];
        for (tool, input) in inputs {
            let answer = server.call(tool, &input).await?;
            let shown = &path[..path.len().min(20)];
            assert_eq!(answer.status, 400, "{tool} `{shown}...`: {}", answer.text);
            let message = answer.error_message("invalid_input");
            assert!(message.contains("`path`"), "{tool}: the message names the field: {message}");
        }
    }
    Ok(())
}
