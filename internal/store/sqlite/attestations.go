package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/attestd/attestd/internal/store"
)

const attestationColumns = `seq, project_id, id, envelope, payload_type, statement_type, predicate_type, step,
	signer_key_ids, submitter_id, created_at, log_index`

func scanAttestation(row scanner) (store.Attestation, error) {
	var a store.Attestation
	var signers string
	var created int64
	var logIndex sql.Null[int64]
	err := row.Scan(&a.Seq, &a.ProjectID, &a.ID, &a.Envelope, &a.PayloadType, &a.StatementType, &a.PredicateType,
		&a.Step, &signers, &a.SubmitterID, &created, &logIndex)
	if err != nil {
		return store.Attestation{}, err
	}
	if a.SignerKeyIDs, err = fromJSONList("signer key ids", signers); err != nil {
		return store.Attestation{}, err
	}
	a.CreatedAt = fromMicros(created)
	a.LogIndex = fromNullIndex(logIndex)
	return a, nil
}

// errUnloggedRow is InsertAttestation's answer to an id that the project has as a row without log index.
var errUnloggedRow = errors.New("the project has a row with this id and no log index, which attestd did not " +
	"write (attestd audit reports it)")

// InsertAttestation stores a with its subjects, materials and signers in one write transaction and returns it
// as stored (Seq assigned, CreatedAt set to now if zero, SignerKeyIDs sorted without duplicates). The same
// transaction deletes the orphan record of a.LogIndex, which the new row claims, and records a pending anchor
// if the project has a Rekor URL.
//
// a.LogIndex is required, and a.ID must be the sha256 of a.Envelope. If the project has an attestation with
// a.ID already, it stores nothing and returns that one with created=false, whatever its log index: the check
// and the insert are one write transaction, and those run one at a time, so of concurrent inserts of one id
// exactly one creates the row. A log index that another attestation has is store.ErrAlreadyExists, and
// store.ErrNotFound means that the project does not exist. A row with a.ID that has no log index (written
// behind attestd's back) is an error of its own: it is neither returned nor replaced.
func (s *Store) InsertAttestation(ctx context.Context, a store.Attestation) (store.Attestation, bool, error) {
	if a.LogIndex == nil {
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: no log index "+
			"(the leaf is appended to the log before the row is inserted)", a.ID)
	}
	index, err := dbInt("log index", *a.LogIndex)
	if err == nil {
		err = checkContentID(a.ID, a.Envelope)
	}
	a.SignerKeyIDs = slices.Compact(slices.Sorted(slices.Values(a.SignerKeyIDs)))
	if err == nil {
		err = checkKeyIDs(a.SignerKeyIDs)
	}
	var signers string
	if err == nil {
		signers, err = jsonList("signer key id", a.SignerKeyIDs)
	}
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: %w", a.ID, err)
	}
	a.LogIndex = new(*a.LogIndex) // the caller's pointer stays the caller's
	a.CreatedAt = orNow(a.CreatedAt)
	if a.Envelope == nil {
		a.Envelope = []byte{}
	}
	var existing *store.Attestation
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		page, err := queryAttestations(ctx, tx,
			`SELECT `+attestationColumns+` FROM attestations WHERE project_id = ? AND id = ?`, a.ProjectID, a.ID)
		if err != nil {
			return err
		}
		if len(page) > 0 {
			if page[0].LogIndex == nil {
				return errUnloggedRow
			}
			existing = &page[0]
			return nil
		}
		err = tx.QueryRowContext(ctx, `
			INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
				signer_key_ids, submitter_id, created_at, log_index)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING seq`,
			a.ProjectID, a.ID, a.Envelope, a.PayloadType, a.StatementType, a.PredicateType, a.Step,
			signers, a.SubmitterID, micros(a.CreatedAt), index,
		).Scan(&a.Seq)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM log_orphans WHERE log_index = ?`, index); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO anchors (project_id, attestation_id, state, next_attempt_at, created_at, updated_at)
			SELECT id, ?2, 'pending', ?3, ?3, ?3 FROM projects WHERE id = ?1 AND rekor_url <> ''`,
			a.ProjectID, a.ID, micros(a.CreatedAt)); err != nil {
			return err
		}
		return insertIndexRows(ctx, tx, a)
	})
	switch {
	case isUnique(err):
		// The project had no row with a.ID (the transaction checked), so the unique violation is the log index.
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: log index %d belongs to another "+
			"attestation: %w", a.ID, index, classify(ctx, err))
	case err != nil:
		return store.Attestation{}, false, fmt.Errorf("insert attestation %s: %w", a.ID, classify(ctx, err))
	case existing != nil:
		return *existing, false, nil
	}
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

// insertIndexRows inserts the subjects, materials and signers of the new attestation a (Seq assigned), each
// table through one prepared statement.
func insertIndexRows(ctx context.Context, tx *sql.Tx, a store.Attestation) error {
	for kind, list := range [...][]store.Artifact{subjects: a.Subjects, materials: a.Materials} {
		if len(list) == 0 {
			continue
		}
		err := execEach(ctx, tx, `INSERT INTO `+artifactTables[kind]+`
			(project_id, attestation_seq, ord, name, algorithm, digest) VALUES (?, ?, ?, ?, ?, ?)`,
			len(list), func(i int) []any {
				return []any{a.ProjectID, a.Seq, i + 1, list[i].Name, list[i].Algorithm, list[i].Digest}
			})
		if err != nil {
			return err
		}
	}
	return execEach(ctx, tx, `INSERT INTO attestation_signers (project_id, attestation_seq, key_id) VALUES (?, ?, ?)`,
		len(a.SignerKeyIDs), func(i int) []any { return []any{a.ProjectID, a.Seq, a.SignerKeyIDs[i]} })
}

// execEach prepares query once and executes it n times, with the arguments args(i).
func execEach(ctx context.Context, tx *sql.Tx, query string, n int, args func(i int) []any) error {
	if n == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range n {
		if _, err := stmt.ExecContext(ctx, args(i)...); err != nil {
			return err
		}
	}
	return nil
}

// GetAttestation returns the project's attestation id, or store.ErrNotFound. A row without a log index is
// not found.
func (s *Store) GetAttestation(ctx context.Context, projectID int64, id string) (store.Attestation, error) {
	page, err := s.readAttestations(ctx, `SELECT `+attestationColumns+` FROM attestations
		WHERE project_id = ? AND id = ? AND log_index IS NOT NULL`, projectID, id)
	if err != nil {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, err)
	}
	if len(page) == 0 {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, store.ErrNotFound)
	}
	return page[0], nil
}

// readAttestations runs queryAttestations in a read transaction, so that the rows and their artifacts come
// from one snapshot. Errors are classified.
func (s *Store) readAttestations(ctx context.Context, query string, args ...any) ([]store.Attestation, error) {
	return s.readAttestationsNamed(ctx, true, query, args...)
}

// readAttestationsNamed is readAttestations, with or without the names of the artifacts.
func (s *Store) readAttestationsNamed(ctx context.Context, names bool, query string, args ...any) ([]store.Attestation, error) {
	var page []store.Attestation
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		page, err = queryAttestationsNamed(ctx, tx, names, query, args...)
		return err
	})
	if err != nil {
		return nil, classify(ctx, err)
	}
	return page, nil
}

// queryAttestations runs query, a SELECT of attestationColumns, and returns its rows with their subjects and
// materials: two queries, however many rows.
func queryAttestations(ctx context.Context, db querier, query string, args ...any) ([]store.Attestation, error) {
	return queryAttestationsNamed(ctx, db, true, query, args...)
}

// queryAttestationsNamed is queryAttestations, with the names of the subjects and materials or (names false)
// without them.
func queryAttestationsNamed(ctx context.Context, db querier, names bool, query string, args ...any) ([]store.Attestation, error) {
	page, err := collect(ctx, db, scanAttestation, query, args...)
	if err != nil {
		return nil, err
	}
	if err := loadArtifacts(ctx, db, page, names); err != nil {
		return nil, err
	}
	return page, nil
}

// loadArtifacts fills in the subjects and materials of the attestations in page, of any projects, with one
// query; without their names ("") unless names. Seq identifies an attestation in every project, and the
// foreign keys of the artifact tables hold the artifacts to the project of their attestation.
func loadArtifacts(ctx context.Context, db querier, page []store.Attestation, names bool) error {
	if len(page) == 0 {
		return nil
	}
	bySeq := make(map[int64]*store.Attestation, len(page))
	seqs := make([]int64, len(page))
	for i := range page {
		bySeq[page[i].Seq] = &page[i]
		seqs[i] = page[i].Seq
	}
	name := "name"
	if !names {
		name = "''"
	}
	rows, err := db.QueryContext(ctx, `
		SELECT 0, attestation_seq, ord, `+name+`, algorithm, digest FROM attestation_subjects
		WHERE attestation_seq IN (SELECT value FROM json_each(?1))
		UNION ALL
		SELECT 1, attestation_seq, ord, `+name+`, algorithm, digest FROM attestation_materials
		WHERE attestation_seq IN (SELECT value FROM json_each(?1))
		ORDER BY 2, 1, 3`, jsonInts(seqs))
	if err != nil {
		return fmt.Errorf("load subjects and materials: %w", classify(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind, seq, ord int64
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

// jsonInts is a JSON array of the numbers, for json_each.
func jsonInts(list []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte(']')
	return b.String()
}
