//! The audit record of one gateway call, gathered while it runs: who asked
//! for which model, every attempt (model, key origin, the guard's verdict,
//! outcome, latency), who answered, tokens and time to first output. It
//! never holds a prompt, an answer or a key.

use super::Caller;
use super::config::ModelRef;
use super::keys::KeyOrigin;
use super::transport::Egress;
use crate::audit::{AuditEvent, Decision, Outcome};
use crate::{Error, ErrorCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One attempt at one model.
#[derive(Debug)]
pub struct AttemptLog {
    pub model: ModelRef,
    pub origin: Option<KeyOrigin>,
    pub egress: Option<Egress>,
    pub started: Instant,
}

impl AttemptLog {
    pub fn new(model: ModelRef) -> AttemptLog {
        AttemptLog { model, origin: None, egress: None, started: Instant::now() }
    }

    fn to_json(&self, outcome: Option<&Error>) -> Value {
        let mut out = json!({
            "model": self.model.to_string(),
            "outcome": outcome.map_or("ok", |e| e.code.as_str()),
            "latency_ms": millis(self.started.elapsed()),
        });
        if let Some(e) = outcome {
            out["message"] = json!(e.message);
            if let Some(ms) = e.retry_after_ms {
                out["retry_after_ms"] = json!(ms);
            }
        }
        match &self.origin {
            Some(KeyOrigin::Vault { name, .. }) => out["from_vault"] = json!(name),
            Some(KeyOrigin::Env(source)) => out["from_env"] = json!(source),
            None => {}
        }
        if let Some(egress) = &self.egress {
            out["egress"] = json!(format!("{}: {}", egress.decision.as_str(), egress.reason));
        }
        out
    }
}

/// What one call's record will say.
#[derive(Debug)]
pub struct CallRecord {
    caller: Caller,
    requested: String,
    pub alias: Option<String>,
    stream: bool,
    started: Instant,
    attempts: Vec<Value>,
    denied: bool,
    pub answered: Option<ModelRef>,
    pub tokens: (u64, u64),
    pub first_output: Option<Duration>,
    pub bytes_out: u64,
}

impl CallRecord {
    pub fn new(caller: &Caller, requested: &str, stream: bool) -> CallRecord {
        CallRecord {
            caller: caller.clone(),
            requested: requested.to_owned(),
            alias: None,
            stream,
            started: Instant::now(),
            attempts: Vec::new(),
            denied: false,
            answered: None,
            tokens: (0, 0),
            first_output: None,
            bytes_out: 0,
        }
    }

    /// How long the call has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Note a finished attempt.
    pub fn attempt(&mut self, log: &AttemptLog, outcome: Option<&Error>) {
        self.denied |= log.egress.as_ref().is_some_and(|e| e.decision == Decision::Deny);
        self.attempts.push(log.to_json(outcome));
    }

    /// The attempts so far, for an error's `details`.
    pub fn attempts(&self) -> Value {
        Value::Array(self.attempts.clone())
    }

    /// The audit event for the call ending with `outcome`; `ended` says how a
    /// stream ended when it did not end normally.
    pub fn event(&self, outcome: Result<(), &Error>, ended: Option<&str>) -> AuditEvent {
        let mut event = AuditEvent::new(self.caller.kind, self.caller.subject.clone());
        event.call_id = Some(self.caller.call_id.clone());
        event.pack = self.caller.pack.clone();
        event.capability = Some(self.caller.via.clone());
        event.target = Some(self.answered.as_ref().map_or_else(|| self.requested.clone(), ToString::to_string));
        event.duration_us = self.started.elapsed().as_micros() as u64;
        event.bytes_in = self.caller.request_bytes;
        event.bytes_out = self.bytes_out;
        let mut details = json!({
            "requested": self.requested,
            "stream": self.stream,
            "tokens_in": self.tokens.0,
            "tokens_out": self.tokens.1,
            "latency_ms": millis(self.started.elapsed()),
            "attempts": self.attempts,
        });
        if let Some(alias) = &self.alias {
            details["alias"] = json!(alias);
        }
        if let Some(model) = &self.answered {
            details["provider"] = json!(model.provider);
            details["model"] = json!(model.model);
        }
        if let Some(first) = self.first_output {
            details["first_output_ms"] = json!(millis(first));
        }
        if let Some(ended) = ended {
            details["ended"] = json!(ended);
        }
        if let Err(error) = outcome {
            event.outcome = Outcome::Error(error.code);
            details["error"] = json!(error.message);
            if self.denied || matches!(error.code, ErrorCode::Unauthorized | ErrorCode::EgressDenied) {
                event.decision = Decision::Deny;
            }
        }
        event.details = Some(details);
        event
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
