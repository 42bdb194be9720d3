-- The transparency log: every attestation's leaf index, the reconciler's watermark and the orphan leaves.
--
-- As postgres/00002_log.sql. attestd appends an attestation's leaf before it inserts the row, so every row it
-- writes has a log_index, and no two rows share one; rows of a database that ran 00001 alone keep a NULL
-- log_index, which the partial unique index leaves out.

-- +goose Up

CREATE UNIQUE INDEX attestations_log_index_key ON attestations (log_index) WHERE log_index IS NOT NULL;

-- The rows without a leaf, for the audit's scan; normally empty, so it costs nothing to keep.
CREATE INDEX attestations_unlogged ON attestations (seq) WHERE log_index IS NULL;

-- At most one row: the log size below which every leaf is known to have its row or an orphan record. It only
-- grows (the store writes the larger of the old and the new value). singleton is the rowid, as in bootstrap.
CREATE TABLE log_state (
    singleton INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    watermark INTEGER NOT NULL DEFAULT 0 CHECK (watermark >= 0)
) STRICT;

INSERT INTO log_state DEFAULT VALUES;

-- Leaves that the log sequenced but whose row never committed (the submission was not acknowledged). The
-- insert of the row that claims a leaf deletes its record here, in the same transaction.
CREATE TABLE log_orphans (
    log_index INTEGER NOT NULL PRIMARY KEY CHECK (log_index >= 0),
    entry     BLOB    NOT NULL,
    found_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
) STRICT;

-- +goose Down

DROP TABLE log_orphans;
DROP TABLE log_state;
DROP INDEX attestations_unlogged;
DROP INDEX attestations_log_index_key;
