-- The index rows of attestations (subjects, materials, signers) without foreign keys to their attestation.
--
-- Index rows are derived from their attestation's envelope, and attestd writes them only in the statement that
-- inserts the attestation, from the rows that insert returns; attestations are never deleted, so nothing
-- cascades. The foreign keys checked every index row against its attestation with a query that attestd's
-- connections plan anew for each row (plan_cache_mode force_custom_plan, see postgres.Open): 40% of a group
-- insert's execution. Without them submissions run about 17% faster (docs/performance.md, 2026-12-07).
--
-- What the keys also held, that an index row names an attestation of its own project, every read now checks:
-- index rows are joined to attestations by project and seq. Verify judges candidates from their envelopes, which
-- the log commits to, never from index rows.

-- +goose Up

ALTER TABLE attestation_subjects DROP CONSTRAINT attestation_subjects_project_id_attestation_seq_fkey;
ALTER TABLE attestation_materials DROP CONSTRAINT attestation_materials_project_id_attestation_seq_fkey;
ALTER TABLE attestation_signers DROP CONSTRAINT attestation_signers_project_id_attestation_seq_fkey;

-- +goose Down

ALTER TABLE attestation_subjects ADD CONSTRAINT attestation_subjects_project_id_attestation_seq_fkey
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE;
ALTER TABLE attestation_materials ADD CONSTRAINT attestation_materials_project_id_attestation_seq_fkey
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE;
ALTER TABLE attestation_signers ADD CONSTRAINT attestation_signers_project_id_attestation_seq_fkey
    FOREIGN KEY (project_id, attestation_seq) REFERENCES attestations (project_id, seq) ON DELETE CASCADE;
