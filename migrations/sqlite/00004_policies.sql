-- Policies: which layout the artifacts of a project need.
--
-- As postgres/00004_policies.sql. A policy covers the artifacts of one kind whose names match its pattern and
-- names a layout of the same project; the foreign key to layout_names makes a policy for another project's
-- layout, or for a layout that was never pushed, impossible. Sets run in the one write transaction SQLite
-- allows at a time, which keeps the number of policies per project under the bound the server passes.

-- +goose Up

CREATE TABLE policies (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name       TEXT    NOT NULL CHECK (name <> '' AND length(name) <= 200),
    kind       TEXT    NOT NULL CHECK (kind IN ('image', 'file', 'package')),
    match      TEXT    NOT NULL CHECK (match <> '' AND length(CAST(match AS BLOB)) <= 4096),
    layout     TEXT    NOT NULL,
    setter_id  TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (project_id, name),
    FOREIGN KEY (project_id, layout) REFERENCES layout_names (project_id, name)
) STRICT;

-- +goose Down

DROP TABLE policies;
