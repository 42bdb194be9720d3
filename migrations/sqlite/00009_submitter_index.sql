-- The attestations of one submitter, newest first, as postgres/00009_submitter_index.sql.

-- +goose Up

CREATE INDEX attestations_project_submitter ON attestations (project_id, submitter_id, seq);

-- +goose Down

DROP INDEX attestations_project_submitter;
