//! The SQL of the gateway's usage counters: a flush reads each row it
//! touches, merges the new counts in ([`UsageRow::merge`]) and writes it
//! back, all in one transaction.

use super::stored_time;
use crate::store::{LatencyHistogram, StoreError, UsageRow};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

const COLUMNS: &str = "provider, model, alias, calls, errors, tokens_in, tokens_out, latency, first_at_us, last_at_us";

pub(super) fn add(conn: &mut Connection, rows: &[UsageRow]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for row in rows {
        let stored = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM gateway_usage WHERE provider = ?1 AND model = ?2 AND alias = ?3"
            ))?
            .query_row(params![row.provider, row.model, row.alias], raw)
            .optional()?
            .map(decode)
            .transpose()?;
        let merged = match stored {
            Some(mut stored) => {
                stored.merge(row);
                stored
            }
            None => row.clone(),
        };
        tx.prepare_cached(&format!(
            "INSERT OR REPLACE INTO gateway_usage ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))?
        .execute(params![
            merged.provider,
            merged.model,
            merged.alias,
            merged.calls as i64,
            serde_json::json!(merged.errors).to_string(),
            merged.tokens_in as i64,
            merged.tokens_out as i64,
            merged.latency.to_json(),
            merged.first_at.as_micros(),
            merged.last_at.as_micros(),
        ])?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn list(conn: &Connection) -> Result<Vec<UsageRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM gateway_usage ORDER BY provider, model, alias"))?;
    let rows = stmt.query_map([], raw)?;
    rows.map(|r| decode(r?)).collect()
}

type Raw = (String, String, String, i64, String, i64, i64, String, i64, i64);

fn raw(row: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn decode(raw: Raw) -> Result<UsageRow, StoreError> {
    let (provider, model, alias, calls, errors, tokens_in, tokens_out, latency, first, last) = raw;
    let key = format!("{provider}/{model} via `{alias}`");
    let count = |n: i64| u64::try_from(n).map_err(|_| StoreError::corrupt("usage row", &key, "a negative count"));
    Ok(UsageRow {
        calls: count(calls)?,
        errors: serde_json::from_str(&errors)
            .map_err(|e| StoreError::corrupt("usage row", &key, format!("errors: {e}")))?,
        tokens_in: count(tokens_in)?,
        tokens_out: count(tokens_out)?,
        latency: LatencyHistogram::from_json(&latency)
            .ok_or_else(|| StoreError::corrupt("usage row", &key, "an unreadable latency histogram"))?,
        first_at: stored_time(first, "usage row", &key)?,
        last_at: stored_time(last, "usage row", &key)?,
        provider,
        model,
        alias,
    })
}
