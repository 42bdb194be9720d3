-- The transparency log: every attestation's leaf index, the reconciler's watermark and the orphan leaves.
--
-- attestd appends an attestation's leaf before it inserts the row, so every row it writes has a log_index, and
-- no two rows share one. Rows of a database that ran 00001 alone keep a NULL log_index: reads do not show them
-- (only the audit scans do), and the unique index, which leaves NULLs out, accepts them.

-- +goose Up

CREATE UNIQUE INDEX attestations_log_index_key ON attestations (log_index) WHERE log_index IS NOT NULL;

-- The rows without a leaf, for the audit's scan; normally empty, so it costs nothing to keep.
CREATE INDEX attestations_unlogged ON attestations (seq) WHERE log_index IS NULL;

-- At most one row: the log size below which every leaf is known to have its row or an orphan record. It only
-- grows (the store writes GREATEST of the old and the new value).
CREATE TABLE log_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark bigint  NOT NULL DEFAULT 0 CHECK (watermark >= 0)
);

INSERT INTO log_state DEFAULT VALUES;

-- Leaves that the log sequenced but whose row never committed (the submission was not acknowledged). The
-- insert of the row that claims a leaf deletes its record here, in the same transaction.
CREATE TABLE log_orphans (
    log_index bigint      PRIMARY KEY CHECK (log_index >= 0),
    entry     bytea       NOT NULL,
    found_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down

DROP TABLE log_orphans;
DROP TABLE log_state;
DROP INDEX attestations_unlogged;
DROP INDEX attestations_log_index_key;
