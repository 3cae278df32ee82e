//! The SQL of sessions.

use super::stored_time;
use crate::store::{SessionRecord, SessionState, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str =
    "id, owner, state, ephemeral, spec, tasks, created_at_us, expires_at_us, closed_at_us, close_reason";

pub(super) fn put(conn: &Connection, s: &SessionRecord) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, tasks = excluded.tasks, \
           expires_at_us = excluded.expires_at_us, closed_at_us = excluded.closed_at_us, \
           close_reason = excluded.close_reason"
    ))?
    .execute(params![
        s.id,
        s.owner,
        s.state.as_str(),
        s.ephemeral,
        s.spec.to_string(),
        s.tasks,
        s.created_at.as_micros(),
        s.expires_at.as_micros(),
        s.closed_at.map(|t| t.as_micros()),
        s.close_reason,
    ])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<SessionRecord, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"))?
        .query_row([id], raw)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "session", key: id.to_owned() })
        .and_then(decode)
}

pub(super) fn list(conn: &Connection, state: Option<SessionState>) -> Result<Vec<SessionRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE ?1 IS NULL OR state = ?1 ORDER BY created_at_us, id"
    ))?;
    let rows = stmt.query_map([state.map(SessionState::as_str)], raw)?;
    rows.map(|r| decode(r?)).collect()
}

type Raw = (String, String, String, bool, String, u32, i64, i64, Option<i64>, Option<String>);

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

fn decode(raw: Raw) -> Result<SessionRecord, StoreError> {
    let (id, owner, state, ephemeral, spec, tasks, created, expires, closed, close_reason) = raw;
    let corrupt = |why: String| StoreError::corrupt("session", &id, why);
    let state = SessionState::parse(&state).ok_or_else(|| corrupt(format!("unknown state `{state}`")))?;
    let spec = serde_json::from_str(&spec).map_err(|e| corrupt(format!("spec is not JSON: {e}")))?;
    let closed_at = closed.map(|us| stored_time(us, "session", &id)).transpose()?;
    Ok(SessionRecord {
        created_at: stored_time(created, "session", &id)?,
        expires_at: stored_time(expires, "session", &id)?,
        id,
        owner,
        state,
        ephemeral,
        spec,
        tasks,
        closed_at,
        close_reason,
    })
}
