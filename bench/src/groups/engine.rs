//! In-process calls of the trivial tool: the raw engine (instantiate in a
//! fresh `Store` and call, through `PackEngine::invoke`) and the full
//! dispatcher (resolve, validate input, invoke, validate output, one audit
//! record appended to SQLite).

use super::Context;
use crate::fixture::{self, TOOL};
use crate::report::{Entry, Target, Unit};
use crate::sample::sample;
use anyhow::Result;
use helmdeck::app::Helmdeck;
use helmdeck::caps::{CallInfo, CapsContext};
use helmdeck::dispatch::CallRequest;
use helmdeck::engine::Operation;
use helmdeck::registry::ToolRef;
use helmdeck::sessions::SessionSlot;
use serde_json::Value;
use std::sync::Arc;

const GROUP: &str = "engine";

/// The target for instantiate + call in process, in microseconds.
const INVOKE_P50_MAX_US: f64 = 50.0;

pub fn run(ctx: &Context) -> Result<Vec<Entry>> {
    ctx.in_process(async |app| Ok(vec![invoke(&app, ctx).await?, dispatch(&app, ctx).await?]))
}

/// `PackEngine::invoke` alone: what every call pays for the sandbox.
async fn invoke(app: &Arc<Helmdeck>, ctx: &Context) -> Result<Entry> {
    let snapshot = app.registry.snapshot();
    let (pack, index) = snapshot.resolve(&ToolRef::parse(TOOL)?)?;
    let tool = &pack.tool(index).name;
    let input = fixture::input().to_string();
    let call = Arc::new(CallInfo {
        call_id: "bench".into(),
        actor: "bench".into(),
        session: None,
        pack: pack.manifest.name.clone(),
        version: pack.manifest.version.to_string(),
        digest: pack.digest.to_hex(),
        tool: Some(tool.clone()),
        grants: pack.grants.clone(),
        cleanup: Default::default(),
    });
    let op = || async {
        let session = Arc::new(SessionSlot::new(app.services.sessions.clone(), "bench", None));
        let caps =
            CapsContext { call: call.clone(), services: app.services.clone(), session, progress: Default::default() };
        let operation = Operation::Call { tool, input: &input };
        Ok(app.engine.invoke(pack.linked(), pack.limits, caps, operation).await.result?)
    };
    fixture::check_output("PackEngine::invoke", &serde_json::from_str::<Value>(&op().await?)?)?;
    let samples = sample(ctx.plan(20_000), op).await?;
    let description = "text.stats instantiated in a fresh Store (WASI context, memory limiter, epoch deadline) \
                       and called through PackEngine::invoke, in process";
    Ok(Entry::new(GROUP, "engine.invoke", description, Unit::Micros, &samples)
        .target(Target::P50 { max: INVOKE_P50_MAX_US })
        .context("tool", TOOL)
        .context("allocator", format!("{:?}", app.engine.allocator()))
        .context("input_bytes", input.len()))
}

/// `Dispatcher::call`: the path REST, MCP and the CLI share.
async fn dispatch(app: &Arc<Helmdeck>, ctx: &Context) -> Result<Entry> {
    let tool = ToolRef::parse(TOOL)?;
    let input = fixture::input();
    let op = || async {
        let request = CallRequest::new(tool.clone(), input.clone(), "bench", "bench");
        app.dispatcher.call(request).await.map_err(|failure| anyhow::Error::new(failure.error))
    };
    fixture::check_output("Dispatcher::call", &op().await?.output)?;
    let samples = sample(ctx.plan(5_000), op).await?;
    let description = "text.stats through Dispatcher::call, in process: resolve, validate the input, \
                       PackEngine::invoke, validate the output, append the audit record (SQLite, hash chain)";
    Ok(Entry::new(GROUP, "engine.dispatch", description, Unit::Micros, &samples)
        .context("tool", TOOL)
        .context("allocator", format!("{:?}", app.engine.allocator())))
}
