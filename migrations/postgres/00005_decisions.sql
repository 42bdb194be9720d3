-- Decisions: every answer of Verify, as it was given.
--
-- A row records who asked (the token id), what was asked (kind, name, digest), what it was judged against
-- (policy, layout name and version; empty and 0 when no policy covered the artifact), the verdict and every
-- reason. Rows are only ever inserted; id orders them (newest first in listings).

-- +goose Up

CREATE TABLE decisions (
    id             bigserial   PRIMARY KEY,
    project_id     bigint      NOT NULL REFERENCES projects (id),
    requester_id   text        NOT NULL DEFAULT '',
    kind           text        NOT NULL CHECK (kind IN ('image', 'file', 'package')),
    name           text        NOT NULL CHECK (octet_length(name) <= 4096),
    digest         text        NOT NULL CHECK (octet_length(digest) <= 200),
    policy         text        NOT NULL DEFAULT '',
    layout         text        NOT NULL DEFAULT '',
    layout_version bigint      NOT NULL DEFAULT 0,
    allowed        boolean     NOT NULL,
    reasons        text[]      NOT NULL DEFAULT '{}',
    decided_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX decisions_project_id ON decisions (project_id, id DESC);

-- +goose Down

DROP TABLE decisions;
