//! The SQL of artifact metadata.

use super::stored_time;
use crate::store::{ArtifactMeta, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn put(conn: &Connection, meta: &ArtifactMeta) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO artifacts \
           (id, name, content_type, size, sha256, created_at_us, actor, call_id, pack) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        meta.id,
        meta.name,
        meta.content_type,
        meta.size.cast_signed(),
        meta.sha256,
        meta.created_at.as_micros(),
        meta.actor,
        meta.call_id,
        meta.pack,
    ])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<ArtifactMeta, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT name, content_type, size, sha256, created_at_us, actor, call_id, pack \
             FROM artifacts WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()?;
    let Some((name, content_type, size, sha256, created_at_us, actor, call_id, pack)) = found else {
        return Err(StoreError::NotFound { what: "artifact", key: id.to_owned() });
    };
    Ok(ArtifactMeta {
        id: id.to_owned(),
        name,
        content_type,
        size: size.cast_unsigned(),
        sha256,
        created_at: stored_time(created_at_us, "artifact", id)?,
        actor,
        call_id,
        pack,
    })
}
