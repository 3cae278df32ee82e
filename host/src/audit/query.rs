//! Searching the audit log: the filters REST exposes at `GET /api/v1/audit`
//! and the page they return.

use super::{AuditKind, AuditRecord, Decision, Outcome};
use crate::store::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// Which audit records to return. Every filter is optional and they combine
/// with AND; records come newest first, one page at a time.
///
/// Deserializes from URL query parameters (`?actor=alice&outcome=timeout&limit=50`);
/// unknown parameters are refused so a misspelt filter does not silently
/// match everything. Times are RFC 3339 (`2026-05-01T12:00:00Z`; write a `+`
/// offset as `%2B` in a URL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Only records by this actor.
    pub actor: Option<String>,
    /// Only records of this kind.
    pub kind: Option<AuditKind>,
    /// Only records about this pack.
    pub pack: Option<String>,
    /// Only records about this tool.
    pub tool: Option<String>,
    /// Only records for this capability, route or admin action.
    pub capability: Option<String>,
    /// Only records that ended this way (`ok`, `cancelled` or an error code).
    pub outcome: Option<Outcome>,
    /// Only records with this decision.
    pub decision: Option<Decision>,
    /// Only records of this call (its API record and its capability records).
    pub call_id: Option<String>,
    /// Only records appended at or after this time.
    pub since: Option<Timestamp>,
    /// Only records appended before this time.
    pub until: Option<Timestamp>,
    /// The page size: 1 to [`AuditQuery::MAX_LIMIT`], [`AuditQuery::DEFAULT_LIMIT`]
    /// when absent.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, to continue from it; opaque.
    pub cursor: Option<String>,
}

impl AuditQuery {
    /// The page size when `limit` is absent.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// The largest page a query may ask for.
    pub const MAX_LIMIT: u32 = 1000;

    /// The page size asked for, or [`StoreError::Invalid`] naming `limit`.
    pub fn page_size(&self) -> Result<usize, StoreError> {
        match self.limit.unwrap_or(Self::DEFAULT_LIMIT) {
            limit @ 1..=Self::MAX_LIMIT => Ok(limit as usize),
            other => Err(StoreError::invalid(
                "limit",
                format!("{other} is out of range; ask for 1 to {} records", Self::MAX_LIMIT),
            )),
        }
    }

    /// The id the page starts below (records older than the previous page),
    /// or [`StoreError::Invalid`] naming `cursor`.
    pub fn before_id(&self) -> Result<Option<i64>, StoreError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        match cursor.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Some(id)),
            _ => Err(StoreError::invalid(
                "cursor",
                format!("`{cursor}` is not a cursor; pass the `next_cursor` of a previous page"),
            )),
        }
    }
}

/// One page of audit records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The matching records, newest first.
    pub records: Vec<AuditRecord>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl AuditPage {
    /// The page for up to `page_size + 1` matching records read newest first:
    /// the extra one, when present, only says that another page exists.
    pub fn from_overfetch(mut records: Vec<AuditRecord>, page_size: usize) -> AuditPage {
        let more = records.len() > page_size;
        records.truncate(page_size);
        let next_cursor = match records.last() {
            Some(last) if more => Some(last.id.to_string()),
            _ => None,
        };
        AuditPage { records, next_cursor }
    }
}
