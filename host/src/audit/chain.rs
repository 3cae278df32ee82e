//! The hash chain that makes the audit log tamper-evident, and its verifier.
//!
//! Record `n` stores `prev_hash` (the `hash` of record `n - 1`, or
//! [`GENESIS_HASH`] for record 1) and
//! `hash = hex(sha256(prev_hash || canonical(row)))`, where `prev_hash` enters
//! as its 64 ASCII hex digits and `canonical(row)` is every other column of
//! the stored row, in table order, encoded without ambiguity:
//!
//! - an integer (`id`, `ts_us`, `duration_us`, `bytes_in`, `bytes_out`): its
//!   8 bytes, big-endian two's complement;
//! - a text (`kind`, `actor`, `decision`, `outcome`): its UTF-8 length as
//!   8 bytes big-endian, then its bytes;
//! - an optional text (`call_id`, `session`, `pack`, `tool`, `version`,
//!   `digest`, `capability`, `target`, `details`): `0x00` when absent, else
//!   `0x01` and the text as above.
//!
//! Any backend or an external tool can recompute it from the stored columns.
//! Changing a column of a stored row changes its hash; deleting a row breaks
//! the link of the row after it. Truncating the newest records is not
//! detectable from the chain alone: anchor the latest hash elsewhere for that.

use super::AuditRow;
use crate::store::{Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many rows verification reads from the store at a time.
const VERIFY_BATCH: usize = 1000;

impl AuditRow {
    /// The hash this row must carry, computed from its other columns.
    pub fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        let mut canonical = Canonical(&mut hasher);
        canonical.int(self.id);
        canonical.int(self.ts_us);
        canonical.text(&self.kind);
        canonical.text(&self.actor);
        for optional in [
            &self.call_id,
            &self.session,
            &self.pack,
            &self.tool,
            &self.version,
            &self.digest,
            &self.capability,
            &self.target,
        ] {
            canonical.optional(optional.as_deref());
        }
        canonical.text(&self.decision);
        canonical.text(&self.outcome);
        canonical.int(self.duration_us);
        canonical.int(self.bytes_in);
        canonical.int(self.bytes_out);
        canonical.optional(self.details.as_deref());
        hex::encode(hasher.finalize())
    }
}

/// The canonical encoding of the module docs, written straight into the hasher.
struct Canonical<'a>(&'a mut Sha256);

impl Canonical<'_> {
    fn int(&mut self, value: i64) {
        self.0.update(value.to_be_bytes());
    }

    fn text(&mut self, value: &str) {
        self.0.update((value.len() as u64).to_be_bytes());
        self.0.update(value.as_bytes());
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            None => self.0.update([0u8]),
            Some(text) => {
                self.0.update([1u8]);
                self.text(text);
            }
        }
    }
}

/// The outcome of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// How many records were checked, the broken one included.
    pub records: u64,
    /// The first record at which the chain breaks; `None` when it is intact.
    pub first_break: Option<ChainBreak>,
}

impl ChainReport {
    /// Whether every record checked out.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The id of the first record that does not check out (for
    /// [`BreakReason::Missing`], the id that is absent).
    pub id: i64,
    /// What is wrong with it.
    pub reason: BreakReason,
}

/// Why a record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BreakReason {
    /// The stored hash is not the hash of the stored columns: the row was
    /// edited after it was written.
    HashMismatch {
        /// The `hash` column.
        stored: String,
        /// The hash of the columns as they are now.
        computed: String,
    },
    /// `prev_hash` is not the hash of the record before it: a record was
    /// inserted or replaced, or this `prev_hash` was edited.
    BrokenLink {
        /// The hash of the previous record (or the genesis value).
        expected: String,
        /// The `prev_hash` column.
        found: String,
    },
    /// Ids are consecutive from 1, and this one is absent though later ones
    /// exist: the record was deleted or renumbered.
    Missing,
}

impl std::fmt::Display for BreakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakReason::HashMismatch { .. } => {
                f.write_str("its contents no longer match its hash (the row was edited)")
            }
            BreakReason::BrokenLink { .. } => {
                f.write_str("it does not link to the record before it (a record was inserted, replaced or edited)")
            }
            BreakReason::Missing => f.write_str("it is missing (the record was deleted)"),
        }
    }
}

/// Walk the whole chain in `store`, oldest first, and report the first break.
///
/// Blocks on the store; async callers use [`super::AuditLog::verify`]. Reads
/// in batches, so memory stays flat however long the log is. Records appended
/// while the walk runs are checked too when they land before it ends.
pub fn verify_chain(store: &dyn Store) -> Result<ChainReport, StoreError> {
    let mut expected_id = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut records = 0u64;
    let mut after_id = None;
    loop {
        let rows = store.read_audit_chain(after_id, VERIFY_BATCH)?;
        for row in &rows {
            records += 1;
            if let Some(first_break) = check_link(row, expected_id, &prev_hash) {
                return Ok(ChainReport { records, first_break: Some(first_break) });
            }
            expected_id = row.id.saturating_add(1);
            prev_hash.clone_from(&row.hash);
        }
        match rows.last() {
            Some(last) if rows.len() == VERIFY_BATCH => after_id = Some(last.id),
            _ => {
                return Ok(ChainReport { records, first_break: None });
            }
        }
    }
}

/// Check one row against what the chain so far says it must be.
fn check_link(row: &AuditRow, expected_id: i64, prev_hash: &str) -> Option<ChainBreak> {
    if row.id > expected_id {
        return Some(ChainBreak { id: expected_id, reason: BreakReason::Missing });
    }
    if row.prev_hash != prev_hash {
        let reason = BreakReason::BrokenLink { expected: prev_hash.to_owned(), found: row.prev_hash.clone() };
        return Some(ChainBreak { id: row.id, reason });
    }
    let computed = row.compute_hash();
    if row.hash != computed {
        let reason = BreakReason::HashMismatch { stored: row.hash.clone(), computed };
        return Some(ChainBreak { id: row.id, reason });
    }
    None
}
