-- postgres/00011_envelope_lz4.sql compresses envelopes with lz4 instead of pglz. SQLite does not compress
-- values: this migration only keeps the numbering alike.

-- +goose Up

SELECT 1;

-- +goose Down

SELECT 1;
