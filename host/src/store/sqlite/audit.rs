//! The SQL of the audit chain: append under the write lock, search, walk.

use crate::audit::{AuditEvent, AuditPage, AuditQuery, AuditRecord, AuditRow, GENESIS_HASH};
use crate::store::{StoreError, Timestamp};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use std::fmt::Write as _;

/// The columns of `audit_log` in table order, as [`read_row`] expects them.
macro_rules! audit_columns {
    () => {
        "id, ts_us, kind, actor, call_id, session, pack, tool, version, digest, capability, \
         target, decision, outcome, duration_us, bytes_in, bytes_out, details, prev_hash, hash"
    };
}

/// Append `event` as the next link. The read of the last hash and the insert
/// share one `BEGIN IMMEDIATE` transaction: it takes the database's write
/// lock first, so no other connection or process can append in between.
pub(super) fn append(conn: &mut Connection, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last = tx
        .prepare_cached("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))
        .optional()?;
    let (id, prev_hash) = match last {
        None => (1, GENESIS_HASH.to_owned()),
        Some((last_id, hash)) => {
            let id = last_id
                .checked_add(1)
                .ok_or_else(|| StoreError::corrupt("audit record", last_id, "no id can follow it"))?;
            (id, hash)
        }
    };
    let ts = Timestamp::now();
    let row = AuditRow::seal(id, ts, prev_hash, event);
    insert(&tx, &row)?;
    tx.commit()?;
    Ok(AuditRecord { id, ts, event: event.clone(), prev_hash: row.prev_hash, hash: row.hash })
}

fn insert(conn: &Connection, row: &AuditRow) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(concat!(
        "INSERT INTO audit_log (",
        audit_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)"
    ))?;
    stmt.execute(params![
        row.id,
        row.ts_us,
        row.kind,
        row.actor,
        row.call_id,
        row.session,
        row.pack,
        row.tool,
        row.version,
        row.digest,
        row.capability,
        row.target,
        row.decision,
        row.outcome,
        row.duration_us,
        row.bytes_in,
        row.bytes_out,
        row.details,
        row.prev_hash,
        row.hash,
    ])?;
    Ok(())
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: row.get(0)?,
        ts_us: row.get(1)?,
        kind: row.get(2)?,
        actor: row.get(3)?,
        call_id: row.get(4)?,
        session: row.get(5)?,
        pack: row.get(6)?,
        tool: row.get(7)?,
        version: row.get(8)?,
        digest: row.get(9)?,
        capability: row.get(10)?,
        target: row.get(11)?,
        decision: row.get(12)?,
        outcome: row.get(13)?,
        duration_us: row.get(14)?,
        bytes_in: row.get(15)?,
        bytes_out: row.get(16)?,
        details: row.get(17)?,
        prev_hash: row.get(18)?,
        hash: row.get(19)?,
    })
}

/// One page of `query`, newest first. Reads one row past the page to learn
/// whether another page exists.
pub(super) fn query(conn: &Connection, query: &AuditQuery) -> Result<AuditPage, StoreError> {
    let page_size = query.page_size()?;
    let mut sql = String::from(concat!("SELECT ", audit_columns!(), " FROM audit_log WHERE 1 = 1"));
    let mut args = Vec::new();
    let equal_to = [
        ("actor", query.actor.as_deref()),
        ("kind", query.kind.map(|k| k.as_str())),
        ("pack", query.pack.as_deref()),
        ("tool", query.tool.as_deref()),
        ("capability", query.capability.as_deref()),
        ("outcome", query.outcome.map(|o| o.as_str())),
        ("decision", query.decision.map(|d| d.as_str())),
        ("call_id", query.call_id.as_deref()),
    ];
    for (column, value) in equal_to {
        if let Some(value) = value {
            let _ = write!(sql, " AND {column} = ?");
            args.push(Value::Text(value.to_owned()));
        }
    }
    let bounds = [
        ("ts_us >=", query.since.map(Timestamp::as_micros)),
        ("ts_us <", query.until.map(Timestamp::as_micros)),
        ("id <", query.before_id()?),
    ];
    for (condition, value) in bounds {
        if let Some(value) = value {
            let _ = write!(sql, " AND {condition} ?");
            args.push(Value::Integer(value));
        }
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(sql_limit(page_size.saturating_add(1))));
    let rows =
        conn.prepare_cached(&sql)?.query_map(params_from_iter(args), read_row)?.collect::<Result<Vec<_>, _>>()?;
    let records = rows.into_iter().map(AuditRow::decode).collect::<Result<Vec<_>, _>>()?;
    Ok(AuditPage::from_overfetch(records, page_size))
}

/// Up to `limit` raw rows with an id above `after_id`, in id order.
pub(super) fn read_chain(conn: &Connection, after_id: Option<i64>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
    // `id >= ?` on the rowid keeps each batch an index seek, not a rescan.
    let from = match after_id {
        None => i64::MIN,
        Some(id) => match id.checked_add(1) {
            Some(from) => from,
            None => return Ok(Vec::new()),
        },
    };
    let rows = conn
        .prepare_cached(concat!("SELECT ", audit_columns!(), " FROM audit_log WHERE id >= ?1 ORDER BY id LIMIT ?2"))?
        .query_map(params![from, sql_limit(limit)], read_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A row count as SQLite's `LIMIT` takes it.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
