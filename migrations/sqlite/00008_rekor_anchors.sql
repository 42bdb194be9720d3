-- Public anchoring in Sigstore Rekor: a project may name a Rekor server (and pin the public key that verifies
-- its entries offline), a policy may require every attestation that Verify uses to be in Rekor, and every
-- attestation accepted while its project names a Rekor server has an anchor row that follows its upload.
--
-- As postgres/00008_rekor_anchors.sql. The insert of an attestation writes its pending anchor in the same
-- write transaction; the partial index anchors_due is the anchoring worker's queue. Booleans are 0 or 1,
-- times integer microseconds, the Rekor entry a BLOB of its JSON bytes.

-- +goose Up

ALTER TABLE projects ADD COLUMN rekor_url TEXT NOT NULL DEFAULT ''
    CHECK (length(CAST(rekor_url AS BLOB)) <= 2048);
ALTER TABLE projects ADD COLUMN rekor_public_key BLOB NOT NULL DEFAULT x''
    CHECK (length(rekor_public_key) <= 16384 AND (rekor_url <> '' OR length(rekor_public_key) = 0));

ALTER TABLE policies ADD COLUMN require_rekor INTEGER NOT NULL DEFAULT 0 CHECK (require_rekor IN (0, 1));

-- One row per anchored attestation, deleted with it. entry is set exactly when the anchor is done.
CREATE TABLE anchors (
    project_id      INTEGER NOT NULL,
    attestation_id  TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '' CHECK (length(CAST(last_error AS BLOB)) <= 1000),
    entry           BLOB    CHECK (length(entry) BETWEEN 1 AND 1048576),
    created_at      INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    updated_at      INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000000 AS INTEGER)),
    PRIMARY KEY (project_id, attestation_id),
    FOREIGN KEY (project_id, attestation_id) REFERENCES attestations (project_id, id) ON DELETE CASCADE,
    CONSTRAINT anchors_entry_when_done CHECK ((state = 'done') = (entry IS NOT NULL))
) STRICT, WITHOUT ROWID;

-- The worker's queue: the pending anchors of every project, the earliest due first.
CREATE INDEX anchors_due ON anchors (next_attempt_at, project_id, attestation_id) WHERE state = 'pending';

-- +goose Down

DROP TABLE anchors;
ALTER TABLE policies DROP COLUMN require_rekor;
ALTER TABLE projects DROP COLUMN rekor_public_key;
ALTER TABLE projects DROP COLUMN rekor_url;
