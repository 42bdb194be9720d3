-- Decision rows without a foreign key to their project.
--
-- The key made every AddDecision lock its project's row (FOR KEY SHARE, taken by the key's check), so that
-- concurrent Verify calls of one project shared a multixact lock on one row. pgbench of AddDecision's insert on
-- the decision pool's settings (asynchronous commit, generic plan), 15 s each: 16 clients 38,167 and 40,016
-- inserts/s with the key, 45,782 without; 1 client 0.087 and 0.083 ms against 0.082 (docs/performance.md,
-- 2026-12-07).
--
-- What the key held still holds: AddDecision inserts from a SELECT of the project's row, so a decision for a
-- project that does not exist inserts nothing and is ErrNotFound, and projects are never deleted.

-- +goose Up

ALTER TABLE decisions DROP CONSTRAINT decisions_project_id_fkey;

-- +goose Down

ALTER TABLE decisions ADD CONSTRAINT decisions_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id);
