//! An audit record as callers see it ([`AuditRecord`]) and as the store
//! keeps it and the hash chain covers it ([`AuditRow`]).

use super::{AuditEvent, AuditKind, Decision, Outcome};
use crate::store::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// One record of the audit log: the submitted event plus what the log added.
///
/// Serializes flat for REST: `id`, `ts` (RFC 3339 UTC with microseconds),
/// every [`AuditEvent`] field (`outcome` is `ok`, `cancelled` or the
/// snake_case error code), `prev_hash` and `hash` (lowercase hex SHA-256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its position in the chain: 1 for the first record, then consecutive.
    pub id: i64,
    /// When it was appended.
    pub ts: Timestamp,
    /// What happened, after redaction.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The hash of the record before it ([`super::GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this record's fields (see [`super::chain`]).
    pub hash: String,
}

/// The stored form of one audit record: each column exactly as the database
/// holds it, which is what the hash covers.
///
/// Verification works on rows rather than decoded records, so a hand edit
/// that leaves a column undecodable (an unknown outcome, a negative size)
/// still shows up as a chain break at that row rather than as a read error.
/// Fields are the columns of the `audit_log` table, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The record's position in the chain.
    pub id: i64,
    /// When it was appended, in microseconds since the Unix epoch.
    pub ts_us: i64,
    /// [`AuditKind::as_str`] of the event's kind.
    pub kind: String,
    /// The event's actor.
    pub actor: String,
    /// The event's call id.
    pub call_id: Option<String>,
    /// The event's session.
    pub session: Option<String>,
    /// The event's pack.
    pub pack: Option<String>,
    /// The event's tool.
    pub tool: Option<String>,
    /// The event's pack version.
    pub version: Option<String>,
    /// The event's component digest.
    pub digest: Option<String>,
    /// The event's capability, route or admin action.
    pub capability: Option<String>,
    /// The event's target, redacted.
    pub target: Option<String>,
    /// [`Decision::as_str`] of the event's decision.
    pub decision: String,
    /// [`Outcome::as_str`] of the event's outcome.
    pub outcome: String,
    /// The event's duration, bits of the `u64`.
    pub duration_us: i64,
    /// The event's bytes in, bits of the `u64`.
    pub bytes_in: i64,
    /// The event's bytes out, bits of the `u64`.
    pub bytes_out: i64,
    /// The event's details as compact JSON text, redacted.
    pub details: Option<String>,
    /// The hash of the record before it.
    pub prev_hash: String,
    /// The hash of this row (see [`super::chain`]).
    pub hash: String,
}

impl AuditRow {
    /// The row that stores `event` as record `id`, appended at `ts` after the
    /// record whose hash is `prev_hash`, with its own hash computed.
    pub fn seal(id: i64, ts: Timestamp, prev_hash: String, event: &AuditEvent) -> AuditRow {
        let mut row = AuditRow {
            id,
            ts_us: ts.as_micros(),
            kind: event.kind.as_str().to_owned(),
            actor: event.actor.clone(),
            call_id: event.call_id.clone(),
            session: event.session.clone(),
            pack: event.pack.clone(),
            tool: event.tool.clone(),
            version: event.version.clone(),
            digest: event.digest.clone(),
            capability: event.capability.clone(),
            target: event.target.clone(),
            decision: event.decision.as_str().to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            duration_us: event.duration_us.cast_signed(),
            bytes_in: event.bytes_in.cast_signed(),
            bytes_out: event.bytes_out.cast_signed(),
            details: event.details.as_ref().map(|d| d.to_string()),
            prev_hash,
            hash: String::new(),
        };
        row.hash = row.compute_hash();
        row
    }

    /// Decode the row into the record callers see; fails with
    /// [`StoreError::Corrupt`] naming the column a hand edit broke.
    pub fn decode(self) -> Result<AuditRecord, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { what: "audit record", key: self.id.to_string(), reason };
        let ts = Timestamp::from_micros(self.ts_us)
            .ok_or_else(|| corrupt(format!("ts_us {} is out of range", self.ts_us)))?;
        let kind = AuditKind::parse(&self.kind).ok_or_else(|| corrupt(format!("kind `{}` is unknown", self.kind)))?;
        let decision = Decision::parse(&self.decision)
            .ok_or_else(|| corrupt(format!("decision `{}` is unknown", self.decision)))?;
        let outcome =
            Outcome::parse(&self.outcome).ok_or_else(|| corrupt(format!("outcome `{}` is unknown", self.outcome)))?;
        let details = match &self.details {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| corrupt(format!("details are not JSON: {e}")))?),
            None => None,
        };
        let event = AuditEvent {
            kind,
            actor: self.actor,
            call_id: self.call_id,
            session: self.session,
            pack: self.pack,
            tool: self.tool,
            version: self.version,
            digest: self.digest,
            capability: self.capability,
            target: self.target,
            decision,
            outcome,
            duration_us: self.duration_us.cast_unsigned(),
            bytes_in: self.bytes_in.cast_unsigned(),
            bytes_out: self.bytes_out.cast_unsigned(),
            details,
        };
        Ok(AuditRecord { id: self.id, ts, event, prev_hash: self.prev_hash, hash: self.hash })
    }
}
