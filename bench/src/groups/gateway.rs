//! The AI gateway's overhead: `/v1/chat/completions` through Helmdeck against
//! the same fake OpenAI provider called directly, in the same run.
//!
//! The fake is a plain axum handler on 127.0.0.1 answering a fixed chat
//! completion (or a fixed five-chunk SSE stream), so the difference of the
//! medians is what the gateway adds: authentication, model resolution, the
//! key, the request translated and sent through the guarded client, the
//! answer translated back, the usage count and the audit record. Everything
//! runs in this process on one runtime (server, fake and client share the
//! two cores, as they would on a small host).
//!
//! Entries: whole answers (alternating direct/gateway, sequential),
//! time to first streamed token, an open-loop load at a fixed rate, and 200
//! concurrent streams (errors, p99, resident memory).

use super::Context;
use crate::report::{Entry, Target, Unit};
use crate::sample::sample_alternating;
use anyhow::{Result, ensure};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use helmdeck::auth::Scope;
use helmdeck::gateway::GatewayConfig;
use helmdeck::gateway::config::GatewayFile;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const GROUP: &str = "gateway";
const KEY: &str = "sk-bench-0123456789abcdef";

/// The issue's goals, in microseconds.
const OVERHEAD_P50_MAX_US: f64 = 100.0;
const TTFT_P50_MAX_US: f64 = 200.0;
const LOAD_P99_MAX_US: f64 = 1_000.0;
/// Requests per second of the sustained load, and how many streams at once.
const RATE: u64 = 1_000;
const STREAMS: usize = 200;

const ANSWER: &str = r#"{"id":"chatcmpl-b","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"echo: hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}"#;

pub fn run(ctx: &Context) -> Result<Vec<Entry>> {
    let data = crate::fixture::DataDir::with_packs(&ctx.helmdeck, &[])?;
    ctx.runtime()?.block_on(async {
        let fake = serve(fake_router()).await?;
        let mut config = helmdeck::config::Config::for_data_dir(data.path());
        config.egress = helmdeck::guard::EgressPolicy::parse("127.0.0.1")?;
        let env = [("HELMDECK_OPENAI_BASE_URL", format!("{fake}/v1")), ("HELMDECK_OPENAI_API_KEY", KEY.to_owned())];
        config.gateway = GatewayConfig::resolve(GatewayFile::default(), &env.map(|(k, v)| (k.to_owned(), v)))?;
        let app = helmdeck::app::Helmdeck::open(config).await?;
        let token = app.tokens.issue("bench", &BTreeSet::from([Scope::LlmCall]), Duration::from_secs(3600))?;
        let ours = format!("{}/v1/chat/completions", serve(helmdeck::api::router(app)).await?);
        let direct = format!("{fake}/v1/chat/completions");
        let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(STREAMS * 2).build()?;
        let body = |stream: bool| {
            Bytes::from(format!(
                r#"{{"model":"openai/m","stream":{stream},"messages":[{{"role":"user","content":"hello"}}]}}"#
            ))
        };
        let (whole, streamed) = (body(false), body(true));
        let call = |url: &str, body: &Bytes, key: &str| {
            let request =
                client.post(url).bearer_auth(key).header(header::CONTENT_TYPE, "application/json").body(body.clone());
            async move {
                let response = request.send().await?;
                let status = response.status();
                ensure!(status.is_success(), "{status}: {}", response.text().await.unwrap_or_default());
                Ok(response)
            }
        };
        let whole_answer = |url: String, key: String| {
            let request = call(&url, &whole, &key);
            async move {
                let text = request.await?.text().await?;
                ensure!(text.contains("echo: hello"), "an answer: {text}");
                Ok(())
            }
        };
        // Time to the first chunk carrying content, then read to the end.
        let first_token = |url: String, key: String| {
            let request = call(&url, &streamed, &key);
            async move {
                let started = Instant::now();
                let mut chunks = request.await?.bytes_stream();
                let (mut seen, mut first) = (String::new(), None);
                while let Some(chunk) = chunks.next().await {
                    seen.push_str(&String::from_utf8_lossy(&chunk?));
                    if first.is_none() && seen.contains("\"content\":\"echo") {
                        first = Some(started.elapsed());
                    }
                }
                ensure!(seen.trim_end().ends_with("data: [DONE]"), "a whole stream: {seen}");
                first.ok_or_else(|| anyhow::anyhow!("no content in {seen}"))
            }
        };
        let (ours_us, direct_us) = sample_alternating(
            ctx.plan(3_000),
            || whole_answer(ours.clone(), token.clone()),
            || whole_answer(direct.clone(), KEY.to_owned()),
        )
        .await?;
        let direct_entry = Entry::new(
            GROUP,
            "gateway.direct",
            "baseline: the same chat request straight to the fake OpenAI provider (keep-alive, sequential)",
            Unit::Micros,
            &direct_us,
        );
        let ours_entry = Entry::new(
            GROUP,
            "gateway.chat",
            "POST /v1/chat/completions (openai/m) through helmdeck::api::router to the same fake: auth, \
             routing, key, guarded client, translation, usage, audit record",
            Unit::Micros,
            &ours_us,
        )
        .against(&direct_entry)
        .target(Target::P50OverBaseline { max: OVERHEAD_P50_MAX_US });

        let (mut ours_ttft, mut direct_ttft) = (Vec::new(), Vec::new());
        for _ in 0..ctx.plan(1_000).samples {
            ours_ttft.push(first_token(ours.clone(), token.clone()).await?.as_secs_f64() * 1e6);
            direct_ttft.push(first_token(direct.clone(), KEY.to_owned()).await?.as_secs_f64() * 1e6);
        }
        let direct_ttft_entry = Entry::new(
            GROUP,
            "gateway.ttft_direct",
            "baseline: time to the first content chunk of a stream straight from the fake",
            Unit::Micros,
            &direct_ttft,
        );
        let ours_ttft_entry = Entry::new(
            GROUP,
            "gateway.ttft",
            "time to the first content chunk of a stream through the gateway",
            Unit::Micros,
            &ours_ttft,
        )
        .against(&direct_ttft_entry)
        .target(Target::P50OverBaseline { max: TTFT_P50_MAX_US });

        // Open loop: one request every 1/RATE s whatever the answers do, so a
        // slow answer shows in the latencies instead of slowing the load.
        let total = ((RATE as f64 * 10.0 * ctx.scale) as usize).max(100);
        let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut running = Vec::with_capacity(total);
        let load_started = Instant::now();
        for _ in 0..total {
            ticker.tick().await;
            let answer = whole_answer(ours.clone(), token.clone());
            running.push(tokio::spawn(async move {
                let started = Instant::now();
                answer.await.map(|()| started.elapsed().as_secs_f64() * 1e6)
            }));
        }
        // The rate the requests went out at (not when their answers came back).
        let sent_rps = total as f64 / load_started.elapsed().as_secs_f64();
        let mut load_us = Vec::with_capacity(total);
        let mut load_errors = 0usize;
        for task in running {
            match task.await? {
                Ok(us) => load_us.push(us),
                Err(_) => load_errors += 1,
            }
        }
        let answered_rps = total as f64 / load_started.elapsed().as_secs_f64();
        ensure!(!load_us.is_empty(), "every request of the load failed");
        let load_entry = Entry::new(
            GROUP,
            "gateway.load_1000rps",
            "whole answers through the gateway, sent open-loop at 1,000 requests/s",
            Unit::Micros,
            &load_us,
        )
        .target(Target::P99 { max: LOAD_P99_MAX_US })
        .context("requests", total)
        .context("errors", load_errors)
        .context("sent_rps", format!("{sent_rps:.0}"))
        .context("answered_rps", format!("{answered_rps:.0}"));

        let rss_before = rss_kib();
        let streams: Vec<_> = (0..STREAMS)
            .map(|_| {
                let stream = first_token(ours.clone(), token.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    stream.await.map(|_| started.elapsed().as_secs_f64() * 1e6)
                })
            })
            .collect();
        let (mut streams_us, mut stream_errors) = (Vec::new(), 0usize);
        for task in streams {
            match task.await? {
                Ok(us) => streams_us.push(us),
                Err(_) => stream_errors += 1,
            }
        }
        ensure!(!streams_us.is_empty(), "every stream failed");
        let streams_entry = Entry::new(
            GROUP,
            "gateway.streams_200",
            "200 streams through the gateway at once, each read to [DONE]: whole-stream latency",
            Unit::Micros,
            &streams_us,
        )
        .context("errors", stream_errors)
        .context("rss_kib_before", rss_before)
        .context("rss_kib_after", rss_kib())
        .context("rss_note", "the whole bench process: server, fake and clients");
        Ok(vec![ours_entry, direct_entry, ours_ttft_entry, direct_ttft_entry, load_entry, streams_entry])
    })
}

/// This process's resident set, in KiB (0 where `/proc` is missing).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Serve `router` on a fresh loopback port until the runtime stops; its base URL.
async fn serve(router: Router) -> Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}

/// The fake provider: a fixed answer, or a fixed stream when asked for one.
fn fake_router() -> Router {
    Router::new().route("/v1/chat/completions", axum::routing::post(fake_chat))
}

async fn fake_chat(body: Bytes) -> Response {
    let stream = body.windows(13).any(|w| w == b"\"stream\":true");
    if !stream {
        return ([(header::CONTENT_TYPE, "application/json")], ANSWER).into_response();
    }
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\
             \"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let frames = [
        chunk(r#"{"role":"assistant","content":""}"#, "null"),
        chunk(r#"{"content":"echo: "}"#, "null"),
        chunk(r#"{"content":"hello"}"#, "null"),
        chunk("{}", "\"stop\""),
        "data: [DONE]\n\n".to_owned(),
    ];
    let body = Body::from_stream(futures::stream::iter(frames.map(|f| Ok::<_, std::io::Error>(Bytes::from(f)))));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}
