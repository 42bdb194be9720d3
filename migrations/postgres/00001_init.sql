-- The first attestd schema: tenants, bearer tokens, functionary keys and accepted attestations.
--
-- Every row of project data carries project_id, and every lookup index starts with it, so that a query for one
-- project reads no other project's rows. Timestamps are timestamptz. Project names compare byte for byte
-- (COLLATE "C"): their order is part of the API and must not depend on the server's locale.

-- +goose Up

CREATE TABLE projects (
    id         bigserial   PRIMARY KEY,
    name       text        COLLATE "C" NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only sha256(secret) is stored. Server-admin tokens belong to no project; every other token to exactly one.
CREATE TABLE tokens (
    id          text        PRIMARY KEY CHECK (id <> '' AND length(id) <= 64),
    hash        bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    project_id  bigint      REFERENCES projects (id),
    role        text        NOT NULL
        CHECK (role IN ('server-admin', 'admin', 'attestor', 'reader', 'verifier')),
    steps       text[]      NOT NULL DEFAULT '{}' CHECK (array_position(steps, NULL) IS NULL),
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT tokens_project_matches_role CHECK ((role = 'server-admin') = (project_id IS NULL))
);

CREATE INDEX tokens_project_created ON tokens (project_id, created_at);

-- At most one row, ever: the server-admin token that Bootstrap stored. Its primary key makes Bootstrap atomic.
CREATE TABLE bootstrap (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    token_id   text        NOT NULL REFERENCES tokens (id) DEFERRABLE INITIALLY DEFERRED,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE keys (
    project_id  bigint      NOT NULL REFERENCES projects (id),
    key_id      text        NOT NULL CHECK (key_id ~ '^[0-9a-f]{64}$'),
    key_type    text        NOT NULL CHECK (key_type <> ''),
    scheme      text        NOT NULL CHECK (scheme <> ''),
    public_pem  text        NOT NULL CHECK (public_pem <> ''),
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (project_id, key_id)
);

CREATE INDEX keys_project_created ON keys (project_id, created_at);

-- The envelope is kept verbatim and its id is its sha256, which the database checks as well. seq is the
-- database's order (listings are newest first by seq); log_index is reserved for the transparency log (a
-- later migration indexes and fills it), NULL until the entry is sequenced.
CREATE TABLE attestations (
    seq            bigserial   NOT NULL,
    project_id     bigint      NOT NULL REFERENCES projects (id),
    id             text        NOT NULL CHECK (id ~ '^[0-9a-f]{64}$'),
    envelope       bytea       NOT NULL,
    payload_type   text        NOT NULL CHECK (payload_type <> ''),
    statement_type text        NOT NULL CHECK (statement_type <> ''),
    predicate_type text        NOT NULL DEFAULT '',
    step           text        NOT NULL DEFAULT '',
    signer_key_ids text[]      NOT NULL DEFAULT '{}',
    submitter_id   text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    log_index      bigint      CHECK (log_index >= 0),
    PRIMARY KEY (project_id, id),
    CONSTRAINT attestations_seq_key UNIQUE (seq),
    -- Serves the listing (project, newest first) and the foreign keys of the artifact tables.
    CONSTRAINT attestations_project_seq_key UNIQUE (project_id, seq),
    CONSTRAINT attestations_id_is_sha256 CHECK (id = encode(sha256(envelope), 'hex')),
    CONSTRAINT attestations_signer_key_ids_hex CHECK (
        array_position(signer_key_ids, NULL) IS NULL
        AND array_to_string(signer_key_ids, ',') ~ '^([0-9a-f]{64}(,[0-9a-f]{64})*)?$')
);

CREATE INDEX attestations_project_step ON attestations (project_id, step, seq);
CREATE INDEX attestations_project_predicate ON attestations (project_id, predicate_type, seq);
CREATE INDEX attestations_project_created ON attestations (project_id, created_at);

-- Subjects and materials, one row per (descriptor, digest), in submission order (ord). Their lookup index
-- finds the attestations of one digest newest first (queries name a digest, rarely only an algorithm).
CREATE TABLE attestation_subjects (
    project_id      bigint NOT NULL,
    attestation_seq bigint NOT NULL,
    ord             int    NOT NULL,
    name            text   NOT NULL,
    algorithm       text   NOT NULL CHECK (algorithm <> ''),
    digest          text   NOT NULL CHECK (digest <> ''),
    PRIMARY KEY (attestation_seq, ord),
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE
);

CREATE INDEX attestation_subjects_lookup ON attestation_subjects (project_id, digest, attestation_seq)
    INCLUDE (algorithm);

CREATE TABLE attestation_materials (
    project_id      bigint NOT NULL,
    attestation_seq bigint NOT NULL,
    ord             int    NOT NULL,
    name            text   NOT NULL,
    algorithm       text   NOT NULL CHECK (algorithm <> ''),
    digest          text   NOT NULL CHECK (digest <> ''),
    PRIMARY KEY (attestation_seq, ord),
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE
);

CREATE INDEX attestation_materials_lookup ON attestation_materials (project_id, digest, attestation_seq)
    INCLUDE (algorithm);

-- The index of attestations.signer_key_ids: the attestations that one key signed, newest first.
CREATE TABLE attestation_signers (
    project_id      bigint NOT NULL,
    attestation_seq bigint NOT NULL,
    key_id          text   NOT NULL,
    PRIMARY KEY (attestation_seq, key_id),
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE
);

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
