-- Layout pushes are recorded in the transparency log: each layout row names the index of its leaf.
--
-- As postgres/00006_layout_log.sql. Rows pushed before this migration have none (NULL), which the partial
-- unique index leaves out.

-- +goose Up

ALTER TABLE layouts ADD COLUMN log_index INTEGER CHECK (log_index >= 0);

CREATE UNIQUE INDEX layouts_log_index_key ON layouts (log_index) WHERE log_index IS NOT NULL;

-- +goose Down

DROP INDEX layouts_log_index_key;
ALTER TABLE layouts DROP COLUMN log_index;
