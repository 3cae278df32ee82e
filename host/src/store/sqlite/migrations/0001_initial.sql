-- Version 1: the audit chain, installed packs, artifact metadata.
-- Tables are STRICT so a column only ever holds its declared type.

-- One row per audit record. Columns are hashed exactly as stored (see
-- host/src/audit/chain.rs); u64 counters are stored as the i64 with the same bits.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,  -- consecutive from 1, assigned by the appender
    ts_us       INTEGER NOT NULL,     -- microseconds since the Unix epoch, UTC
    kind        TEXT    NOT NULL,     -- api | capability | admin
    actor       TEXT    NOT NULL,
    call_id     TEXT,
    session     TEXT,
    pack        TEXT,
    tool        TEXT,
    version     TEXT,
    digest      TEXT,
    capability  TEXT,
    target      TEXT,
    decision    TEXT    NOT NULL,     -- allow | deny
    outcome     TEXT    NOT NULL,     -- ok | an error code
    duration_us INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    details     TEXT,                 -- compact JSON
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_log_call_id ON audit_log (call_id) WHERE call_id IS NOT NULL;
CREATE INDEX audit_log_ts ON audit_log (ts_us);

-- Append-only. The insert guard also stops INSERT OR REPLACE from overwriting
-- a record (REPLACE deletes without firing delete triggers).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is refused');
END;

CREATE TRIGGER audit_log_append_only BEFORE INSERT ON audit_log
WHEN NEW.id <= (SELECT max(id) FROM audit_log)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: a new record must have an id above every existing one');
END;

CREATE TABLE installed_packs (
    name            TEXT    NOT NULL,
    version         TEXT    NOT NULL,  -- semver
    digest          TEXT    NOT NULL,  -- hex SHA-256 of the component
    grants          TEXT    NOT NULL,  -- JSON array of capability names
    source          TEXT    NOT NULL,
    signer          TEXT,
    installed_at_us INTEGER NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;

CREATE TABLE artifacts (
    id            TEXT    PRIMARY KEY NOT NULL,
    name          TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    call_id       TEXT,
    pack          TEXT
) STRICT;

CREATE INDEX artifacts_call_id ON artifacts (call_id) WHERE call_id IS NOT NULL;
