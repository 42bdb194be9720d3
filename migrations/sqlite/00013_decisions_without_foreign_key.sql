-- postgres/00013_decisions_without_foreign_key.sql drops the foreign key of decisions to projects, whose check
-- locked the project's row at every insert. SQLite's writes are serialised anyway: this migration only keeps
-- the numbering alike.

-- +goose Up

SELECT 1;

-- +goose Down

SELECT 1;
