//! One tool call, end to end, shared by REST, MCP and the CLI: resolve the
//! tool, validate the input, run the pack in a fresh instance, validate the
//! output, and record the call in the audit log.

use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use crate::caps::progress::ProgressSink;
use crate::caps::{CallInfo, CapsContext, HostServices};
use crate::engine::{CapturedLog, Operation, PackEngine};
use crate::registry::{PackRegistry, ToolRef};
use crate::{Error, ErrorCode, Result};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// A request to run one tool.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub tool: ToolRef,
    pub input: Value,
    /// The token subject (or `cli`) on whose behalf the tool runs.
    pub actor: String,
    /// Where the call came in (`POST /api/v1/packs/{tool}`, `mcp tools/call`, `cli`), for the audit log.
    pub via: String,
    pub session: Option<String>,
    /// The client software, as it named itself (MCP `clientInfo`: `claude-code 2.1.0`), for the audit log.
    pub client: Option<String>,
    /// Where the pack's progress reports go; the default discards them.
    pub progress: ProgressSink,
}

impl CallRequest {
    /// A call of `tool` with `input` by `actor`, arriving `via`; no session,
    /// client name or progress follower.
    pub fn new(tool: ToolRef, input: Value, actor: impl Into<String>, via: impl Into<String>) -> Self {
        CallRequest {
            tool,
            input,
            actor: actor.into(),
            via: via.into(),
            session: None,
            client: None,
            progress: ProgressSink::default(),
        }
    }
}

/// A successful call.
#[derive(Debug, Clone, Serialize)]
pub struct CallResponse {
    pub call_id: String,
    pub pack: String,
    pub tool: String,
    pub version: String,
    pub duration_ms: f64,
    /// The tool's output, valid against its output schema.
    pub output: Value,
}

/// A failed call: the error plus the call id to find it in the audit log.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub call_id: String,
    pub error: Error,
}

/// Runs tool calls against the registry's current snapshot.
#[derive(Clone)]
pub struct Dispatcher {
    registry: Arc<PackRegistry>,
    engine: Arc<PackEngine>,
    services: Arc<HostServices>,
}

impl Dispatcher {
    /// A dispatcher over `registry`, running packs on `engine`.
    pub fn new(registry: Arc<PackRegistry>, engine: Arc<PackEngine>, services: Arc<HostServices>) -> Self {
        Dispatcher { registry, engine, services }
    }

    /// Run one call and audit it (exactly one API record per call, whatever
    /// the outcome). Dropping the future cancels the pack at its next epoch
    /// tick, unaudited; use [`Dispatcher::call_until`] to cancel with a record.
    pub async fn call(&self, req: CallRequest) -> Result<CallResponse, CallFailure> {
        self.call_until(req, std::future::pending()).await
    }

    /// [`Dispatcher::call`], stopped when `cancelled` completes first (the
    /// caller gave up: MCP `notifications/cancelled`, a dropped request). The
    /// pack stops at its next epoch tick and the call is audited as
    /// `timeout` with a message saying the caller cancelled it.
    pub async fn call_until(
        &self,
        req: CallRequest,
        cancelled: impl Future<Output = ()>,
    ) -> Result<CallResponse, CallFailure> {
        let started = Instant::now();
        let call_id = uuid::Uuid::now_v7().to_string();
        let mut audit = AuditEvent::new(AuditKind::Api, req.actor.clone());
        audit.call_id = Some(call_id.clone());
        audit.session = req.session.clone();
        audit.capability = Some(req.via.clone());
        audit.pack = Some(req.tool.pack.clone());
        audit.tool = Some(req.tool.tool.clone());
        audit.target = Some(req.tool.to_string());

        if let Some(client) = &req.client {
            audit.details = Some(serde_json::json!({ "client": client }));
        }
        let (result, logs) = tokio::select! {
            outcome = self.run(&req, &call_id, &mut audit) => outcome,
            () = cancelled => (Err(cancelled_by_caller(&req.tool)), None),
        };
        audit.duration_us = started.elapsed().as_micros() as u64;
        if let Err(e) = &result {
            audit.outcome = Outcome::Error(e.code);
            if e.code == ErrorCode::Unauthorized {
                audit.decision = Decision::Deny;
            }
            let details = audit.details.get_or_insert_with(|| serde_json::json!({}));
            details["message"] = e.message.clone().into();
        }
        if let Some((stdout, stderr)) = logs {
            let details = audit.details.get_or_insert_with(|| serde_json::json!({}));
            if !stdout.text.is_empty() || stdout.dropped > 0 {
                details["stdout"] = serde_json::to_value(&stdout).unwrap_or_default();
            }
            if !stderr.text.is_empty() || stderr.dropped > 0 {
                details["stderr"] = serde_json::to_value(&stderr).unwrap_or_default();
            }
        }
        let recorded = self.services.audit.record(audit.clone()).await;
        let fail = |error: Error| CallFailure { call_id: call_id.clone(), error };
        recorded.map_err(fail)?;
        result.map_err(fail).map(|(pack, tool, version, output)| CallResponse {
            call_id: call_id.clone(),
            pack,
            tool,
            version,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            output,
        })
    }

    #[allow(clippy::type_complexity)]
    async fn run(
        &self,
        req: &CallRequest,
        call_id: &str,
        audit: &mut AuditEvent,
    ) -> (Result<(String, String, String, Value)>, Option<(CapturedLog, CapturedLog)>) {
        let snapshot = self.registry.snapshot();
        let (pack, index) = match snapshot.resolve(&req.tool) {
            Ok(found) => found,
            Err(e) => return (Err(e), None),
        };
        let tool = pack.tool(index);
        let version = pack.manifest.version.to_string();
        let qualified = format!("{}.{}", pack.manifest.name, tool.name);
        audit.version = Some(version.clone());
        audit.digest = Some(pack.digest.to_hex());
        if let Err(e) = tool.check_input(&qualified, &req.input) {
            return (Err(e), None);
        }
        let input = req.input.to_string();
        audit.bytes_in = input.len() as u64;
        let caps = CapsContext {
            call: Arc::new(CallInfo {
                call_id: call_id.to_owned(),
                actor: req.actor.clone(),
                session: req.session.clone(),
                pack: pack.manifest.name.clone(),
                version: version.clone(),
                digest: pack.digest.to_hex(),
                tool: Some(tool.name.clone()),
                grants: pack.grants.clone(),
            }),
            services: self.services.clone(),
            progress: req.progress.clone(),
        };
        let invocation =
            self.engine.invoke(&pack.linked, pack.limits, caps, Operation::Call { tool: &tool.name, input: &input }).await;
        let logs = Some((invocation.stdout, invocation.stderr));
        let output = match invocation.result {
            Ok(text) => text,
            Err(e) => return (Err(e), logs),
        };
        audit.bytes_out = output.len() as u64;
        let value: Value = match serde_json::from_str(&output) {
            Ok(v) => v,
            Err(e) => {
                let err = Error::new(
                    ErrorCode::SchemaMismatch,
                    format!("`{qualified}` returned output that is not JSON: {e}"),
                );
                return (Err(err), logs);
            }
        };
        if let Err(e) = tool.check_output(&qualified, &value) {
            return (Err(e), logs);
        }
        (Ok((pack.manifest.name.clone(), tool.name.clone(), version, value)), logs)
    }
}

/// The error of a call its caller gave up on. `timeout` is the closest code
/// of the closed set: the call was stopped before it finished.
fn cancelled_by_caller(tool: &ToolRef) -> Error {
    Error::new(ErrorCode::Timeout, format!("the call of `{tool}` was cancelled by its caller and stopped"))
}
