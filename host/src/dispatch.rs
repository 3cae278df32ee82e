//! One tool call, end to end, shared by REST, MCP and the CLI: resolve the
//! tool, bind the session, validate the input, run the pack in a fresh
//! instance, validate the output, and record the call in the audit log.
//! However the call ends (done, failed, past its time limit, cancelled,
//! its caller gone), what its capability calls started is ended and
//! recorded before the call's own record, which is always the last.

use crate::audit::{AuditEvent, AuditKind, Decision, Outcome};
use crate::caps::cleanup::CallCleanup;
use crate::caps::progress::ProgressSink;
use crate::caps::{CallInfo, CapsContext, HostServices};
use crate::engine::{CapturedLog, Operation, PackEngine};
use crate::registry::{PackRegistry, ToolRef};
use crate::sessions::SessionSlot;
use crate::{Error, ErrorCode, Result};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The input field naming the session a call runs in. It is taken out of
/// the input before validation, so tools never see it.
pub const SESSION_FIELD: &str = "_session_id";

/// A request to run one tool.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub tool: ToolRef,
    /// The tool's input; may carry `_session_id`.
    pub input: Value,
    /// The token subject (or `cli`) on whose behalf the tool runs.
    pub actor: String,
    /// Where the call came in (`POST /api/v1/packs/{name}`, `mcp tools/call`, `cli`), for the audit log.
    pub via: String,
    /// The client software, as it named itself (MCP `clientInfo`: `claude-code 2.1.0`), for the audit log.
    pub client: Option<String>,
    /// Where the pack's progress reports go; the default discards them.
    pub progress: ProgressSink,
}

impl CallRequest {
    /// A call of `tool` with `input` by `actor`, arriving `via`; no client
    /// name or progress follower.
    pub fn new(tool: ToolRef, input: Value, actor: impl Into<String>, via: impl Into<String>) -> Self {
        CallRequest {
            tool,
            input,
            actor: actor.into(),
            via: via.into(),
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
    /// The session the call ran in, when it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
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

/// What a successful pack run produced, before it is wrapped for the caller.
struct Completed {
    pack: String,
    tool: String,
    version: String,
    output: Value,
}

/// The guest's stdout and stderr of a call that reached the pack.
type GuestLogs = Option<(CapturedLog, CapturedLog)>;

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
    /// the outcome). The call runs in a task of its own, so dropping this
    /// future (a REST client that went away) does not cut it off
    /// unrecorded: it cancels it as [`Dispatcher::call_until`] does.
    pub async fn call(&self, req: CallRequest) -> Result<CallResponse, CallFailure> {
        self.call_until(req, std::future::pending()).await
    }

    /// [`Dispatcher::call`], stopped when `cancelled` completes first (the
    /// caller gave up: MCP `notifications/cancelled`) or when this future is
    /// dropped. The pack stops at its next epoch tick, every process and
    /// blocking task its capability calls started is ended, the records of
    /// the capability calls it cut off are written, its ephemeral session is
    /// closed, and then its API record says `cancelled`. A caller still
    /// listening gets `timeout`, the closest code of the closed set.
    pub async fn call_until(
        &self,
        req: CallRequest,
        cancelled: impl Future<Output = ()>,
    ) -> Result<CallResponse, CallFailure> {
        let call_id = uuid::Uuid::now_v7().to_string();
        let stop = CancellationToken::new();
        let stop_when_dropped = stop.clone().drop_guard();
        let mut call = tokio::spawn(self.clone().settle(req, call_id.clone(), stop.clone()));
        let joined = tokio::select! {
            joined = &mut call => joined,
            () = cancelled => {
                stop.cancel();
                call.await
            }
        };
        stop_when_dropped.disarm();
        joined.unwrap_or_else(|e| {
            tracing::error!(error = %e, call_id, "a call's task failed");
            Err(CallFailure { call_id, error: Error::internal(format!("the call's task failed: {e}")) })
        })
    }

    /// One call from start to its API record: run the pack until it ends or
    /// `stop` is cancelled, then settle what the call leaves (its cleanup,
    /// the records of capability calls it cut off, its ephemeral session)
    /// and write the API record last, so nothing of the call runs on after
    /// its record says it ended.
    async fn settle(
        self,
        mut req: CallRequest,
        call_id: String,
        stop: CancellationToken,
    ) -> Result<CallResponse, CallFailure> {
        let started = Instant::now();
        let mut audit = AuditEvent::new(AuditKind::Api, req.actor.clone());
        audit.call_id = Some(call_id.clone());
        audit.capability = Some(req.via.clone());
        audit.pack = Some(req.tool.pack.clone());
        audit.tool = Some(req.tool.tool.clone());
        audit.target = Some(req.tool.to_string());
        if let Some(client) = &req.client {
            audit.details = Some(serde_json::json!({ "client": client }));
        }

        let named = take_session_id(&mut req.input);
        let named_id = named.as_ref().ok().cloned().flatten();
        // The slot `run` makes, held here so that a finished and a cancelled
        // call alike close the ephemeral session it opened (its browser
        // context, its directory) instead of leaving it to expire.
        let made = std::sync::OnceLock::new();
        let cleanup = CallCleanup::default();
        let (result, logs, cancelled) = match named {
            Ok(named) => tokio::select! {
                biased;
                () = stop.cancelled() => (Err(cancelled_by_caller(&req.tool)), None, true),
                (result, logs) = self.run(&req, named, &call_id, &mut audit, &made, &cleanup) => (result, logs, false),
            },
            Err(e) => (Err(e), None, false),
        };
        // The pack has stopped; what its capability calls left is settled
        // before the call's own record.
        let (ending, why) = match (&result, cancelled) {
            (_, true) => (Outcome::Cancelled, "the call was cancelled by its caller while this ran".to_owned()),
            (Err(e), false) => (Outcome::Error(e.code), format!("the call ended while this ran: {}", e.message)),
            (Ok(_), false) => {
                (Outcome::Error(ErrorCode::InternalError), "the capability call ended without its record".to_owned())
            }
        };
        for event in cleanup.finish(ending, &why).await {
            if let Err(e) = self.services.audit.record(event).await {
                tracing::error!(error = %e, call_id, "the record of a capability call cut off could not be written");
            }
        }
        let slot: Option<&Arc<SessionSlot>> = made.get();
        audit.session = slot.and_then(|s| s.id());
        if let Some(slot) = slot
            && let Err(e) = slot.release().await
        {
            tracing::warn!(error = %e, "could not close the call's ephemeral session");
        }
        audit.duration_us = started.elapsed().as_micros() as u64;
        record_outcome(&mut audit, &result, logs);
        if cancelled {
            audit.outcome = Outcome::Cancelled;
        }
        let fail = |error: Error| CallFailure { call_id: call_id.clone(), error };
        self.services.audit.record(audit).await.map_err(fail)?;
        let done = result.map_err(fail)?;
        Ok(CallResponse {
            call_id: call_id.clone(),
            pack: done.pack,
            tool: done.tool,
            version: done.version,
            session_id: named_id,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            output: done.output,
        })
    }

    async fn run(
        &self,
        req: &CallRequest,
        named_session: Option<String>,
        call_id: &str,
        audit: &mut AuditEvent,
        made: &std::sync::OnceLock<Arc<SessionSlot>>,
        cleanup: &CallCleanup,
    ) -> (Result<Completed>, GuestLogs) {
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
        let named = match &named_session {
            Some(id) => match self.services.sessions.acquire(id, &req.actor).await {
                Ok(session) => Some(session),
                Err(e) => return (Err(e), None),
            },
            None => None,
        };
        let slot = made.get_or_init(|| Arc::new(SessionSlot::new(self.services.sessions.clone(), &req.actor, named)));
        let input = req.input.to_string();
        audit.bytes_in = input.len() as u64;
        let caps = CapsContext {
            call: Arc::new(CallInfo {
                call_id: call_id.to_owned(),
                actor: req.actor.clone(),
                session: named_session,
                pack: pack.manifest.name.clone(),
                version: version.clone(),
                digest: pack.digest.to_hex(),
                tool: Some(tool.name.clone()),
                grants: pack.grants.clone(),
                cleanup: cleanup.clone(),
            }),
            services: self.services.clone(),
            session: slot.clone(),
            progress: req.progress.clone(),
        };
        let invocation = self
            .engine
            .invoke(&pack.linked, pack.limits, caps, Operation::Call { tool: &tool.name, input: &input })
            .await;
        let logs = Some((invocation.stdout, invocation.stderr));
        let output = match invocation.result {
            Ok(text) => text,
            Err(e) => return (Err(e), logs),
        };
        audit.bytes_out = output.len() as u64;
        let checked = serde_json::from_str::<Value>(&output)
            .map_err(|e| {
                Error::new(ErrorCode::SchemaMismatch, format!("`{qualified}` returned output that is not JSON: {e}"))
            })
            .and_then(|value| tool.check_output(&qualified, &value).map(|()| value));
        let completed = checked.map(|output| Completed {
            pack: pack.manifest.name.clone(),
            tool: tool.name.clone(),
            version,
            output,
        });
        (completed, logs)
    }
}

/// Remove `_session_id` from an object input; `invalid_input` when it is not a string.
fn take_session_id(input: &mut Value) -> Result<Option<String>> {
    let Some(object) = input.as_object_mut() else {
        return Ok(None);
    };
    match object.remove(SESSION_FIELD) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(Error::invalid_input(format!("`{SESSION_FIELD}` must be a session id string"))),
    }
}

/// Fill the audit record's outcome, decision and the guest's output.
fn record_outcome(audit: &mut AuditEvent, result: &Result<Completed>, logs: GuestLogs) {
    if let Err(e) = result {
        audit.outcome = Outcome::Error(e.code);
        if e.code == ErrorCode::Unauthorized {
            audit.decision = Decision::Deny;
        }
        let details = audit.details.get_or_insert_with(|| serde_json::json!({}));
        details["message"] = e.message.clone().into();
    }
    let Some((stdout, stderr)) = logs else {
        return;
    };
    for (name, log) in [("stdout", stdout), ("stderr", stderr)] {
        if !log.text.is_empty() || log.dropped > 0 {
            let details = audit.details.get_or_insert_with(|| serde_json::json!({}));
            details[name] = serde_json::to_value(&log).unwrap_or_default();
        }
    }
}

/// The error of a call its caller gave up on. `timeout` is the closest code
/// of the closed set: the call was stopped before it finished.
fn cancelled_by_caller(tool: &ToolRef) -> Error {
    Error::new(ErrorCode::Timeout, format!("the call of `{tool}` was cancelled by its caller and stopped"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_session_field_is_taken_out_of_the_input() {
        let mut input = json!({"url": "x", "_session_id": "abc"});
        assert_eq!(take_session_id(&mut input).unwrap(), Some("abc".into()));
        assert_eq!(input, json!({"url": "x"}));
        let mut bad = json!({"_session_id": 5});
        assert!(take_session_id(&mut bad).unwrap_err().message.contains("_session_id"));
        assert_eq!(take_session_id(&mut json!([1])).unwrap(), None);
    }
}
