-- Layout pushes are recorded in the transparency log: each layout row names the index of its leaf.
-- Rows pushed before this migration have none.

-- +goose Up
ALTER TABLE layouts ADD COLUMN log_index bigint CHECK (log_index >= 0);

CREATE UNIQUE INDEX layouts_log_index_key ON layouts (log_index) WHERE log_index IS NOT NULL;

-- +goose Down
DROP INDEX layouts_log_index_key;
ALTER TABLE layouts DROP COLUMN log_index;
