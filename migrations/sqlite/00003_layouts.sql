-- Layout-owner keys and in-toto layouts.
--
-- As postgres/00003_layouts.sql. A key with owner = 1 signs layouts; its signatures on attestations do not
-- count. Every pushed layout is kept (its history is the rollback protection: the same bytes can never be
-- pushed again under that name), and its version is assigned from layout_names.latest inside the write
-- transaction, which SQLite runs one at a time.

-- +goose Up

ALTER TABLE keys ADD COLUMN owner INTEGER NOT NULL DEFAULT 0 CHECK (owner IN (0, 1));

CREATE TABLE layout_names (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    name       TEXT    NOT NULL CHECK (name <> '' AND length(name) <= 200),
    latest     INTEGER NOT NULL CHECK (latest >= 1),
    PRIMARY KEY (project_id, name)
) STRICT;

CREATE TABLE layouts (
    project_id     INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    id             TEXT    NOT NULL CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),
    content        BLOB    NOT NULL,
    signer_key_ids TEXT    NOT NULL DEFAULT '[]'
        CHECK (json_valid(signer_key_ids) AND json_type(signer_key_ids) = 'array'),
    expires_at     INTEGER NOT NULL,
    pusher_id      TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (project_id, name, version),
    -- Rollback protection: a name never gets the same bytes twice.
    CONSTRAINT layouts_name_id_key UNIQUE (project_id, name, id),
    FOREIGN KEY (project_id, name) REFERENCES layout_names (project_id, name)
) STRICT;

-- +goose Down

DROP TABLE layouts;
DROP TABLE layout_names;
ALTER TABLE keys DROP COLUMN owner;
