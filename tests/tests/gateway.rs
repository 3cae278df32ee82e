//! The AI gateway through the real binary, against fake providers on
//! 127.0.0.1 that the providers' official clients accept: the official
//! OpenAI client through `/v1` to every wire format, fallbacks (429 with
//! `retry-after`, a timeout, none once a stream has begun), keys in the
//! vault (a bad one is `auth_failed`, a rotation needs no restart, no key
//! leaks anywhere), the egress guard, usage, the CLI.

use anyhow::Result;
use helmdeck_tests::fake_llm::{Fakes, Wire, python};
use helmdeck_tests::{TestServer, wait_until};
use serde_json::{Value, json};

const KEY: &str = "sk-fake-3f9a1c7e5b2d4a6c8e0f1a3b";

#[tokio::test]
async fn the_fakes_speak_their_providers_formats_as_the_official_clients_read_them() -> Result<()> {
    let fakes = Fakes::start(KEY)?;
    let report = python("check_fakes.py", &[], &fakes.client_env())?;
    for provider in ["openai", "anthropic", "gemini", "ollama"] {
        let checked = &report[provider];
        assert_eq!(checked["text"], "echo: hello fake", "{provider}: {checked}");
        assert_eq!(checked["stream"], "echo: hello fake", "{provider}: {checked}");
        assert_eq!(checked["tool"], json!(["lookup", { "q": "hello fake" }]), "{provider}: {checked}");
        assert_eq!(checked["tool_stream"], json!({ "q": "hello fake" }), "{provider}: {checked}");
        assert_eq!(checked["image"], "saw 1 image(s): image/png 1x1", "{provider}: {checked}");
        assert!(!checked["models"].as_array().unwrap().is_empty(), "{provider}: {checked}");
    }
    assert_eq!(report["openai"]["bad_key"], "AuthenticationError");
    assert_eq!(report["openai"]["rate_limited"], "RateLimitError");
    assert_eq!(report["anthropic"]["bad_key"], "AuthenticationError");
    assert_eq!(report["anthropic"]["rate_limited"], "RateLimitError");
    assert_eq!(report["gemini"]["rate_limited"], 429);
    assert_eq!(report["ollama"]["bad_key"], 401);
    assert_eq!(report["ollama"]["rate_limited"], 429);
    Ok(())
}

/// A `helmdeck serve` reaching `fakes` as its providers, with `config` as
/// its configuration file (aliases, fallbacks) and `env` on top.
async fn serve(fakes: &Fakes, config: &str, env: &[(&str, &str)]) -> Result<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("helmdeck.toml");
    std::fs::write(&path, config)?;
    let mut builder = TestServer::builder().env("HELMDECK_CONFIG", path.to_str().unwrap()).env("HELMDECK_LOG", "debug");
    for (name, value) in fakes.server_env() {
        builder = builder.env(&name, &value);
    }
    for (name, value) in env {
        builder = builder.env(name, value);
    }
    Ok((builder.start().await?, dir))
}

#[tokio::test]
async fn the_official_openai_client_chats_streams_calls_tools_and_sends_images_and_json_through_every_format()
-> Result<()> {
    let fakes = Fakes::start(KEY)?;
    let config = "[gateway.aliases.default]\nprimary = \"anthropic/m\"\n";
    let (server, _dir) = serve(&fakes, config, &[("HELMDECK_GEMINI_MODELS", "m, m-pro")]).await?;
    let token = server.issue_token("agent-ada", &[], "1h").await?;
    let models = ["openai/m", "anthropic/m", "gemini/m", "ollama/m"];
    let env = [("GATEWAY_URL".to_owned(), server.at("/v1")), ("GATEWAY_TOKEN".to_owned(), token)];
    let report = python("openai_client.py", &models, &env)?;

    let listed = report["models"].as_array().unwrap();
    for id in ["default", "gemini/m", "gemini/m-pro"] {
        assert!(listed.contains(&json!(id)), "{id} is listed: {listed:?}");
    }
    assert_eq!(report["refused"], json!([401, "auth_failed", "authentication_error"]));
    for model in models {
        let got = &report["drive"][model];
        assert_eq!(got["text"], "echo: hello gateway", "{model}: {got}");
        assert_eq!(got["finish"], "stop", "{model}");
        assert_eq!((&got["model"], &got["header"]), (&json!(model), &json!(model)), "who answered, twice");
        let usage = got["usage"].as_array().unwrap();
        assert!(usage[0].as_u64() > Some(0) && usage[2] == usage[0].as_u64().unwrap() + usage[1].as_u64().unwrap());
        assert_eq!(got["stream"], "echo: hello gateway", "{model}: {got}");
        assert!(got["stream_deltas"].as_u64() >= Some(2), "the text came in deltas: {model}: {got}");
        assert_eq!(got["stream_models"], json!([model]));
        assert_eq!(got["stream_finish"], json!(["stop"]));
        assert!(got["stream_usage"].as_u64() > Some(0), "usage last, as include_usage asks: {model}");
        assert_eq!(got["tool_call"], json!(["lookup", { "q": "hello gateway" }, "tool_calls"]), "{model}");
        assert_eq!(got["tool_stream"], json!([["lookup"], { "q": "hello gateway" }, 1]), "{model}");
        assert_eq!(got["tool_result"], "tool said: 42 degrees", "{model}");
        assert_eq!(got["tool_result_stream"], "tool said: 42 degrees", "{model}");
        assert_eq!(got["image"], "saw 1 image(s): image/png 1x1", "{model}");
        assert_eq!(got["json"], json!({ "echo": "hello gateway" }), "{model}");
    }

    // Each provider got its own format, not OpenAI's passed along.
    let anthropic = fakes.get(Wire::Anthropic).requests();
    assert!(anthropic.iter().any(|r| r.body["system"][0]["text"] == "You are terse."));
    let streamed =
        fakes.get(Wire::Gemini).requests().into_iter().filter(|r| r.path.ends_with(":streamGenerateContent")).count();
    assert!(streamed >= 3, "Gemini streams through streamGenerateContent");
    assert!(
        fakes
            .get(Wire::Ollama)
            .requests()
            .iter()
            .any(|r| r.body["images"].is_null() && r.body["messages"][0]["images"].is_array())
    );

    // Every call left a record naming the provider, model and tokens.
    let chat_records = || async {
        let records = server.audit("actor=agent-ada").await?;
        Ok::<_, anyhow::Error>(
            records.into_iter().filter(|r| r["capability"] == "POST /v1/chat/completions").collect::<Vec<_>>(),
        )
    };
    // A stream's record is written when the stream ends, just after the client read it.
    assert!(wait_until(|| async { Ok(chat_records().await?.len() == 4 * 8) }).await?, "eight records per model");
    let chats = chat_records().await?;
    let answered = chats.iter().find(|r| r["target"] == "gemini/m").expect("a record for gemini/m");
    assert_eq!(answered["details"]["provider"], "gemini");
    assert!(answered["details"]["tokens_in"].as_u64() > Some(0));
    Ok(())
}

/// `POST /v1/chat/completions` with `token`; the status, headers and body.
async fn chat(server: &TestServer, token: &str, body: Value) -> Result<(u16, reqwest::header::HeaderMap, String)> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let response = client.post(server.at("/v1/chat/completions")).bearer_auth(token).json(&body).send().await?;
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    Ok((status, headers, response.text().await?))
}

fn ask(model: &str, stream: bool) -> Value {
    json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hello gateway" }] })
}

/// The chat records of `call`'s model, newest first, once there are `n`.
async fn chat_records(server: &TestServer, requested: &str, n: usize) -> Result<Vec<Value>> {
    let matching = || async {
        let records = server.audit("capability=POST%20/v1/chat/completions").await?;
        Ok::<_, anyhow::Error>(
            records.into_iter().filter(|r| r["details"]["requested"] == requested).collect::<Vec<_>>(),
        )
    };
    assert!(wait_until(|| async { Ok(matching().await?.len() >= n) }).await?, "{n} records for {requested}");
    matching().await
}

const FALLBACKS: &str = r#"
[gateway.aliases.default]
primary = "openai/rate-limited"
fallbacks = ["anthropic/m"]

[gateway.aliases.fast]
primary = "gemini/slow"
fallbacks = ["ollama/m"]
attempt_timeout_ms = 400

[gateway.aliases.flaky]
primary = "openai/breaks-after-first"
fallbacks = ["anthropic/m"]

[gateway.aliases.strict]
primary = "openai/rate-limited"
fallbacks = ["anthropic/m"]
fallback_on = ["timeout"]
"#;

#[tokio::test]
async fn a_rate_limited_or_timed_out_attempt_falls_back_and_the_answer_names_who_answered() -> Result<()> {
    let fakes = Fakes::start(KEY)?;
    let (server, _dir) = serve(&fakes, FALLBACKS, &[]).await?;
    let token = server.issue_token("agent-ada", &[], "1h").await?;

    // 429 with retry-after: the alias moves on to its fallback, whole and streamed.
    let (status, headers, body) = chat(&server, &token, ask("default", false)).await?;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body)?;
    assert_eq!(answer["model"], "anthropic/m");
    assert_eq!(headers["x-helmdeck-model"], "anthropic/m");
    assert_eq!(answer["choices"][0]["message"]["content"], "echo: hello gateway");
    let (status, headers, body) = chat(&server, &token, ask("default", true)).await?;
    assert_eq!((status, &headers["x-helmdeck-model"]), (200, &"anthropic/m".parse()?), "{body}");
    assert!(body.contains("\"model\":\"anthropic/m\"") && body.ends_with("data: [DONE]\n\n"), "{body}");
    let record = &chat_records(&server, "default", 2).await?[0];
    assert_eq!(record["outcome"], "ok");
    let attempts = record["details"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["model"], "openai/rate-limited");
    assert_eq!(attempts[0]["outcome"], "rate_limited");
    assert_eq!(attempts[0]["retry_after_ms"], 7000, "from the provider's retry-after");
    assert_eq!((&attempts[1]["model"], &attempts[1]["outcome"]), (&json!("anthropic/m"), &json!("ok")));

    // Without a fallback the client gets rate_limited in OpenAI's shape, with the hint.
    let (status, headers, body) = chat(&server, &token, ask("openai/rate-limited", false)).await?;
    let error: Value = serde_json::from_str(&body)?;
    assert_eq!(
        (status, &error["error"]["code"], &error["error"]["type"]),
        (429, &json!("rate_limited"), &json!("rate_limit_error"))
    );
    assert_eq!(error["error"]["retry_after_ms"], 7000);
    assert_eq!(headers["retry-after"], "7");
    // A chain that only falls back on timeouts does not on a 429.
    let (status, _, _) = chat(&server, &token, ask("strict", false)).await?;
    assert_eq!(status, 429);

    // A provider that does not answer within the attempt's deadline is left for the next.
    for stream in [false, true] {
        let (status, headers, body) = chat(&server, &token, ask("fast", stream)).await?;
        assert_eq!((status, &headers["x-helmdeck-model"]), (200, &"ollama/m".parse()?), "{body}");
        assert!(body.contains("echo: hello gateway") || body.contains("\"content\":\"hello \""), "{body}");
    }
    let record = &chat_records(&server, "fast", 2).await?[0];
    assert_eq!(record["details"]["attempts"][0]["outcome"], "timeout");
    assert_eq!(record["details"]["attempts"][1]["outcome"], "ok");
    Ok(())
}

#[tokio::test]
async fn a_stream_does_not_fall_back_once_its_output_reached_the_client() -> Result<()> {
    let fakes = Fakes::start(KEY)?;
    let (server, _dir) = serve(&fakes, FALLBACKS, &[]).await?;
    let token = server.issue_token("agent-ada", &[], "1h").await?;
    let asked_before = fakes.get(Wire::Anthropic).requests().len();
    let (status, headers, body) = chat(&server, &token, ask("flaky", true)).await?;
    assert_eq!((status, &headers["x-helmdeck-model"]), (200, &"openai/breaks-after-first".parse()?), "{body}");
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert!(events[0].contains("\"role\":\"assistant\""), "{body}");
    assert!(body.contains("\"content\":\"echo: \""), "the first output reached the client: {body}");
    let last: Value = serde_json::from_str(events.last().unwrap().trim_start_matches("data: "))?;
    assert_eq!(last["error"]["code"], "network_error", "the stream ends in an error event, not [DONE]: {body}");
    assert!(!body.contains("[DONE]"));
    assert_eq!(fakes.get(Wire::Anthropic).requests().len(), asked_before, "no fallback after output began");
    let record = &chat_records(&server, "flaky", 1).await?[0];
    assert_eq!(record["outcome"], "network_error");
    assert_eq!(record["details"]["ended"], "the provider failed mid-stream");
    assert_eq!(record["details"]["attempts"].as_array().unwrap().len(), 1);

    // The model fails only when streaming: asked for a whole answer, it answers itself.
    let (status, headers, body) = chat(&server, &token, ask("flaky", false)).await?;
    assert_eq!((status, &headers["x-helmdeck-model"]), (200, &"openai/breaks-after-first".parse()?), "{body}");
    Ok(())
}

const WRONG: &str = "sk-wrong-9d8c7b6a5f4e3d2c1b0a9f8e";

#[tokio::test]
async fn keys_live_in_the_vault_reload_without_a_restart_a_bad_one_is_auth_failed_and_none_leaks() -> Result<()> {
    let fakes = Fakes::start(KEY)?;
    // The environment's key for openai is wrong: the vault's, added later, must win.
    let env = [("HELMDECK_OPENAI_API_KEY", WRONG), ("HELMDECK_ANTHROPIC_MODELS", "m")];
    let (server, _dir) = serve(&fakes, "", &env).await?;
    let token = server.issue_token("agent-ada", &[], "1h").await?;
    let mut seen = Vec::new();

    // The provider refuses the key (and quotes it back): the client gets auth_failed, not the quote.
    let (status, _, body) = chat(&server, &token, ask("openai/m", false)).await?;
    let error: Value = serde_json::from_str(&body)?;
    assert_eq!(
        (status, &error["error"]["code"], &error["error"]["type"]),
        (401, &json!("auth_failed"), &json!("authentication_error")),
        "{body}"
    );
    seen.push(body);

    // A provider_key in the vault takes over on the next call, without a restart.
    let credential = json!({ "name": "openai-main", "kind": "provider_key", "hosts": ["http://127.0.0.1"], "packs": ["*"],
                             "secret": { "provider": "openai", "key": KEY } });
    let added = server.post("/api/v1/vault/credentials", &credential).await?;
    assert_eq!(added.status, 200, "{}", added.text);
    assert!(added.text.contains(&KEY[KEY.len() - 4..]), "the hint is the last four characters: {}", added.text);
    seen.push(added.text);
    for stream in [false, true] {
        let (status, _, body) = chat(&server, &token, ask("openai/m", stream)).await?;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("echo: hello gateway") || body.contains("\"content\":\"hello \""), "{body}");
        seen.push(body);
    }
    let providers = server.get("/api/v1/providers").await?;
    let openai =
        providers.ok()["providers"].as_array().unwrap().iter().find(|p| p["name"] == "openai").unwrap().clone();
    assert_eq!(openai["key"], "vault", "{openai}");
    seen.push(providers.text);
    let tested = server.send(server.client().post(server.at("/api/v1/providers/openai/test"))).await?;
    assert_eq!(
        (&tested.ok()["ok"], &tested.ok()["key_from"]),
        (&json!(true), &json!("vault:openai-main")),
        "{}",
        tested.text
    );
    seen.push(tested.text);

    // Rotation: the new (wrong) key is used at once, and refused.
    let rotate = json!({ "secret": { "provider": "openai", "key": WRONG } });
    let rotated =
        server.send(server.client().put(server.at("/api/v1/vault/credentials/openai-main")).json(&rotate)).await?;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let (status, _, body) = chat(&server, &token, ask("openai/m", true)).await?;
    assert_eq!(status, 401, "a stream refused before output is a plain error: {body}");
    seen.push(body);
    let tested = server.send(server.client().post(server.at("/api/v1/providers/openai/test"))).await?;
    assert_eq!(tested.ok()["ok"], false);
    assert_eq!(tested.ok()["error"]["code"], "auth_failed", "{}", tested.text);
    seen.push(tested.text);

    // The CLI sees the same gateway.
    let models = server.run_cli(["llm", "models"]).await?.success()?;
    assert!(models.stdout.lines().any(|l| l == "anthropic/m"), "{}", models.stdout);
    let chatted = server.run_cli(["llm", "chat", "anthropic/m", "hello cli"]).await?.success()?;
    assert!(chatted.stdout.contains("echo: hello cli"), "{}", chatted.stdout);
    let tested = server.run_cli(["providers", "test", "anthropic"]).await?.success()?;
    seen.extend([models.stdout, chatted.stdout, tested.stdout.clone(), tested.stderr]);

    // Usage is counted per model, errors by code.
    let usage = server.get("/api/v1/providers/usage").await?;
    let row = usage.ok()["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "m" && r["provider"] == "openai")
        .cloned();
    let row = row.unwrap_or_else(|| panic!("a usage row for openai/m: {}", usage.text));
    assert!(row["calls"].as_u64() >= Some(4), "{row}");
    assert!(row["errors"]["auth_failed"].as_u64() >= Some(2), "{row}");
    seen.push(usage.text);

    // No key anywhere: responses, the server's log, the audit log.
    let audit = serde_json::to_string(&server.audit("").await?)?;
    assert!(audit.contains("openai/m"), "the calls were audited");
    seen.extend([audit, server.log()]);
    for text in &seen {
        for key in [KEY, WRONG] {
            assert!(!text.contains(key), "a key leaked: {text}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_provider_outside_the_egress_allowlist_is_egress_denied_before_any_request() -> Result<()> {
    let fakes = Fakes::start(KEY)?;
    let ollama = fakes.get(Wire::Ollama);
    let server = TestServer::builder().env("HELMDECK_OLLAMA_BASE_URL", &ollama.base_url()).start().await?;
    let token = server.issue_token("agent-ada", &[], "1h").await?;
    for stream in [false, true] {
        let (status, _, body) = chat(&server, &token, ask("ollama/m", stream)).await?;
        let error: Value = serde_json::from_str(&body)?;
        assert_eq!((status, &error["error"]["code"]), (403, &json!("egress_denied")), "{body}");
    }
    assert!(ollama.requests().is_empty(), "the guard stopped the call before it left");
    let record = &chat_records(&server, "ollama/m", 2).await?[0];
    assert_eq!(record["outcome"], "egress_denied");
    Ok(())
}
