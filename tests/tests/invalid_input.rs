//! Bad requests through the real binary: malformed JSON, input of the wrong
//! shape and unknown tools are client errors in the error shape, with JSON
//! pointers for schema violations, and never a 500; the pack never runs.

use helmdeck_tests::{ApiResponse, TestServer, builtin_pack};
use serde_json::{Value, json};

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

/// A concrete URL for a documented path: names that exist where that matters.
fn concrete(path: &str, method: &str) -> String {
    let name = match (path, method) {
        ("/api/v1/packs/{name}", "get") => "slow",
        ("/api/v1/packs/{name}", "delete") => "not-installed",
        ("/api/v1/packs/{name}" | "/api/v1/packs/{name}/{version}", _) => "slow.wait",
        _ => "nothing-here",
    };
    path.replace("{name}", name)
        .replace("{version}", "v1")
        .replace("{id}", "0123abcd")
        .replace("{client}", "claude-code")
}

/// A value of another JSON type than `schema` asks for.
fn wrong_value(schema: &Value) -> Option<Value> {
    Some(match schema["type"].as_str()? {
        "string" => json!(5),
        "integer" | "number" | "boolean" | "array" | "object" => json!("not-that"),
        _ => return None,
    })
}

#[tokio::test]
async fn every_route_refuses_unknown_query_parameters_wrong_typed_bodies_and_bodies_it_does_not_take()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(helmdeck_tests::fixture_pack("slow-1.0")).await?;
    let doc = server.get("/api/v1/openapi.json").await?.ok().clone();
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, op) in operations.as_object().unwrap() {
            let url = server.at(&concrete(path, method));
            let verb: reqwest::Method = method.to_ascii_uppercase().parse()?;
            let what = format!("{method} {path}");
            let send = |url: String, body: Option<String>| {
                let request = server.client().request(verb.clone(), url);
                let request = match body {
                    Some(body) => request.header("content-type", "application/json").body(body),
                    None => request,
                };
                server.send(request)
            };

            // An unknown query parameter is refused, by name, whatever else the request says.
            let separator = if url.contains('?') { '&' } else { '?' };
            let unknown = send(format!("{url}{separator}colour=red"), None).await?;
            assert_eq!(unknown.status, 400, "{what} with `?colour=red`: {}", unknown.text);
            let message = unknown.error_message("invalid_input");
            assert!(message.contains("colour"), "{what}: the refusal names the parameter: {message}");

            let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
                // A route that takes no body refuses one.
                let body = send(url.clone(), Some(r#"{"ms": 0}"#.into())).await?;
                assert_eq!(body.status, 400, "{what} takes no body: {}", body.text);
                body.error("invalid_input");
                checked += 1;
                continue;
            };
            // A body of another JSON type than the documented object.
            let array = send(url.clone(), Some("[]".into())).await?;
            assert_eq!(array.status, 400, "{what} with a JSON array: {}", array.text);
            array.error("invalid_input");
            // A documented field of the wrong type is refused, naming the field.
            let field = schema["properties"]
                .as_object()
                .and_then(|props| props.iter().find_map(|(name, s)| Some((name.clone(), wrong_value(s)?))));
            if let Some((name, value)) = field {
                let wrong = send(url.clone(), Some(json!({ name.clone(): value }).to_string())).await?;
                assert_eq!(wrong.status, 400, "{what} with a wrong-typed `{name}`: {}", wrong.text);
                let error = wrong.error("invalid_input").to_string();
                assert!(error.contains(&name), "{what}: the refusal names `{name}`: {error}");
            }
            // An empty body is `{}`: refused by name when a field is required.
            let empty = send(url.clone(), None).await?;
            assert!(empty.status < 500, "{what} with an empty body: {}", empty.text);
            if let Some(required) = schema["required"].as_array().and_then(|r| r.first()).and_then(Value::as_str) {
                let error = empty.error("invalid_input").to_string();
                assert!(error.contains(required), "{what}: an empty body lacks `{required}`: {error}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations were checked");
    Ok(())
}
