-- Policies: which layout the artifacts of a project need.
--
-- A policy covers the artifacts of one kind whose names match its pattern and names a layout of the same
-- project; the foreign key to layout_names makes a policy for another project's layout, or for a layout that
-- was never pushed, impossible. Sets of one project serialize on its projects row, which keeps the number of
-- policies per project under the bound the server passes.

-- +goose Up

CREATE TABLE policies (
    project_id bigint      NOT NULL REFERENCES projects (id),
    name       text        COLLATE "C" NOT NULL CHECK (name <> '' AND length(name) <= 200),
    kind       text        NOT NULL CHECK (kind IN ('image', 'file', 'package')),
    match      text        NOT NULL CHECK (match <> '' AND octet_length(match) <= 4096),
    layout     text        COLLATE "C" NOT NULL,
    setter_id  text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name),
    FOREIGN KEY (project_id, layout) REFERENCES layout_names (project_id, name)
);

-- +goose Down

DROP TABLE policies;
