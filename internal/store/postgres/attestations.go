package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attestd/attestd/internal/store"
)

const attestationColumns = `seq, project_id, id, envelope, payload_type, statement_type, predicate_type, step,
	signer_key_ids, submitter_id, created_at, log_index`

func scanAttestation(row pgx.Row) (store.Attestation, error) {
	var a store.Attestation
	var logIndex *int64
	err := row.Scan(&a.Seq, &a.ProjectID, &a.ID, &a.Envelope, &a.PayloadType, &a.StatementType, &a.PredicateType,
		&a.Step, &a.SignerKeyIDs, &a.SubmitterID, &a.CreatedAt, &logIndex)
	if err != nil {
		return store.Attestation{}, err
	}
	if logIndex != nil {
		u := uint64(*logIndex) // never negative: the schema checks it
		a.LogIndex = &u
	}
	a.SignerKeyIDs = emptyNil(a.SignerKeyIDs)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// InsertAttestation stores a with its subjects, materials and signers in one transaction and returns it as
// stored (Seq assigned, CreatedAt set to now if zero, SignerKeyIDs sorted without duplicates). The same
// transaction deletes the orphan record of a.LogIndex, which the new row claims, and records a pending
// anchor if the project has a Rekor URL: the statements after the first go in one batch, one round trip.
// Inserts that run at once share transactions (see insertGrouped): each returns once its row has committed.
//
// a.LogIndex is required. If the project has an attestation with a.ID already, it stores nothing and returns
// that one with created=false, whatever its log index; concurrent inserts of one id wait for each other on the
// primary key, so exactly one of them creates the row. A log index that another attestation has is
// store.ErrAlreadyExists, and store.ErrNotFound means that the project does not exist. A row with a.ID that
// has no log index (written behind attestd's back) is an error of its own: it is neither returned nor replaced.
func (s *Store) InsertAttestation(ctx context.Context, a store.Attestation) (store.Attestation, bool, error) {
	if a.LogIndex == nil {
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: no log index "+
			"(the leaf is appended to the log before the row is inserted)", a.ID)
	}
	index, err := dbInt("log index", *a.LogIndex)
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: %w", a.ID, err)
	}
	a.LogIndex = new(*a.LogIndex) // the caller's pointer stays the caller's
	a.SignerKeyIDs = slices.Compact(slices.Sorted(slices.Values(a.SignerKeyIDs)))
	return s.insertGrouped(ctx, insertRow{a: a, index: index})
}

// insertRow is one attestation to insert, checked and normalized by InsertAttestation.
type insertRow struct {
	a     store.Attestation
	index int64 // *a.LogIndex, as the database stores it
}

// insertAttestationSQL inserts one attestation row; it returns nothing when the project has the id already.
const insertAttestationSQL = `
	INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
		signer_key_ids, submitter_id, created_at, log_index)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, now()), $11)
	ON CONFLICT (project_id, id) DO NOTHING
	RETURNING seq, created_at`

// insertArgs are the arguments of insertAttestationSQL for r.
func insertArgs(r insertRow) []any {
	a := r.a
	signers := a.SignerKeyIDs
	if signers == nil {
		signers = []string{}
	}
	return []any{a.ProjectID, a.ID, a.Envelope, a.PayloadType, a.StatementType, a.PredicateType, a.Step,
		signers, a.SubmitterID, nullTime(a.CreatedAt), r.index}
}

// queueCreated queues what goes with a row just created (Seq and CreatedAt set): the orphan record of its log
// index, which the row claims, is deleted; a pending anchor is recorded if the project has a Rekor URL (the
// project's setting is read in the transaction that stores the attestation); its subjects, materials and
// signers are indexed.
func queueCreated(b *pgx.Batch, r insertRow) {
	b.Queue(`DELETE FROM log_orphans WHERE log_index = $1`, r.index)
	b.Queue(`
		INSERT INTO anchors (project_id, attestation_id, state, next_attempt_at, created_at, updated_at)
		SELECT id, $2, 'pending', $3, $3, $3 FROM projects WHERE id = $1 AND rekor_url <> ''`,
		r.a.ProjectID, r.a.ID, r.a.CreatedAt)
	queueArtifacts(b, r.a)
}

// insertOne stores r in a transaction of its own: the row first, then, if it was created, the rest in one
// batch (one round trip).
func (s *Store) insertOne(ctx context.Context, r insertRow) (store.Attestation, bool, error) {
	a := r.a
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, insertAttestationSQL, insertArgs(r)...).Scan(&a.Seq, &a.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the project has it already: read it once this transaction is over
		}
		if err != nil {
			return err
		}
		created = true
		rest := &pgx.Batch{}
		queueCreated(rest, insertRow{a: a, index: r.index})
		return tx.SendBatch(ctx, rest).Close()
	})
	return s.settleInsert(ctx, a, r.index, created, err)
}

// settleInsert turns the outcome of inserting a into InsertAttestation's answer.
func (s *Store) settleInsert(ctx context.Context, a store.Attestation, index int64, created bool, err error) (store.Attestation, bool, error) {
	switch {
	case logIndexTaken(err):
		// ON CONFLICT arbitrates on (project_id, id) only: a concurrent insert of this same attestation with the
		// same log index that commits first shows up as a conflict on log_index (TestInsertRaceOnLogIndex forces
		// it). Then the row is ours to return.
		existing, getErr := s.existing(ctx, a.ProjectID, a.ID)
		if !errors.Is(getErr, store.ErrNotFound) {
			return existing, false, getErr
		}
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: log index %d belongs to another "+
			"attestation: %w", a.ID, index, classify(ctx, err))
	case err != nil:
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: %w", a.ID, classify(ctx, err))
	case !created:
		existing, err := s.existing(ctx, a.ProjectID, a.ID)
		return existing, false, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.SignerKeyIDs = emptyNil(a.SignerKeyIDs)
	a.Subjects = emptyNil(a.Subjects)
	a.Materials = emptyNil(a.Materials)
	return a, true, nil
}

// existing reads the row that made an insert of (projectID, id) store nothing. A row without a log index is
// not returned: reads never show those, and the caller must not take it for its own.
func (s *Store) existing(ctx context.Context, projectID int64, id string) (store.Attestation, error) {
	page, err := s.queryAttestations(ctx,
		`SELECT `+attestationColumns+` FROM attestations WHERE project_id = $1 AND id = $2`, projectID, id)
	switch {
	case err != nil:
		return store.Attestation{}, fmt.Errorf("insert attestation %s: read the stored one: %w", id, err)
	case len(page) == 0:
		return store.Attestation{}, fmt.Errorf("insert attestation %s: read the stored one: %w", id, store.ErrNotFound)
	case page[0].LogIndex == nil:
		return store.Attestation{}, fmt.Errorf("insert attestation %s: the project has a row with this id and no "+
			"log index, which attestd did not write (attestd audit reports it)", id)
	}
	return page[0], nil
}

// logIndexTaken reports whether err is the violation of the unique index on attestations.log_index.
func logIndexTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation &&
		pgErr.ConstraintName == "attestations_log_index_key"
}

// artifactTables are the tables of subjects and materials, in the order of artifactKind.
var artifactTables = [...]string{subjects: "attestation_subjects", materials: "attestation_materials"}

type artifactKind int

const (
	subjects artifactKind = iota
	materials
)

// queueArtifacts queues the index rows of the new attestation a (subjects, materials, signers): one INSERT per
// table over arrays, to be sent in one round trip.
func queueArtifacts(batch *pgx.Batch, a store.Attestation) {
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
}

// GetAttestation returns the project's attestation id, or store.ErrNotFound. A row without a log index is
// not found.
func (s *Store) GetAttestation(ctx context.Context, projectID int64, id string) (store.Attestation, error) {
	page, err := s.queryAttestations(ctx, `SELECT `+attestationColumns+` FROM attestations
		WHERE project_id = $1 AND id = $2 AND log_index IS NOT NULL`, projectID, id)
	if err != nil {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, err)
	}
	if len(page) == 0 {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, store.ErrNotFound)
	}
	return page[0], nil
}

// queryAttestations runs sql, a SELECT of attestationColumns, and returns its rows with their subjects and
// materials: two queries, however many rows.
func (s *Store) queryAttestations(ctx context.Context, sql string, args ...any) ([]store.Attestation, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(ctx, err)
	}
	page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Attestation, error) {
		return scanAttestation(row)
	})
	if err != nil {
		return nil, classify(ctx, err)
	}
	if err := s.loadArtifacts(ctx, page); err != nil {
		return nil, err
	}
	return page, nil
}

// loadArtifacts fills in the subjects and materials of the attestations in page, of any projects, with one
// query. Seq identifies an attestation in every project, and the foreign keys of the artifact tables hold the
// artifacts to the project of their attestation.
func (s *Store) loadArtifacts(ctx context.Context, page []store.Attestation) error {
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
		WHERE attestation_seq = ANY($1)
		UNION ALL
		SELECT 1, attestation_seq, ord, name, algorithm, digest FROM attestation_materials
		WHERE attestation_seq = ANY($1)
		ORDER BY 2, 1, 3`, seqs)
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
