-- The attestations of one submitter (List's submitter filter), newest first: the token id of a CI pipeline
-- names a small part of a project's rows, which without this index a listing finds only by reading the
-- project's attestations one by one from the newest.

-- +goose Up

CREATE INDEX attestations_project_submitter ON attestations (project_id, submitter_id, seq);

-- +goose Down

DROP INDEX attestations_project_submitter;
