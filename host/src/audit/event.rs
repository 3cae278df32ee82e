//! What one audit record says: who did what to which target, and how it ended.

use crate::error::ErrorCode;
use serde::{Deserialize, Serialize};

/// Which layer produced a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// One request to the REST or MCP API (a tool call, a listing, ...).
    Api,
    /// One capability call a pack made through the host (`http.fetch`, ...).
    Capability,
    /// An administrative change: pack install or removal, grants, tokens.
    Admin,
}

impl AuditKind {
    /// Every kind, in declaration order.
    pub const ALL: [AuditKind; 3] = [AuditKind::Api, AuditKind::Capability, AuditKind::Admin];

    /// The wire and storage name (`api`, `capability`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Api => "api",
            AuditKind::Capability => "capability",
            AuditKind::Admin => "admin",
        }
    }

    /// Parse a name written by [`AuditKind::as_str`].
    pub fn parse(name: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Whether the host let the action happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The action was permitted (it may still have failed).
    Allow,
    /// A policy refused it (egress guard, grant, scope, ACL).
    Deny,
}

impl Decision {
    /// The wire and storage name (`allow`, `deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    /// Parse a name written by [`Decision::as_str`].
    pub fn parse(name: &str) -> Option<Decision> {
        [Decision::Allow, Decision::Deny].into_iter().find(|d| d.as_str() == name)
    }
}

/// How an action ended: `ok`, `cancelled`, or one error code of the closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// Its caller gave up on it (MCP `notifications/cancelled`, a REST
    /// client that disconnected) and it was stopped, with everything it
    /// started. An audit outcome, not an error code: nothing failed, and no
    /// client is left to be told (a caller that does hear back, such as
    /// `Dispatcher::call_until`'s, gets `timeout`).
    Cancelled,
    /// It failed with this code.
    #[serde(untagged)]
    Error(ErrorCode),
}

impl Outcome {
    /// The wire name: `ok`, `cancelled` or the error code's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Cancelled => "cancelled",
            Outcome::Error(code) => code.as_str(),
        }
    }

    /// Parse a wire name written by [`Outcome::as_str`].
    pub fn parse(name: &str) -> Option<Outcome> {
        match name {
            "ok" => Some(Outcome::Ok),
            "cancelled" => Some(Outcome::Cancelled),
            _ => ErrorCode::parse(name).map(Outcome::Error),
        }
    }
}

/// One event to append to the audit log. The log adds the id, the time and
/// the hash chain. Callers must not put secrets here; the log redacts known
/// secret shapes again anyway (see [`crate::audit::redact`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Which layer produced the event; a filter in audit queries.
    pub kind: AuditKind,
    /// The token subject (or `cli` / `system`) on whose behalf this ran.
    pub actor: String,
    /// The call this event belongs to; capability events share their API call's id.
    pub call_id: Option<String>,
    /// The session (browser, desktop, workspace) the call ran in, if any.
    pub session: Option<String>,
    /// The pack that ran or was administered.
    pub pack: Option<String>,
    /// The tool within `pack` (`read` of `fs.read`).
    pub tool: Option<String>,
    /// The pack's semver version, so a record names exactly what ran.
    pub version: Option<String>,
    /// Hex SHA-256 of the pack's component.
    pub digest: Option<String>,
    /// The capability interface used (`http`, `artifacts`, ...), for `Capability` events;
    /// the route or admin action (`POST /api/v1/packs/{tool}`, `pack.install`) otherwise.
    pub capability: Option<String>,
    /// What was acted on: a URL, a path, an artifact id.
    pub target: Option<String>,
    /// Whether the host permitted the action.
    pub decision: Decision,
    /// How the action ended.
    pub outcome: Outcome,
    /// Wall-clock duration in microseconds.
    pub duration_us: u64,
    /// Bytes received from the caller (request body, guest input).
    pub bytes_in: u64,
    /// Bytes returned to the caller (response body, guest output).
    pub bytes_out: u64,
    /// Extra JSON: the error message, the guest's captured stdout/stderr, ...
    pub details: Option<serde_json::Value>,
}

impl AuditEvent {
    /// An event of `kind` by `actor`, allowed and successful, with every
    /// optional field empty; fill in the rest with struct update syntax.
    pub fn new(kind: AuditKind, actor: impl Into<String>) -> Self {
        AuditEvent {
            kind,
            actor: actor.into(),
            call_id: None,
            session: None,
            pack: None,
            tool: None,
            version: None,
            digest: None,
            capability: None,
            target: None,
            decision: Decision::Allow,
            outcome: Outcome::Ok,
            duration_us: 0,
            bytes_in: 0,
            bytes_out: 0,
            details: None,
        }
    }
}
