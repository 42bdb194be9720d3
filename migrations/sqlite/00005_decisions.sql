-- Decisions: every answer of Verify, as it was given.
--
-- As postgres/00005_decisions.sql. A row records who asked (the token id), what was asked (kind, name,
-- digest), what it was judged against (policy, layout name and version; empty and 0 when no policy covered
-- the artifact), the verdict and every reason (a JSON array). Rows are only ever inserted; id orders them
-- (newest first in listings) and is never reused (AUTOINCREMENT).

-- +goose Up

CREATE TABLE decisions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id     INTEGER NOT NULL REFERENCES projects (id),
    requester_id   TEXT    NOT NULL DEFAULT '',
    kind           TEXT    NOT NULL CHECK (kind IN ('image', 'file', 'package')),
    name           TEXT    NOT NULL CHECK (length(CAST(name AS BLOB)) <= 4096),
    digest         TEXT    NOT NULL CHECK (length(CAST(digest AS BLOB)) <= 200),
    policy         TEXT    NOT NULL DEFAULT '',
    layout         TEXT    NOT NULL DEFAULT '',
    layout_version INTEGER NOT NULL DEFAULT 0,
    allowed        INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    reasons        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(reasons) AND json_type(reasons) = 'array'),
    decided_at     INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER))
) STRICT;

CREATE INDEX decisions_project_id ON decisions (project_id, id DESC);

-- +goose Down

DROP TABLE decisions;
