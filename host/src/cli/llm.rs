//! `helmdeck llm …` (models and chat through the AI gateway) and
//! `helmdeck providers …` (the providers, their usage, key tests). Like the
//! pack commands, they go to the running server of the data directory, or
//! open the gateway in-process when none runs.

use super::output;
use super::target::Target;
use crate::config::Config;
use crate::gateway::chat::{Message, Role};
use crate::gateway::{Caller, ChatChunk, ChatRequest, Reply};
use crate::{Error, ErrorCode, Result};
use clap::Subcommand;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// List the aliases and models the gateway offers.
    Models {
        /// Print JSON instead of a list.
        #[arg(long)]
        json: bool,
    },
    /// Ask MODEL (an alias or `provider/model`) and stream the answer to the terminal.
    Chat {
        model: String,
        prompt: String,
        /// A system prompt.
        #[arg(long)]
        system: Option<String>,
        /// Limit the answer's length in tokens.
        #[arg(long)]
        max_tokens: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// The providers: wire format, base URL, models, where the key comes from, health.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check a provider's key with its cheapest call; fails unless the provider accepts it.
    Test { name: String },
    /// Calls, errors, tokens and latency per provider, model and alias (JSON).
    Usage,
}

pub async fn run_llm(config: Config, cmd: LlmCommand) -> Result<ExitCode> {
    match cmd {
        LlmCommand::Models { json } => {
            let listing = match Target::connect(config).await? {
                Target::Remote(r) => r.send(Method::GET, "/v1/models", None).await?,
                Target::Local(app) => {
                    let data: Vec<Value> = app
                        .gateway
                        .models()
                        .await?
                        .into_iter()
                        .map(|(id, owner)| json!({ "id": id, "owned_by": owner }))
                        .collect();
                    json!({ "object": "list", "data": data })
                }
            };
            if json {
                output::json(&listing);
            } else {
                for model in listing["data"].as_array().into_iter().flatten() {
                    println!("{}", model["id"].as_str().unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LlmCommand::Chat { model, prompt, system, max_tokens } => {
            let mut messages = Vec::new();
            if let Some(system) = system {
                messages.push(Message::text(Role::System, system));
            }
            messages.push(Message::text(Role::User, prompt));
            let request = ChatRequest { model, messages, stream: Some(true), max_tokens, ..ChatRequest::default() };
            let answered_by = match Target::connect(config).await? {
                Target::Remote(r) => {
                    let body = serde_json::to_value(&request).map_err(|e| Error::internal(e.to_string()))?;
                    let response = r.request(Method::POST, "/v1/chat/completions", Some(body)).await?;
                    remote_stream(response).await?
                }
                Target::Local(app) => {
                    let caller = Caller::rest("cli", "helmdeck llm chat", 0);
                    match app.gateway.chat(&caller, request).await? {
                        Reply::Stream(mut stream) => {
                            while let Some(chunk) = stream.next().await {
                                print_chunk(&chunk?);
                            }
                            stream.answered_by.to_string()
                        }
                        Reply::Complete(answer) => {
                            print!(
                                "{}",
                                answer
                                    .response
                                    .choices
                                    .first()
                                    .and_then(|c| c.message.content.clone())
                                    .unwrap_or_default()
                            );
                            answer.answered_by.to_string()
                        }
                    }
                }
            };
            println!();
            eprintln!("answered by {answered_by}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn run_providers(config: Config, cmd: ProvidersCommand) -> Result<ExitCode> {
    let target = Target::connect(config).await?;
    match cmd {
        ProvidersCommand::List { json } => {
            let listing = match &target {
                Target::Remote(r) => r.send(Method::GET, "/api/v1/providers", None).await?,
                Target::Local(app) => json!({ "providers": app.gateway.providers().await? }),
            };
            if json {
                output::json(&listing);
                return Ok(ExitCode::SUCCESS);
            }
            let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            let rows: Vec<Vec<String>> = listing["providers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![text(&p["name"]), text(&p["wire"]), text(&p["base_url"]), text(&p["key"]), text(&p["health"])]
                })
                .collect();
            output::table(&["NAME", "WIRE", "BASE URL", "KEY", "HEALTH"], &rows);
            Ok(ExitCode::SUCCESS)
        }
        ProvidersCommand::Test { name } => {
            let result = match &target {
                Target::Remote(r) => r.send(Method::POST, &format!("/api/v1/providers/{name}/test"), None).await?,
                Target::Local(app) => json!(app.gateway.probe("cli", &name).await?),
            };
            output::json(&result);
            if result["ok"] == true {
                return Ok(ExitCode::SUCCESS);
            }
            let error: Error = serde_json::from_value(result["error"].clone())
                .unwrap_or_else(|_| Error::internal(format!("the test of provider `{name}` failed")));
            Err(error)
        }
        ProvidersCommand::Usage => {
            let usage = match &target {
                Target::Remote(r) => r.send(Method::GET, "/api/v1/providers/usage", None).await?,
                Target::Local(app) => {
                    let rows = app.gateway.usage().rows().await?;
                    json!({ "usage": rows.iter().map(crate::gateway::usage::view).collect::<Vec<_>>() })
                }
            };
            output::json(&usage);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Print a streamed answer from the server; the answering model.
async fn remote_stream(response: reqwest::Response) -> Result<String> {
    let answered_by = response
        .headers()
        .get(crate::api::openai::MODEL_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    if !response.status().is_success() {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        return Err(openai_error(&body));
    }
    let mut events = response.bytes_stream().eventsource();
    while let Some(event) = events.next().await {
        let event =
            event.map_err(|e| Error::new(ErrorCode::NetworkError, format!("the server's stream broke off: {e}")))?;
        if event.data.trim() == "[DONE]" {
            break;
        }
        let value: Value = serde_json::from_str(&event.data)
            .map_err(|e| Error::new(ErrorCode::NetworkError, format!("unreadable chunk from the server: {e}")))?;
        if value.get("error").is_some() {
            println!();
            return Err(openai_error(&value));
        }
        if let Ok(chunk) = serde_json::from_value::<ChatChunk>(value) {
            print_chunk(&chunk);
        }
    }
    Ok(answered_by)
}

/// An error in OpenAI's shape as an [`Error`].
fn openai_error(body: &Value) -> Error {
    let error = &body["error"];
    let code = error["code"].as_str().and_then(ErrorCode::parse).unwrap_or(ErrorCode::InternalError);
    let mut out = Error::new(code, error["message"].as_str().unwrap_or("the gateway refused the request"));
    out.retry_after_ms = error["retry_after_ms"].as_u64();
    out
}

fn print_chunk(chunk: &ChatChunk) {
    let mut out = std::io::stdout().lock();
    for choice in &chunk.choices {
        if let Some(text) = &choice.delta.content {
            let _ = out.write_all(text.as_bytes());
        }
        for call in choice.delta.tool_calls.iter().flatten() {
            let function = call.function.as_ref();
            if let Some(name) = function.and_then(|f| f.name.as_deref()) {
                let _ = write!(out, "\n[tool call {name}] ");
            }
            if let Some(arguments) = function.and_then(|f| f.arguments.as_deref()) {
                let _ = out.write_all(arguments.as_bytes());
            }
        }
    }
    let _ = out.flush();
}
