package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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

// insertAttestationsSQL stores attestation rows and everything that goes with them in one statement, so one
// round trip and one commit: the rows, given as parallel arrays ($1-$11, one element per row, in order); the
// orphan records of their log indexes, which the rows claim, deleted; a pending anchor for each row whose
// project has a Rekor URL (the project's setting read in the transaction that stores the attestation); their
// subjects ($12-$17) and materials ($18-$23), one element per artifact, naming their attestation by project
// and id; their signers, from the rows' signer_key_ids (which travel comma-joined: key ids are hex, and
// insertRows refuses any other). A row whose (project, id) the project has already, or an earlier element
// takes, is left out with all that goes with it. It returns the rows it created.
var insertAttestationsSQL = `
	WITH ins AS (
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at, log_index)
		SELECT u.project_id, u.id, u.envelope, u.payload_type, u.statement_type, u.predicate_type, u.step,
			string_to_array(u.signers, ','), u.submitter_id, COALESCE(u.created_at, now()), u.log_index
		FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::timestamptz[], $11::bigint[]) WITH ORDINALITY
			AS u (project_id, id, envelope, payload_type, statement_type, predicate_type, step, signers,
				submitter_id, created_at, log_index, ord)
		ORDER BY u.ord
		ON CONFLICT (project_id, id) DO NOTHING
		RETURNING project_id, id, seq, created_at, log_index, signer_key_ids
	), orphans AS (
		DELETE FROM log_orphans WHERE log_index IN (SELECT log_index FROM ins)
	), anchors AS (
		INSERT INTO anchors (project_id, attestation_id, state, next_attempt_at, created_at, updated_at)
		SELECT ins.project_id, ins.id, 'pending', ins.created_at, ins.created_at, ins.created_at
		FROM ins JOIN projects p ON p.id = ins.project_id
		WHERE p.rekor_url <> ''
	), subjects AS (` + insertArtifactsCTE(artifactTables[subjects], 12) + `
	), materials AS (` + insertArtifactsCTE(artifactTables[materials], 18) + `
	), signers AS (
		INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
		SELECT ins.project_id, ins.seq, k FROM ins CROSS JOIN LATERAL unnest(ins.signer_key_ids) AS k
	)
	SELECT project_id, id, seq, created_at, log_index FROM ins`

// insertArtifactsCTE is the part of insertAttestationsSQL that indexes subjects or materials (table), given
// as six arrays from parameter $first on: project, attestation id, ord, name, algorithm, digest.
func insertArtifactsCTE(table string, first int) string {
	p := func(i int) int { return first + i }
	return fmt.Sprintf(`
		INSERT INTO %s (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT ins.project_id, ins.seq, a.ord, a.name, a.algorithm, a.digest
		FROM unnest($%d::bigint[], $%d::text[], $%d::int[], $%d::text[], $%d::text[], $%d::text[])
			AS a (project_id, id, ord, name, algorithm, digest)
		JOIN ins ON ins.project_id = a.project_id AND ins.id = a.id`, table, p(0), p(1), p(2), p(3), p(4), p(5))
}

// insertRows stores rows with one statement (insertAttestationsSQL) on db: run on the pool, it is its own
// transaction, one round trip and one commit whatever the number of rows. It sets the Seq and CreatedAt of the
// rows it created and reports which those are.
func insertRows(ctx context.Context, db querier, rows []insertRow) ([]bool, error) {
	n := len(rows)
	var (
		projects   = make([]int64, n)
		ids        = make([]string, n)
		envelopes  = make([][]byte, n)
		payloads   = make([]string, n)
		statements = make([]string, n)
		predicates = make([]string, n)
		steps      = make([]string, n)
		signers    = make([]string, n)
		submitters = make([]string, n)
		createdAt  = make([]*time.Time, n)
		indexes    = make([]int64, n)
		artifacts  [2]artifactArrays // subjects, materials
	)
	type key struct {
		project int64
		id      string
	}
	seen := make(map[key]bool, n)
	for i, r := range rows {
		a := r.a
		for _, k := range a.SignerKeyIDs {
			if k == "" || strings.ContainsRune(k, ',') {
				return nil, fmt.Errorf("attestation %s: signer key id %q is not a key id", a.ID, k)
			}
		}
		projects[i], ids[i], envelopes[i] = a.ProjectID, a.ID, a.Envelope
		payloads[i], statements[i], predicates[i], steps[i] = a.PayloadType, a.StatementType, a.PredicateType, a.Step
		signers[i], submitters[i], createdAt[i], indexes[i] = strings.Join(a.SignerKeyIDs, ","), a.SubmitterID, nullTime(a.CreatedAt), r.index
		if k := (key{a.ProjectID, a.ID}); !seen[k] { // the same id twice has the same artifacts: index them once
			seen[k] = true
			artifacts[subjects].add(a, a.Subjects)
			artifacts[materials].add(a, a.Materials)
		}
	}
	sa, ma := artifacts[subjects], artifacts[materials]
	res, err := db.Query(ctx, insertAttestationsSQL, projects, ids, envelopes, payloads, statements, predicates,
		steps, signers, submitters, createdAt, indexes,
		sa.projects, sa.ids, sa.ords, sa.names, sa.algorithms, sa.digests,
		ma.projects, ma.ids, ma.ords, ma.names, ma.algorithms, ma.digests)
	if err != nil {
		return nil, err
	}
	type made struct {
		seq int64
		at  time.Time
	}
	type row struct {
		key
		index int64
	}
	inserted := make(map[row]made, n)
	for res.Next() {
		var r row
		var m made
		if err := res.Scan(&r.project, &r.id, &m.seq, &m.at, &r.index); err != nil {
			res.Close()
			return nil, err
		}
		inserted[r] = m
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	created := make([]bool, n)
	for i := range rows {
		r := row{key{rows[i].a.ProjectID, rows[i].a.ID}, rows[i].index}
		if m, ok := inserted[r]; ok {
			delete(inserted, r) // the same id with the same index twice: the first is the one created
			created[i] = true
			rows[i].a.Seq, rows[i].a.CreatedAt = m.seq, m.at
		}
	}
	return created, nil
}

// querier runs a query: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// artifactArrays are subjects or materials of several attestations as parallel arrays, one element per
// artifact, for insertAttestationsSQL.
type artifactArrays struct {
	projects                   []int64
	ids                        []string
	ords                       []int32
	names, algorithms, digests []string
}

func (t *artifactArrays) add(a store.Attestation, list []store.Artifact) {
	for i, art := range list {
		t.projects = append(t.projects, a.ProjectID)
		t.ids = append(t.ids, a.ID)
		t.ords = append(t.ords, int32(i+1))
		t.names = append(t.names, art.Name)
		t.algorithms = append(t.algorithms, art.Algorithm)
		t.digests = append(t.digests, art.Digest)
	}
}

// insertOne stores r in a transaction of its own.
func (s *Store) insertOne(ctx context.Context, r insertRow) (store.Attestation, bool, error) {
	rows := []insertRow{r}
	created, err := insertRows(ctx, s.writer, rows)
	return s.settleInsert(ctx, rows[0].a, r.index, err == nil && created[0], err)
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
	page, err := s.queryAttestations(ctx, s.lookups,
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

// GetAttestation returns the project's attestation id, or store.ErrNotFound. A row without a log index is
// not found.
func (s *Store) GetAttestation(ctx context.Context, projectID int64, id string) (store.Attestation, error) {
	page, err := s.queryAttestations(ctx, s.lookups, `SELECT `+attestationColumns+` FROM attestations
		WHERE project_id = $1 AND id = $2 AND log_index IS NOT NULL`, projectID, id)
	if err != nil {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, err)
	}
	if len(page) == 0 {
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, store.ErrNotFound)
	}
	return page[0], nil
}

// queryAttestations runs sql, a SELECT of attestationColumns, on pool and returns its rows with their subjects
// and materials: two queries, however many rows. pool is s.lookups for a statement that an index serves
// whatever its values (see Open), else s.pool.
func (s *Store) queryAttestations(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]store.Attestation, error) {
	rows, err := pool.Query(ctx, sql, args...)
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
// query, a walk of the two tables' primary keys (on s.lookups). Seq identifies an attestation in every
// project; an index row is taken only if it names the project of its attestation too (no foreign key holds it
// there: see migration 00010).
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
	rows, err := s.lookups.Query(ctx, `
		SELECT 0, project_id, attestation_seq, ord, name, algorithm, digest FROM attestation_subjects
		WHERE attestation_seq = ANY($1)
		UNION ALL
		SELECT 1, project_id, attestation_seq, ord, name, algorithm, digest FROM attestation_materials
		WHERE attestation_seq = ANY($1)
		ORDER BY 3, 1, 4`, seqs)
	if err != nil {
		return fmt.Errorf("load subjects and materials: %w", classify(ctx, err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var project, seq int64
		var ord int32
		var art store.Artifact
		if err := rows.Scan(&kind, &project, &seq, &ord, &art.Name, &art.Algorithm, &art.Digest); err != nil {
			return fmt.Errorf("load subjects and materials: %w", classify(ctx, err))
		}
		a := bySeq[seq]
		if a.ProjectID != project {
			continue // written behind attestd's back, for another project
		}
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
