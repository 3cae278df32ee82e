-- Version 2: sessions (state that lives across calls: a browser context, a
-- workspace directory). Rows are updated as tasks are counted and sessions
-- close; closed rows are kept for the record.
CREATE TABLE sessions (
    id            TEXT    PRIMARY KEY,
    owner         TEXT    NOT NULL,     -- token subject that created it
    state         TEXT    NOT NULL,     -- active | closed
    ephemeral     INTEGER NOT NULL,     -- 1 when made for one call
    spec          TEXT    NOT NULL,     -- JSON SessionSpec
    tasks         INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL,
    expires_at_us INTEGER NOT NULL,
    closed_at_us  INTEGER,
    close_reason  TEXT
) STRICT;

CREATE INDEX sessions_state ON sessions (state);
