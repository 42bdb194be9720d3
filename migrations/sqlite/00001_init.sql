-- The first attestd schema for SQLite: tenants, bearer tokens, functionary keys and accepted attestations.
--
-- The same tables, columns and meaning as postgres/00001_init.sql, in SQLite's terms. Tables are STRICT, so
-- that a value of the wrong type is refused rather than stored as it comes. Timestamps are INTEGER
-- microseconds since the Unix epoch, UTC (exact, and ordered as numbers); their default is the current time.
-- The text arrays of PostgreSQL are JSON arrays in TEXT columns. Text compares byte for byte (SQLite's BINARY
-- collation), as COLLATE "C" does in PostgreSQL. SQLite has no regular expressions and no sha256 in SQL: the
-- checks of lowercase hex use GLOB, and the store checks that an attestation id is the sha256 of its envelope.

-- +goose Up

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
) STRICT;

-- Only sha256(secret) is stored. Server-admin tokens belong to no project; every other token to exactly one.
CREATE TABLE tokens (
    id          TEXT    NOT NULL PRIMARY KEY CHECK (id <> '' AND length(id) <= 64),
    hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    project_id  INTEGER REFERENCES projects (id),
    role        TEXT    NOT NULL
        CHECK (role IN ('server-admin', 'admin', 'attestor', 'reader', 'verifier')),
    steps       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(steps) AND json_type(steps) = 'array'),
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    revoked_at  INTEGER,
    CONSTRAINT tokens_project_matches_role CHECK ((role = 'server-admin') = (project_id IS NULL))
) STRICT;

CREATE INDEX tokens_project_created ON tokens (project_id, created_at);

-- At most one row, ever: the server-admin token that Bootstrap stored. Its primary key makes Bootstrap atomic.
-- singleton is the rowid, which SQLite numbers itself when an insert leaves it out: inserts name it.
CREATE TABLE bootstrap (
    singleton  INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (singleton = 1),
    token_id   TEXT    NOT NULL REFERENCES tokens (id) DEFERRABLE INITIALLY DEFERRED,
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
) STRICT;

CREATE TABLE keys (
    project_id  INTEGER NOT NULL REFERENCES projects (id),
    key_id      TEXT    NOT NULL CHECK (length(key_id) = 64 AND key_id NOT GLOB '*[^0-9a-f]*'),
    key_type    TEXT    NOT NULL CHECK (key_type <> ''),
    scheme      TEXT    NOT NULL CHECK (scheme <> ''),
    public_pem  TEXT    NOT NULL CHECK (public_pem <> ''),
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    expires_at  INTEGER,
    revoked_at  INTEGER,
    PRIMARY KEY (project_id, key_id)
) STRICT;

CREATE INDEX keys_project_created ON keys (project_id, created_at);

-- The envelope is kept verbatim and its id is its sha256. seq is the database's order (listings are newest
-- first by seq), never reused (AUTOINCREMENT); log_index is reserved for the transparency log (a later
-- migration indexes it), NULL until the entry is sequenced.
CREATE TABLE attestations (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL REFERENCES projects (id),
    id             TEXT    NOT NULL CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),
    envelope       BLOB    NOT NULL,
    payload_type   TEXT    NOT NULL CHECK (payload_type <> ''),
    statement_type TEXT    NOT NULL CHECK (statement_type <> ''),
    predicate_type TEXT    NOT NULL DEFAULT '',
    step           TEXT    NOT NULL DEFAULT '',
    signer_key_ids TEXT    NOT NULL DEFAULT '[]'
        CHECK (json_valid(signer_key_ids) AND json_type(signer_key_ids) = 'array'),
    submitter_id   TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    log_index      INTEGER CHECK (log_index >= 0)
) STRICT;

-- Unique indexes rather than table constraints, so that they have names (in errors and query plans).
CREATE UNIQUE INDEX attestations_project_id_key ON attestations (project_id, id);
-- The parent key of the artifact tables' foreign keys, and the listing of a project newest first.
CREATE UNIQUE INDEX attestations_project_seq_key ON attestations (project_id, seq);

CREATE INDEX attestations_project_step ON attestations (project_id, step, seq);
CREATE INDEX attestations_project_predicate ON attestations (project_id, predicate_type, seq);
CREATE INDEX attestations_project_created ON attestations (project_id, created_at);

-- Subjects and materials, one row per (descriptor, digest), in submission order (ord). Their lookup index
-- finds the attestations of one digest (and algorithm); SQLite has no INCLUDE, so algorithm is a key column.
CREATE TABLE attestation_subjects (
    project_id      INTEGER NOT NULL,
    attestation_seq INTEGER NOT NULL,
    ord             INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    algorithm       TEXT    NOT NULL CHECK (algorithm <> ''),
    digest          TEXT    NOT NULL CHECK (digest <> ''),
    PRIMARY KEY (attestation_seq, ord),
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX attestation_subjects_lookup ON attestation_subjects (project_id, digest, algorithm, attestation_seq);

CREATE TABLE attestation_materials (
    project_id      INTEGER NOT NULL,
    attestation_seq INTEGER NOT NULL,
    ord             INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    algorithm       TEXT    NOT NULL CHECK (algorithm <> ''),
    digest          TEXT    NOT NULL CHECK (digest <> ''),
    PRIMARY KEY (attestation_seq, ord),
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX attestation_materials_lookup ON attestation_materials (project_id, digest, algorithm, attestation_seq);

-- The index of attestations.signer_key_ids: the attestations that one key signed, newest first. The key ids
-- are checked here, one per row.
CREATE TABLE attestation_signers (
    project_id      INTEGER NOT NULL,
    attestation_seq INTEGER NOT NULL,
    key_id          TEXT    NOT NULL CHECK (length(key_id) = 64 AND key_id NOT GLOB '*[^0-9a-f]*'),
    PRIMARY KEY (attestation_seq, key_id),
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX attestation_signers_lookup ON attestation_signers (project_id, key_id, attestation_seq);

-- +goose Down

DROP TABLE attestation_signers;
DROP TABLE attestation_materials;
DROP TABLE attestation_subjects;
DROP TABLE attestations;
DROP TABLE keys;
DROP TABLE bootstrap;
DROP TABLE tokens;
DROP TABLE projects;
