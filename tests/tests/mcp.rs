//! MCP end to end: a real `helmdeck serve`, real packs, and the official MCP
//! Python SDK as the client (tests/mcp/client.py) over streamable HTTP, the
//! `helmdeck-mcp` stdio bridge and the legacy SSE transport.

use anyhow::Result;
use helmdeck_tests::mcp_support::{
    OutputOk, TestServer, binaries, client, client_at, packs, serve_text, workspace_root,
};
use serde_json::{Value, json};
use std::process::Command;

/// What the local page `http.fetch` reads says.
const PAGE: &str = "hello from a server on 127.0.0.1";

fn server() -> Result<(TestServer, String)> {
    let server = TestServer::start(&[&packs().fixture, &packs().http])?;
    let token = server.token("mcp-tester", None)?;
    Ok((server, token))
}

/// A raw HTTP request (status, headers, body), for protocol-level checks.
fn raw(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let mut request = client.request(method.parse().expect("method"), url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap_or_default())
    })
}

/// The tool list, a call of `http.fetch` against a local server, and a small
/// PNG coming back inline, over one transport.
fn serves_tools_calls_and_inline_images(transport: &str) -> Result<()> {
    let (server, token) = server()?;
    let tools = client(&server, &token, &["tools", "--transport", transport])?.report;
    let listed: Vec<&Value> = tools["tools"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for expected in ["fixture_png", "fixture_steps", "fixture_spin", "http_fetch"] {
        assert!(names.contains(&expected), "{transport}: {expected} missing from {names:?}");
    }
    for tool in &listed {
        assert_eq!(tool["input_schema_problem"], Value::Null, "{transport}: {tool}");
        assert_eq!(tool["output_schema_problem"], Value::Null, "{transport}: {tool}");
        assert_eq!(tool["has_output_schema"], true, "{transport}: {tool}");
    }
    assert_eq!(tools["server"]["name"], "helmdeck");

    let page = serve_text(PAGE)?;
    let args = json!({ "url": page }).to_string();
    let fetched =
        client(&server, &token, &["call", "--transport", transport, "--tool", "http_fetch", "--args", &args])?.report;
    assert_eq!(fetched["is_error"], false, "{transport}: {fetched}");
    assert_eq!(fetched["structured"]["status"], 200);
    assert_eq!(fetched["structured"]["body"], PAGE);
    assert!(fetched["text"][0].as_str().unwrap().contains(PAGE), "the text rendering carries the output");

    let args = json!({ "width": 64, "height": 48 }).to_string();
    let shot =
        client(&server, &token, &["call", "--transport", transport, "--tool", "fixture_png", "--args", &args])?.report;
    assert_eq!(shot["is_error"], false, "{transport}: {shot}");
    let images = shot["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{transport}: one inline image: {shot}");
    assert_eq!(images[0]["mime"], "image/png");
    assert_eq!(
        images[0]["png"],
        json!({ "width": 64, "height": 48 }),
        "{transport}: the block decodes as the PNG stored"
    );
    assert_eq!(images[0]["bytes"], shot["structured"]["image"]["size"]);
    Ok(())
}

#[test]
fn streamable_http_lists_tools_calls_http_fetch_and_returns_inline_images() -> Result<()> {
    serves_tools_calls_and_inline_images("http")
}

#[test]
fn stdio_bridge_lists_tools_calls_http_fetch_and_returns_inline_images() -> Result<()> {
    serves_tools_calls_and_inline_images("stdio")
}

#[test]
fn legacy_sse_lists_tools_calls_http_fetch_and_returns_inline_images() -> Result<()> {
    serves_tools_calls_and_inline_images("sse")
}

#[test]
fn a_session_client_over_streamable_http_gets_the_same_tools_and_results() -> Result<()> {
    serves_tools_calls_and_inline_images("legacy-http")
}

#[test]
fn tool_hints_follow_the_packs_grants() -> Result<()> {
    let (server, token) = server()?;
    let tools = client(&server, &token, &["tools"])?.report;
    let hints = |name: &str| {
        tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).map(|t| t["annotations"].clone()).unwrap()
    };
    // http: network, so open-world and not read-only; nothing it does destroys.
    assert_eq!(
        hints("http_fetch"),
        json!({ "read_only_hint": false, "destructive_hint": false, "open_world_hint": true })
    );
    // fixture: only artifacts, so read-only and closed.
    assert_eq!(
        hints("fixture_png"),
        json!({ "read_only_hint": true, "destructive_hint": false, "open_world_hint": false })
    );
    Ok(())
}

#[test]
fn images_over_the_inline_limit_come_back_as_signed_links_that_work_without_a_token() -> Result<()> {
    let (server, token) = server()?;
    // Noise does not compress: 1024x1024 RGB is about 3 MiB, over the 1 MiB default.
    let args = json!({ "width": 1024, "height": 1024, "noise": true }).to_string();
    let result = client(&server, &token, &["call", "--tool", "fixture_png", "--args", &args])?.report;
    assert_eq!(result["images"], json!([]), "too large to inline: {result}");
    let link = &result["links"][0];
    assert_eq!(link["mime"], "image/png");
    assert_eq!(link["status"], 200, "the signed link downloads without a token: {link}");
    assert_eq!(link["fetched_bytes"], result["structured"]["image"]["size"]);
    assert_eq!(link["png"], json!({ "width": 1024, "height": 1024 }));

    let uri = link["uri"].as_str().unwrap();
    assert!(uri.starts_with(&server.url), "the link points at this server: {uri}");
    let mut forged = uri.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let (status, _, body) = raw("GET", &forged, &[], "");
    assert_eq!(status, 401, "a tampered signature is refused: {body}");
    assert!(body.contains("auth_failed"), "{body}");
    Ok(())
}

#[test]
fn progress_reports_reach_a_client_that_sent_a_progress_token() -> Result<()> {
    let (server, token) = server()?;
    for transport in ["http", "stdio"] {
        let args = json!({ "steps": 4, "pause_ms": 20 }).to_string();
        let result = client(
            &server,
            &token,
            &["call", "--transport", transport, "--tool", "fixture_steps", "--args", &args, "--progress"],
        )?
        .report;
        assert_eq!(result["structured"]["done"], 4);
        let progress = result["progress"].as_array().unwrap();
        let done: Vec<f64> = progress.iter().map(|p| p[0].as_f64().unwrap()).collect();
        assert!(!done.is_empty(), "{transport}: no progress arrived: {result}");
        assert!(done.windows(2).all(|w| w[0] < w[1]), "{transport}: progress grows: {done:?}");
        assert_eq!(progress.last().unwrap(), &json!([4.0, 4.0, "step 4 of 4"]), "{transport}: the last report arrives");
    }
    Ok(())
}

#[test]
fn cancelling_a_call_stops_the_pack_and_the_connection_keeps_working() -> Result<()> {
    let (server, token) = server()?;
    for transport in ["http", "legacy-http"] {
        let run = client(
            &server,
            &token,
            &[
                "cancel",
                "--transport",
                transport,
                "--tool",
                "fixture_spin",
                "--after",
                "1",
                "--then-tool",
                "fixture_steps",
                "--then-args",
                r#"{"steps":1}"#,
            ],
        )?;
        assert_eq!(run.report["cancelled"], true, "{transport}: {}", run.report);
        assert_eq!(run.report["then"]["structured"]["done"], 1, "{transport}: the next call works");
    }
    // The pack's limit is 60 s; each cancelled call is recorded as
    // `cancelled` (its caller gave up), not as having run out of time.
    let admin = server.token("auditor", Some("audit:all"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, _, body) = raw(
            "GET",
            &format!("{}/api/v1/audit?tool=spin", server.url),
            &[("authorization", &format!("Bearer {admin}"))],
            "",
        );
        let records: Value = serde_json::from_str(&body)?;
        let cancelled: Vec<&Value> = records["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["outcome"] == "cancelled"
                    && r["details"]["message"].as_str().unwrap_or("").contains("cancelled by its caller")
            })
            .collect();
        if cancelled.len() == 2 {
            assert!(cancelled.iter().all(|r| r["capability"] == "mcp tools/call" && r["actor"] == "mcp-tester"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "expected 2 cancelled spin calls in the audit log: {records}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn a_cancelled_call_closes_the_ephemeral_session_it_opened() -> Result<()> {
    let browser = helmdeck_tests::builtin_pack("browser").dir.clone();
    let server = TestServer::start(&[&packs().fixture, &browser])?;
    let token = server.token("mcp-tester", None)?;
    let page = serve_text(PAGE)?;
    // Opens a page (so an ephemeral session with a browser context), then waits for good.
    let hang = json!({ "url": page, "actions": [{ "action": "wait_for", "selector": "#never", "timeout_ms": 60000 }] });
    let args = hang.to_string();
    let run = client(
        &server,
        &token,
        &[
            "cancel",
            "--transport",
            "http",
            "--tool",
            "browser_interact",
            "--args",
            &args,
            "--after",
            "5",
            "--then-tool",
            "fixture_steps",
            "--then-args",
            r#"{"steps":1}"#,
        ],
    )?;
    assert_eq!(run.report["cancelled"], true, "{}", run.report);
    let admin = server.token("auditor", Some("audit:all"))?;
    let (_, _, body) = raw(
        "GET",
        &format!("{}/api/v1/audit?capability=browser.navigate", server.url),
        &[("authorization", &format!("Bearer {admin}"))],
        "",
    );
    let navigated: Value = serde_json::from_str(&body)?;
    assert_eq!(navigated["records"][0]["outcome"], "ok", "the call got as far as a session and a page: {navigated}");
    let sessions = server.data_dir().join("sessions");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::fs::read_dir(&sessions).is_ok_and(|mut dir| dir.next().is_some()) {
        assert!(std::time::Instant::now() < deadline, "the cancelled call's session directory is still there");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn installing_a_pack_while_a_client_is_connected_notifies_it_and_the_new_tool_is_callable() -> Result<()> {
    let (server, token) = server()?;
    let helmdeck = binaries().helmdeck.to_string_lossy().into_owned();
    let data = server.data_dir().to_string_lossy().into_owned();
    let text = packs().text.to_string_lossy().into_owned();
    let install = json!([helmdeck, "--data-dir", data, "pack", "install", "--yes", text]).to_string();
    for transport in ["http", "legacy-http", "sse", "stdio"] {
        let report = client(
            &server,
            &token,
            &[
                "watch",
                "--transport",
                transport,
                "--install",
                &install,
                "--tool",
                "text_stats",
                "--args",
                r#"{"text":"one two three"}"#,
            ],
        )?
        .report;
        assert_eq!(report["notified"], true, "{transport}: no tools/list_changed: {report}");
        assert!(report["new_tools"].as_array().unwrap().contains(&json!("text_stats")), "{transport}: {report}");
        assert_eq!(report["call"]["structured"]["words"], 3, "{transport}: the new tool is callable: {report}");
        server.helmdeck(&["pack", "remove", "text"]).output_ok()?;
    }
    Ok(())
}

#[test]
fn bad_arguments_unknown_tools_and_missing_tokens_get_protocol_correct_errors() -> Result<()> {
    let (server, token) = server()?;
    let bad =
        client(&server, &token, &["call", "--tool", "http_fetch", "--args", r#"{"url":"ftp://example.test"}"#])?.report;
    assert_eq!(bad["is_error"], true, "{bad}");
    assert_eq!(bad["structured"]["error"]["code"], "invalid_input");
    assert_eq!(bad["structured"]["error"]["details"]["violations"][0]["pointer"], "/url", "the failing field is named");
    assert!(
        bad["text"][0].as_str().unwrap().starts_with("error[invalid_input]:")
            && bad["text"][0].as_str().unwrap().contains("/url")
    );

    let missing = client(&server, &token, &["call", "--tool", "http_fetch", "--args", "{}"])?.report;
    assert_eq!(missing["structured"]["error"]["code"], "invalid_input");
    assert!(missing["text"][0].as_str().unwrap().contains("url"), "the missing field is named: {missing}");

    let unknown = client(&server, &token, &["unknown", "--tool", "no_such_tool"])?.report;
    assert_eq!(unknown["raised"], true);
    assert_eq!(unknown["code"], -32602, "unknown tools are invalid params: {unknown}");
    assert!(unknown["message"].as_str().unwrap().contains("no_such_tool"));

    // The SDK's streamable HTTP client reports a refused token only as a
    // failed connection; its SSE client shows the status and challenge.
    let anonymous = client(&server, "", &["connect", "--no-token"])?.report;
    assert_eq!(anonymous["connected"], false, "{anonymous}");
    let anonymous = client(&server, "", &["connect", "--no-token", "--transport", "sse"])?.report;
    assert_eq!(anonymous["connected"], false);
    assert!(anonymous["error"].as_str().unwrap().contains("HTTP 401 Bearer"), "{anonymous}");

    let (status, headers, body) =
        raw("POST", &format!("{}/mcp", server.url), &[("content-type", "application/json")], "{}");
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert!(body.contains("auth_failed"), "{body}");
    let (status, _, _) = raw("GET", &format!("{}/api/v1/mcp/sse", server.url), &[], "");
    assert_eq!(status, 401, "the SSE transport needs a token too");

    // Nothing of the above disturbed the server.
    let after = client(&server, &token, &["call", "--tool", "fixture_steps", "--args", r#"{"steps":1}"#])?.report;
    assert_eq!(after["structured"]["done"], 1);
    Ok(())
}

#[test]
fn foreign_hosts_and_browser_origins_are_refused() -> Result<()> {
    let (server, token) = server()?;
    let bearer = format!("Bearer {token}");
    let mcp = format!("{}/mcp", server.url);
    let (status, _, body) = raw("POST", &mcp, &[("authorization", &bearer), ("host", "attacker.example")], "{}");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("HELMDECK_MCP_ALLOWED_HOSTS"), "the refusal says how to allow a host: {body}");
    let (status, _, body) =
        raw("POST", &mcp, &[("authorization", &bearer), ("origin", "http://attacker.example")], "{}");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("HELMDECK_MCP_ALLOWED_ORIGINS"), "{body}");
    Ok(())
}

#[test]
fn tool_calls_are_audited_with_the_token_subject_and_the_client_name() -> Result<()> {
    let (server, token) = server()?;
    client(&server, &token, &["call", "--tool", "fixture_steps", "--args", r#"{"steps":1}"#])?;
    let auditor = server.token("auditor", Some("audit:all"))?;
    let (_, _, body) = raw(
        "GET",
        &format!("{}/api/v1/audit?tool=steps", server.url),
        &[("authorization", &format!("Bearer {auditor}"))],
        "",
    );
    let records: Value = serde_json::from_str(&body)?;
    let record = &records["records"][0];
    assert_eq!(record["actor"], "mcp-tester");
    assert_eq!(record["capability"], "mcp tools/call");
    assert_eq!(record["outcome"], "ok");
    assert!(
        record["details"]["client"].as_str().unwrap().starts_with("mcp "),
        "the Python SDK names itself `mcp`: {record}"
    );
    Ok(())
}

#[test]
fn the_bridge_reconnects_after_a_server_restart() -> Result<()> {
    let (mut server, token) = server()?;
    let dir = tempfile::tempdir()?;
    let (ready, resume) = (dir.path().join("ready"), dir.path().join("resume"));
    let script = workspace_root().join("tests/mcp/client.py");
    let mut run = Command::new(helmdeck_tests::mcp_support::python())
        .arg(script)
        .args(["restart", "--transport", "stdio", "--tool", "fixture_steps", "--args", r#"{"steps":2}"#])
        .arg("--ready")
        .arg(&ready)
        .arg("--resume")
        .arg(&resume)
        .env("HELMDECK_URL", &server.url)
        .env("HELMDECK_TOKEN", &token)
        .env("HELMDECK_MCP_BRIDGE", &binaries().bridge)
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ready.exists() {
        assert!(run.try_wait()?.is_none(), "the client ended before its first call");
        assert!(std::time::Instant::now() < deadline, "the first call never finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.restart()?;
    std::fs::write(&resume, b"")?;
    let output = run.wait_with_output()?;
    assert!(output.status.success(), "the client failed after the restart");
    let report: Value = serde_json::from_str(String::from_utf8(output.stdout)?.lines().last().unwrap_or("{}"))?;
    assert_eq!(report["first"]["structured"]["done"], 2);
    assert_eq!(report["second"]["structured"]["done"], 2, "the same bridge process serves after the restart: {report}");
    Ok(())
}

#[test]
fn the_bridge_explains_a_refused_token_and_an_unreachable_server() -> Result<()> {
    let (server, _token) = server()?;
    let refused = client(&server, "not-a-token", &["connect", "--transport", "stdio"])?;
    assert_eq!(refused.report["connected"], false);
    assert!(refused.stderr.contains("HELMDECK_TOKEN was refused by"), "{}", refused.stderr);
    assert!(refused.stderr.contains("helmdeck token issue"), "it says how to fix it: {}", refused.stderr);

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let unreachable = client_at(&url, "any", &["connect", "--transport", "stdio"])?;
    assert_eq!(unreachable.report["connected"], false);
    let error = unreachable.report["error"].as_str().unwrap();
    assert!(error.contains(&format!("cannot reach Helmdeck at {url}")), "the client sees which URL failed: {error}");
    assert!(error.contains("helmdeck serve"), "{error}");
    Ok(())
}

#[test]
fn the_bridge_links_no_webassembly_runtime() -> Result<()> {
    let tree = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(workspace_root())
        .args(["tree", "--offline", "-p", "helmdeck-mcp", "-e", "normal", "--prefix", "none"])
        .output_ok()?;
    let deps = String::from_utf8(tree.stdout)?;
    assert!(deps.contains("rmcp"), "sanity: the tree lists the bridge's dependencies");
    for forbidden in ["wasmtime", "cranelift", "helmdeck v"] {
        assert!(!deps.contains(forbidden), "helmdeck-mcp depends on {forbidden}");
    }
    Ok(())
}

#[test]
fn connect_prints_a_working_token_and_the_live_url() -> Result<()> {
    let (server, token) = server()?;
    let printed = server.helmdeck(&["connect", "gemini-cli", "--json"]).output_ok()?;
    let printed: Value = serde_json::from_slice(&printed.stdout)?;
    assert_eq!(printed["url"], server.url.as_str(), "it finds the running server");
    let url_form = printed["snippets"].as_array().unwrap().iter().find(|s| s["form"] == "url").unwrap();
    let config: Value = serde_json::from_str(url_form["text"].as_str().unwrap())?;
    let entry = &config["mcpServers"]["helmdeck"];
    assert_eq!(entry["httpUrl"], format!("{}/mcp", server.url));
    let issued = entry["headers"]["Authorization"].as_str().unwrap().trim_start_matches("Bearer ").to_owned();
    let listed = client(&server, &issued, &["tools"])?.report;
    assert!(!listed["tools"].as_array().unwrap().is_empty(), "the printed token works");

    let (status, _, body) = raw(
        "GET",
        &format!("{}/api/v1/connect/claude-desktop", server.url),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body)?;
    let bridge = served["snippets"].as_array().unwrap().iter().find(|s| s["form"] == "bridge").unwrap();
    assert!(bridge["text"].as_str().unwrap().contains("<HELMDECK_TOKEN>"), "REST never mints tokens: {bridge}");
    let (status, _, _) = raw(
        "GET",
        &format!("{}/api/v1/connect/cursor", server.url),
        &[("authorization", &format!("Bearer {token}"))],
        "",
    );
    assert_eq!(status, 404);
    Ok(())
}

/// A real Chromium screenshot reaches MCP clients as an inline PNG block.
#[test]
fn browser_screenshot_url_returns_a_png_image_block() -> Result<()> {
    let browser_pack = helmdeck_tests::builtin_pack("browser").dir.clone();
    let server = TestServer::start(&[&browser_pack])?;
    let token = server.token("mcp-tester", None)?;
    let tools = client(&server, &token, &["tools"])?.report;
    let listed = tools["tools"].as_array().unwrap().iter().any(|t| t["name"] == "browser_screenshot_url");
    assert!(listed, "browser_screenshot_url is in tools/list: {tools}");
    let page = serve_text(PAGE)?;
    for transport in ["http", "stdio"] {
        let args = json!({ "url": page }).to_string();
        let shot = client(
            &server,
            &token,
            &["call", "--transport", transport, "--tool", "browser_screenshot_url", "--args", &args],
        )?
        .report;
        assert_eq!(shot["is_error"], false, "{transport}: {shot}");
        let png = shot["images"].as_array().and_then(|i| i.first()).map(|i| i["png"].clone());
        assert!(
            png.as_ref().is_some_and(|p| p["width"].as_u64() > Some(0)),
            "{transport}: an image block that decodes as PNG: {shot}"
        );
    }
    Ok(())
}
