//! The SQL of installed packs.

use super::stored_time;
use crate::store::{InstalledPack, StoreError};
use rusqlite::{Connection, params};

pub(super) fn upsert(conn: &Connection, pack: &InstalledPack) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO installed_packs \
           (name, version, digest, grants, source, signer, installed_at_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (name, version) DO UPDATE SET \
           digest = excluded.digest, grants = excluded.grants, source = excluded.source, \
           signer = excluded.signer, installed_at_us = excluded.installed_at_us",
    )?
    .execute(params![
        pack.name,
        pack.version,
        pack.digest,
        serde_json::json!(pack.grants).to_string(),
        pack.source,
        pack.signer,
        pack.installed_at.as_micros(),
    ])?;
    Ok(())
}

pub(super) fn remove(conn: &Connection, name: &str, version: Option<&str>) -> Result<usize, StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM installed_packs WHERE name = ?1 AND (?2 IS NULL OR version = ?2)")?
        .execute(params![name, version])?;
    Ok(removed)
}

pub(super) fn list(conn: &Connection) -> Result<Vec<InstalledPack>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, version, digest, grants, source, signer, installed_at_us \
         FROM installed_packs",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, Option<String>>(5)?,
            row.get::<_, i64>(6)?,
        ))
    })?;
    let mut packs = Vec::new();
    for row in rows {
        let (name, version, digest, grants, source, signer, installed_at_us) = row?;
        let key = format!("{name}@{version}");
        let grants = serde_json::from_str(&grants)
            .map_err(|e| StoreError::corrupt("installed pack", &key, format!("grants are not a JSON list: {e}")))?;
        let installed_at = stored_time(installed_at_us, "installed pack", &key)?;
        packs.push(InstalledPack { name, version, digest, grants, source, signer, installed_at });
    }
    packs.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(packs)
}
