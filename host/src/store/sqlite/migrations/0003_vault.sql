-- Version 3: the credential vault. Secret values are stored only as
-- AES-256-GCM ciphertext (the key never enters the database); names,
-- kinds, patterns, ACLs and the masked hint are plaintext metadata.
CREATE TABLE vault_credentials (
    name            TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,   -- login | cookies | api_key | oauth | ssh_key | basic
    description     TEXT    NOT NULL,
    hosts           TEXT    NOT NULL,   -- JSON array of host[/path] patterns
    packs           TEXT    NOT NULL,   -- JSON array of pack names (or "*")
    subjects        TEXT    NOT NULL,   -- JSON array of token subjects; empty = any
    hint            TEXT    NOT NULL,   -- masked hint, never the value
    nonce           BLOB    NOT NULL,   -- 96-bit GCM nonce, fresh per write
    ciphertext      BLOB    NOT NULL,   -- sealed JSON of the secret, name as associated data
    created_at_us   INTEGER NOT NULL,
    updated_at_us   INTEGER NOT NULL,
    last_used_at_us INTEGER
) STRICT;

-- One row: a known plaintext sealed with the vault key, so a wrong key is
-- detected at start-up before anything is read or written with it.
CREATE TABLE vault_key_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL
) STRICT;
