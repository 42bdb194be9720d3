-- postgres/00010_index_rows_without_foreign_keys.sql drops the foreign keys of the index rows, which cost
-- PostgreSQL a freshly planned query per row. SQLite checks them with a plain index lookup (and cannot drop a
-- constraint without rebuilding its table): here they stay, and this migration only keeps the numbering alike.

-- +goose Up

SELECT 1;

-- +goose Down

SELECT 1;
