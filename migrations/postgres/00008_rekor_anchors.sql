-- Public anchoring in Sigstore Rekor: a project may name a Rekor server (and pin the public key that verifies
-- its entries offline), a policy may require every attestation that Verify uses to be in Rekor, and every
-- attestation accepted while its project names a Rekor server has an anchor row that follows its upload.
--
-- The insert of an attestation writes its pending anchor in the same transaction (INSERT ... SELECT from the
-- project's row), so that no accepted attestation of an anchoring project is ever without one, whatever
-- crashes. attestd's anchoring worker uploads the pending anchors when they are due (next_attempt_at, found by
-- the partial index anchors_due) and records each attempt: done, with the entry Rekor returned (its JSON bytes
-- as Rekor sent them), or failed for good when Rekor refused it. The store raises a project's generation in
-- the statement that changes its Rekor settings; 00007's trigger does it for policies.

-- +goose Up

ALTER TABLE projects
    ADD COLUMN rekor_url        text  NOT NULL DEFAULT '' CHECK (octet_length(rekor_url) <= 2048),
    ADD COLUMN rekor_public_key bytea NOT NULL DEFAULT '' CHECK (octet_length(rekor_public_key) <= 16384),
    ADD CONSTRAINT projects_rekor_key_needs_url CHECK (rekor_url <> '' OR octet_length(rekor_public_key) = 0);

ALTER TABLE policies ADD COLUMN require_rekor boolean NOT NULL DEFAULT false;

-- One row per anchored attestation, deleted with it. entry is set exactly when the anchor is done.
CREATE TABLE anchors (
    project_id      bigint      NOT NULL,
    attestation_id  text        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        bigint      NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '' CHECK (octet_length(last_error) <= 1000),
    entry           bytea       CHECK (octet_length(entry) BETWEEN 1 AND 1048576),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, attestation_id),
    FOREIGN KEY (project_id, attestation_id) REFERENCES attestations (project_id, id) ON DELETE CASCADE,
    CONSTRAINT anchors_entry_when_done CHECK ((state = 'done') = (entry IS NOT NULL))
);

-- The worker's queue: the pending anchors of every project, the earliest due first. Done and failed anchors,
-- nearly all of them in time, are not in it.
CREATE INDEX anchors_due ON anchors (next_attempt_at, project_id, attestation_id) WHERE state = 'pending';

-- +goose Down

DROP TABLE anchors;
ALTER TABLE policies DROP COLUMN require_rekor;
ALTER TABLE projects DROP COLUMN rekor_public_key, DROP COLUMN rekor_url;
