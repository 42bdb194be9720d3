-- Envelopes compressed with lz4 instead of pglz, where the server has lz4 (PostgreSQL builds commonly do).
--
-- A 4 KiB envelope is over the TOAST threshold (about 2 KiB), so PostgreSQL compresses it on every insert:
-- with pglz that was a tenth of PostgreSQL's CPU per submission under load (perf, 2026-12-07). lz4 compresses
-- several times faster, to about the same size. Only values written from now on use it; both read alike. The
-- envelope bytes attestd reads back are the same either way (the database checks id = sha256(envelope)).
--
-- A server built without lz4 refuses the method (feature_not_supported): then the column keeps pglz.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE attestations ALTER COLUMN envelope SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: envelopes stay compressed with pglz';
END
$$;
-- +goose StatementEnd

-- +goose Down

ALTER TABLE attestations ALTER COLUMN envelope SET COMPRESSION pglz;
