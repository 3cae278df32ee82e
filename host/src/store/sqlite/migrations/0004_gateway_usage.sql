-- Version 4: the AI gateway's usage counters, one row per provider, model
-- and alias ('' when a model was called by name). Rows only grow: each
-- flush adds the counts gathered since the previous one.
CREATE TABLE gateway_usage (
    provider       TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    alias          TEXT    NOT NULL,
    calls          INTEGER NOT NULL,
    errors         TEXT    NOT NULL,   -- JSON object: error code -> count
    tokens_in      INTEGER NOT NULL,
    tokens_out     INTEGER NOT NULL,
    latency        TEXT    NOT NULL,   -- JSON array: logarithmic latency buckets (see store::usage)
    first_at_us    INTEGER NOT NULL,
    last_at_us     INTEGER NOT NULL,
    PRIMARY KEY (provider, model, alias)
) STRICT;
