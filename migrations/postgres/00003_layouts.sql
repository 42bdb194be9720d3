-- Layout-owner keys and in-toto layouts.
--
-- A key with owner = true signs layouts; its signatures on attestations do not count. Every pushed layout is
-- kept (its history is the rollback protection: the same bytes can never be pushed again under that name), and
-- its version is assigned from layout_names.latest, whose row lock serializes the pushes of one name.

-- +goose Up

ALTER TABLE keys ADD COLUMN owner boolean NOT NULL DEFAULT false;

CREATE TABLE layout_names (
    project_id bigint NOT NULL REFERENCES projects (id),
    name       text   COLLATE "C" NOT NULL CHECK (name <> '' AND length(name) <= 200),
    latest     bigint NOT NULL CHECK (latest >= 1),
    PRIMARY KEY (project_id, name)
);

CREATE TABLE layouts (
    project_id     bigint      NOT NULL,
    name           text        COLLATE "C" NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    id             text        NOT NULL CHECK (id ~ '^[0-9a-f]{64}$'),
    content        bytea       NOT NULL,
    signer_key_ids text[]      NOT NULL DEFAULT '{}',
    expires_at     timestamptz NOT NULL,
    pusher_id      text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name, version),
    -- Rollback protection: a name never gets the same bytes twice.
    CONSTRAINT layouts_name_id_key UNIQUE (project_id, name, id),
    CONSTRAINT layouts_id_is_sha256 CHECK (id = encode(sha256(content), 'hex')),
    CONSTRAINT layouts_signer_key_ids_hex CHECK (
        array_position(signer_key_ids, NULL) IS NULL
        AND array_to_string(signer_key_ids, ',') ~ '^([0-9a-f]{64}(,[0-9a-f]{64})*)?$'),
    FOREIGN KEY (project_id, name) REFERENCES layout_names (project_id, name)
);

-- +goose Down

DROP TABLE layouts;
DROP TABLE layout_names;
ALTER TABLE keys DROP COLUMN owner;
