package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

const attestationColumns = `seq, project_id, id, envelope, payload_type, statement_type, predicate_type, step,
	signer_key_ids, submitter_id, created_at`

func scanAttestation(row pgx.Row) (store.Attestation, error) {
	var a store.Attestation
	err := row.Scan(&a.Seq, &a.ProjectID, &a.ID, &a.Envelope, &a.PayloadType, &a.StatementType, &a.PredicateType,
		&a.Step, &a.SignerKeyIDs, &a.SubmitterID, &a.CreatedAt)
	if err != nil {
		return store.Attestation{}, err
	}
	a.SignerKeyIDs = emptyNil(a.SignerKeyIDs)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// InsertAttestation stores a with its subjects, materials and signers in one transaction and returns it as
// stored (Seq assigned, CreatedAt set to now if zero, SignerKeyIDs sorted without duplicates). If the
// project has an attestation with a.ID already, it stores nothing and returns that one with created=false;
// concurrent inserts of one id wait for each other on the primary key, so exactly one of them creates the
// row. store.ErrNotFound if the project does not exist.
func (s *Store) InsertAttestation(ctx context.Context, a store.Attestation) (store.Attestation, bool, error) {
	a.SignerKeyIDs = slices.Compact(slices.Sorted(slices.Values(a.SignerKeyIDs)))
	signers := a.SignerKeyIDs
	if signers == nil {
		signers = []string{}
	}
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
				signer_key_ids, submitter_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()))
			ON CONFLICT (project_id, id) DO NOTHING
			RETURNING seq, created_at`,
			a.ProjectID, a.ID, a.Envelope, a.PayloadType, a.StatementType, a.PredicateType, a.Step,
			signers, a.SubmitterID, nullTime(a.CreatedAt),
		).Scan(&a.Seq, &a.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the project has it already: read it once this transaction is over
		}
		if err != nil {
			return err
		}
		created = true
		return insertArtifacts(ctx, tx, a)
	})
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: %w", a.ID, classify(ctx, err))
	}
	if !created {
		existing, err := s.GetAttestation(ctx, a.ProjectID, a.ID)
		if err != nil {
			return store.Attestation{}, false, fmt.Errorf("insert attestation %s: read the stored one: %w", a.ID, err)
		}
		return existing, false, nil
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.SignerKeyIDs = emptyNil(a.SignerKeyIDs)
	a.Subjects = emptyNil(a.Subjects)
	a.Materials = emptyNil(a.Materials)
	return a, true, nil
}

// artifactTables are the tables of subjects and materials, in the order of artifactKind.
var artifactTables = [...]string{subjects: "attestation_subjects", materials: "attestation_materials"}

type artifactKind int

const (
	subjects artifactKind = iota
	materials
)

// insertArtifacts stores the index rows of the new attestation a (subjects, materials, signers): one INSERT
// per table over arrays, all sent in one round trip.
func insertArtifacts(ctx context.Context, tx pgx.Tx, a store.Attestation) error {
	batch := &pgx.Batch{}
	for kind, list := range [...][]store.Artifact{subjects: a.Subjects, materials: a.Materials} {
		if len(list) == 0 {
			continue
		}
		names := make([]string, len(list))
		algorithms := make([]string, len(list))
		digests := make([]string, len(list))
		for i, art := range list {
			names[i], algorithms[i], digests[i] = art.Name, art.Algorithm, art.Digest
		}
		batch.Queue(`
			INSERT INTO `+artifactTables[kind]+` (project_id, attestation_seq, ord, name, algorithm, digest)
			SELECT $1, $2, u.ord, u.name, u.algorithm, u.digest
			FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u (name, algorithm, digest, ord)`,
			a.ProjectID, a.Seq, names, algorithms, digests)
	}
	if len(a.SignerKeyIDs) > 0 {
		batch.Queue(`
			INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
			SELECT DISTINCT $1::bigint, $2::bigint, k FROM unnest($3::text[]) AS k`,
			a.ProjectID, a.Seq, a.SignerKeyIDs)
	}
	if batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
}

// GetAttestation returns the project's attestation id, or store.ErrNotFound.
func (s *Store) GetAttestation(ctx context.Context, projectID int64, id string) (store.Attestation, error) {
	row := s.pool.QueryRow(ctx,
		`SELECT `+attestationColumns+` FROM attestations WHERE project_id = $1 AND id = $2`, projectID, id)
	a, err := scanAttestation(row)
	if err != nil {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, classify(ctx, err))
	}
	page := []store.Attestation{a}
	if err := s.loadArtifacts(ctx, projectID, page); err != nil {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, err)
	}
	return page[0], nil
}

// loadArtifacts fills in the subjects and materials of the project's attestations in page, with one query.
func (s *Store) loadArtifacts(ctx context.Context, projectID int64, page []store.Attestation) error {
	if len(page) == 0 {
		return nil
	}
	bySeq := make(map[int64]*store.Attestation, len(page))
	seqs := make([]int64, len(page))
	for i := range page {
		bySeq[page[i].Seq] = &page[i]
		seqs[i] = page[i].Seq
	}
	rows, err := s.pool.Query(ctx, `
		SELECT 0, attestation_seq, ord, name, algorithm, digest FROM attestation_subjects
		WHERE project_id = $1 AND attestation_seq = ANY($2)
		UNION ALL
		SELECT 1, attestation_seq, ord, name, algorithm, digest FROM attestation_materials
		WHERE project_id = $1 AND attestation_seq = ANY($2)
		ORDER BY 2, 1, 3`, projectID, seqs)
	if err != nil {
		return fmt.Errorf("load subjects and materials: %w", classify(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var seq int64
		var ord int32
		var art store.Artifact
		if err := rows.Scan(&kind, &seq, &ord, &art.Name, &art.Algorithm, &art.Digest); err != nil {
			return fmt.Errorf("load subjects and materials: %w", classify(ctx, err))
		}
		a := bySeq[seq]
		if artifactKind(kind) == subjects {
			a.Subjects = append(a.Subjects, art)
		} else {
			a.Materials = append(a.Materials, art)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load subjects and materials: %w", classify(ctx, err))
	}
	return nil
}
