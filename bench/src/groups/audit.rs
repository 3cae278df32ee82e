//! The audit write path alone: one API record, shaped like the one the
//! dispatcher writes per tool call, through `AuditLog::record` (redaction,
//! the blocking-pool hop, the SQLite append with its hash chain). Read next
//! to `engine.dispatch` minus `engine.invoke`, it shows what a call's record
//! costs.

use super::Context;
use crate::fixture::{self, TOOL};
use crate::report::{Entry, Unit};
use crate::sample::sample;
use anyhow::Result;
use helmdeck::audit::{AuditEvent, AuditKind};
use helmdeck::registry::ToolRef;

pub fn run(ctx: &Context) -> Result<Vec<Entry>> {
    ctx.in_process(async |app| {
        let tool = ToolRef::parse(TOOL)?;
        let snapshot = app.registry.snapshot();
        let (pack, _) = snapshot.resolve(&tool)?;
        let mut event = AuditEvent::new(AuditKind::Api, "bench");
        event.capability = Some(format!("POST /api/v1/packs/{TOOL}"));
        event.pack = Some(tool.pack.clone());
        event.tool = Some(tool.tool.clone());
        event.target = Some(TOOL.into());
        event.version = Some(pack.manifest.version.to_string());
        event.digest = Some(pack.digest.to_hex());
        event.bytes_in = fixture::input().to_string().len() as u64;
        event.bytes_out = fixture::expected_output()?.to_string().len() as u64;
        let op = || {
            let mut event = event.clone();
            event.call_id = Some(uuid::Uuid::now_v7().to_string());
            let record = app.audit.record(event);
            async move { Ok(record.await?) }
        };
        let samples = sample(ctx.plan(5_000), op).await?;
        let description = "one tool-call API record through AuditLog::record: redaction, spawn_blocking, \
                           SQLite append (WAL, synchronous=NORMAL) with the SHA-256 hash chain";
        Ok(vec![Entry::new("audit", "audit.record", description, Unit::Micros, &samples)])
    })
}
