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
//! the link of the row after it. Truncating the newest records, or replacing
//! the whole log with another consistent chain, is not detectable from the
//! chain alone: an [`Anchor`] (a record's id and hash, kept away from the
//! database) catches both, since the chain must still reach that record
//! with that hash.

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

/// A record's id and hash, written `ID:HASH`: kept outside the database
/// (a ticket, another machine), it lets a later verification prove that no
/// record up to it was removed or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub id: i64,
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(text: &str) -> Result<Anchor, String> {
        let malformed = || format!("`{text}` is not an anchor: write `ID:HASH` as `helmdeck audit verify` prints it");
        let (id, hash) = text.split_once(':').ok_or_else(malformed)?;
        let id = id.parse::<i64>().ok().filter(|id| *id >= 1).ok_or_else(malformed)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        Ok(Anchor { id, hash: hash.to_ascii_lowercase() })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.hash)
    }
}

/// The outcome of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// How many records were checked, the broken one included.
    pub records: u64,
    /// The first record at which the chain breaks; `None` when it is intact.
    pub first_break: Option<ChainBreak>,
    /// The newest record checked, as an anchor for later verifications.
    pub head: Option<Anchor>,
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
    /// The log ends before the anchored record: records were removed from
    /// its end.
    Truncated {
        /// The id of the last record there is (0 for an empty log).
        last: i64,
    },
    /// The anchored record has another hash: the log up to it was replaced
    /// by a different, self-consistent one.
    NotAnchored {
        /// The hash the anchor names.
        anchored: String,
        /// The hash the record has.
        found: String,
    },
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
            BreakReason::Truncated { last } => write!(
                f,
                "it is missing: the log ends at record {last}, before the anchored record (records were removed from its end)"
            ),
            BreakReason::NotAnchored { .. } => {
                f.write_str("its hash is not the anchored one (the log up to it was replaced by another)")
            }
        }
    }
}

/// Walk the whole chain in `store`, oldest first, and report the first
/// break, including, with an `anchor`, a log that no longer reaches the
/// anchored record with its hash.
///
/// Blocks on the store; async callers use [`super::AuditLog::verify`]. Reads
/// in batches, so memory stays flat however long the log is. Records appended
/// while the walk runs are checked too when they land before it ends.
pub fn verify_chain(store: &dyn Store, anchor: Option<&Anchor>) -> Result<ChainReport, StoreError> {
    let mut expected_id = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut records = 0u64;
    let mut after_id = None;
    let report = |records, first_break, head_id: i64, head_hash: &str| ChainReport {
        records,
        first_break,
        head: (head_id > 0).then(|| Anchor { id: head_id, hash: head_hash.to_owned() }),
    };
    loop {
        let rows = store.read_audit_chain(after_id, VERIFY_BATCH)?;
        for row in &rows {
            records += 1;
            let first_break = check_link(row, expected_id, &prev_hash).or_else(|| check_anchor(row, anchor));
            if first_break.is_some() {
                return Ok(report(records, first_break, expected_id - 1, &prev_hash));
            }
            expected_id = row.id.saturating_add(1);
            prev_hash.clone_from(&row.hash);
        }
        match rows.last() {
            Some(last) if rows.len() == VERIFY_BATCH => after_id = Some(last.id),
            _ => {
                let last = expected_id - 1;
                let truncated = anchor
                    .filter(|a| a.id > last)
                    .map(|_| ChainBreak { id: last + 1, reason: BreakReason::Truncated { last } });
                return Ok(report(records, truncated, last, &prev_hash));
            }
        }
    }
}

/// A row at the anchor's id must have the anchored hash.
fn check_anchor(row: &AuditRow, anchor: Option<&Anchor>) -> Option<ChainBreak> {
    let anchor = anchor.filter(|a| a.id == row.id && a.hash != row.hash)?;
    let reason = BreakReason::NotAnchored { anchored: anchor.hash.clone(), found: row.hash.clone() };
    Some(ChainBreak { id: row.id, reason })
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
