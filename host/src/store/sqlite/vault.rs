//! The SQL of the vault. Rotation rewrites every row and the key check in
//! one transaction, so a crash leaves either the old key or the new one
//! valid for the whole vault, never a mix.

use super::stored_time;
use crate::store::{SealedBlob, StoreError, StoredCredential, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

const COLUMNS: &str = "name, kind, description, hosts, packs, subjects, hint, nonce, ciphertext, \
                       created_at_us, updated_at_us, last_used_at_us";

pub(super) fn put(conn: &Connection, c: &StoredCredential) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO vault_credentials ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, description = excluded.description, \
           hosts = excluded.hosts, packs = excluded.packs, subjects = excluded.subjects, hint = excluded.hint, \
           nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at_us = excluded.updated_at_us, \
           last_used_at_us = excluded.last_used_at_us"
    ))?
    .execute(params![
        c.name,
        c.kind,
        c.description,
        serde_json::json!(c.hosts).to_string(),
        serde_json::json!(c.packs).to_string(),
        serde_json::json!(c.subjects).to_string(),
        c.hint,
        c.sealed.nonce,
        c.sealed.ciphertext,
        c.created_at.as_micros(),
        c.updated_at.as_micros(),
        c.last_used_at.map(Timestamp::as_micros),
    ])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, name: &str) -> Result<StoredCredential, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM vault_credentials WHERE name = ?1"))?
        .query_row([name], raw)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "credential", key: name.to_owned() })
        .and_then(decode)
}

pub(super) fn list(conn: &Connection) -> Result<Vec<StoredCredential>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM vault_credentials ORDER BY name"))?;
    let rows = stmt.query_map([], raw)?;
    rows.map(|r| decode(r?)).collect()
}

pub(super) fn delete(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached("DELETE FROM vault_credentials WHERE name = ?1")?.execute([name])? > 0)
}

pub(super) fn touch(conn: &Connection, name: &str, at: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE vault_credentials SET last_used_at_us = ?2 WHERE name = ?1")?
        .execute(params![name, at.as_micros()])?;
    Ok(())
}

pub(super) fn key_check(conn: &Connection) -> Result<Option<SealedBlob>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT nonce, ciphertext FROM vault_key_check WHERE id = 1")?
        .query_row([], |row| Ok(SealedBlob { nonce: row.get(0)?, ciphertext: row.get(1)? }))
        .optional()?)
}

pub(super) fn put_key_check(conn: &Connection, check: &SealedBlob) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO vault_key_check (id, nonce, ciphertext) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
    )?
    .execute(params![check.nonce, check.ciphertext])?;
    Ok(())
}

pub(super) fn rotate(
    conn: &mut Connection,
    check: &SealedBlob,
    resealed: &[StoredCredential],
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    put_key_check(&tx, check)?;
    for credential in resealed {
        credential.validate()?;
        let changed = tx
            .prepare_cached("UPDATE vault_credentials SET nonce = ?2, ciphertext = ?3 WHERE name = ?1")?
            .execute(params![credential.name, credential.sealed.nonce, credential.sealed.ciphertext])?;
        if changed != 1 {
            return Err(StoreError::NotFound { what: "credential", key: credential.name.clone() });
        }
    }
    let stored: i64 = tx.query_row("SELECT count(*) FROM vault_credentials", [], |r| r.get(0))?;
    if stored != resealed.len() as i64 {
        // A credential added meanwhile would stay sealed with the old key.
        return Err(StoreError::invalid("credentials", "the vault changed during rotation; run it again"));
    }
    tx.commit()?;
    Ok(())
}

type Raw = (String, String, String, String, String, String, String, Vec<u8>, Vec<u8>, i64, i64, Option<i64>);

fn raw(row: &Row<'_>) -> rusqlite::Result<Raw> {
    Raw::try_from(row)
}

fn decode(raw: Raw) -> Result<StoredCredential, StoreError> {
    let (name, kind, description, hosts, packs, subjects, hint, nonce, ciphertext, created, updated, used) = raw;
    let list = |text: &str, column: &str| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(text)
            .map_err(|e| StoreError::corrupt("credential", &name, format!("{column} is not a JSON list: {e}")))
    };
    Ok(StoredCredential {
        hosts: list(&hosts, "hosts")?,
        packs: list(&packs, "packs")?,
        subjects: list(&subjects, "subjects")?,
        created_at: stored_time(created, "credential", &name)?,
        updated_at: stored_time(updated, "credential", &name)?,
        last_used_at: used.map(|us| stored_time(us, "credential", &name)).transpose()?,
        sealed: SealedBlob { nonce, ciphertext },
        name,
        kind,
        description,
        hint,
    })
}
