package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
)

// attestation is a minimal valid attestation of projectID named by label, at log index index.
func attestation(projectID int64, label string, index uint64) store.Attestation {
	env := []byte(`{"x":"` + label + `"}`)
	sum := sha256.Sum256(env)
	return store.Attestation{ProjectID: projectID, ID: hex.EncodeToString(sum[:]), Envelope: env,
		PayloadType: "x", StatementType: "y", LogIndex: &index,
		Subjects: []store.Artifact{{Name: "out", Algorithm: "sha256", Digest: strings.Repeat("a", 64)}}}
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestClaimDeletesOrphanRecord: the row that takes an orphan's index deletes the record, not only hides it;
// a failed insert keeps it.
func TestClaimDeletesOrphanRecord(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	if err := st.AddOrphanLeaves(ctx, []store.OrphanLeaf{{LogIndex: 4, Entry: []byte("e")}}); err != nil {
		t.Fatal(err)
	}
	a := attestation(p.ID, "a", 4)
	a.Subjects[0].Algorithm = "" // refused by the schema when the subjects are inserted, after the DELETE
	if _, _, err := st.InsertAttestation(ctx, a); err == nil {
		t.Fatal("InsertAttestation of a subject without algorithm succeeded")
	}
	if n := count(t, conn, `SELECT count(*) FROM log_orphans WHERE log_index = 4`); n != 1 {
		t.Errorf("%d orphan records at 4 after a failed insert, want 1", n)
	}
	if _, _, err := st.InsertAttestation(ctx, attestation(p.ID, "a", 4)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, `SELECT count(*) FROM log_orphans`); n != 0 {
		t.Errorf("%d orphan records after the claim, want 0", n)
	}
}

// TestOrphansWithRowsAreNotOrphans: a leaf whose index has a row is neither recorded nor listed, even when a
// stale record of it exists.
func TestOrphansWithRowsAreNotOrphans(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	for i := range uint64(2) {
		if _, _, err := st.InsertAttestation(ctx, attestation(p.ID, fmt.Sprint(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	err := st.AddOrphanLeaves(ctx, []store.OrphanLeaf{{LogIndex: 0, Entry: []byte("e")}, {LogIndex: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO log_orphans (log_index, entry) VALUES (1, 'stale')`); err != nil {
		t.Fatal(err)
	}
	leaves, err := st.ListOrphanLeaves(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != 1 || leaves[0].LogIndex != 2 {
		t.Errorf("ListOrphanLeaves = %+v, want leaf 2 only", leaves)
	}
	if n := count(t, conn, `SELECT count(*) FROM log_orphans WHERE log_index = 0`); n != 0 {
		t.Errorf("AddOrphanLeaves recorded leaf 0, which has a row")
	}
}

// TestInsertRaceOnLogIndex forces the race in which ON CONFLICT (project_id, id) does not arbitrate: the
// insert of one attestation passes the primary key's pre-check, then the same attestation with the same log
// index commits, and the first insert meets it on log_index instead. It must get the row back, created=false.
// An index whose expression waits on an advisory lock that the test holds stops the first insert between its
// pre-check and its own primary key entry (indexes take their entries in the order they were created).
func TestInsertRaceOnLogIndex(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	const lockID = 7331
	_, err := conn.Exec(ctx, `
		CREATE FUNCTION stall(submitter text) RETURNS boolean IMMUTABLE LANGUAGE sql AS $$
			SELECT CASE WHEN submitter = 'slow' THEN pg_advisory_xact_lock(`+fmt.Sprint(lockID)+`) IS NULL END
		$$;
		CREATE INDEX stall_index ON attestations (stall(submitter_id));
		ALTER TABLE attestations DROP CONSTRAINT attestations_pkey CASCADE; -- and the foreign key of anchors
		ALTER TABLE attestations ADD PRIMARY KEY (project_id, id);
		ALTER TABLE anchors ADD FOREIGN KEY (project_id, attestation_id) REFERENCES attestations (project_id, id)
			ON DELETE CASCADE;
		DROP INDEX attestations_log_index_key;
		CREATE UNIQUE INDEX attestations_log_index_key ON attestations (log_index) WHERE log_index IS NOT NULL;
		SELECT pg_advisory_lock(`+fmt.Sprint(lockID)+`)`)
	if err != nil {
		t.Fatal(err)
	}
	slow, fast := attestation(p.ID, "a", 9), attestation(p.ID, "a", 9)
	slow.SubmitterID, fast.SubmitterID = "slow", "fast"

	type result struct {
		a       store.Attestation
		created bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		a, created, err := st.InsertAttestation(ctx, slow)
		done <- result{a, created, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for count(t, conn, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow insert never waited on the advisory lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	won, created, err := st.InsertAttestation(ctx, fast)
	if err != nil || !created {
		t.Fatalf("the fast insert = created %v, %v; want created", created, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockID); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.created {
		t.Fatalf("the slow insert = created %v, %v; want the fast one's row", r.created, r.err)
	}
	if r.a.SubmitterID != "fast" || r.a.Seq != won.Seq {
		t.Errorf("the slow insert returned %+v, want the fast one's row %+v", r.a, won)
	}
}

// queryLog is a pgx tracer that keeps the queries run through it.
type queryLog struct {
	mu      sync.Mutex
	queries []pgx.TraceQueryStartData
}

func (l *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, d)
	return ctx
}

func (l *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *queryLog) take() []pgx.TraceQueryStartData {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// TestLogReadsQueryOnce: each read is one query for the rows and one for all their artifacts, however many
// rows, and the row query of each log read is served by its index.
func TestLogReadsQueryOnce(t *testing.T) {
	ctx := t.Context()
	url := dbtest.New(t)
	var log queryLog
	st := open(t, url, func(c *pgxpool.Config) { c.ConnConfig.Tracer = &log })
	conn := connect(t, url)
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	// 20,000 rows with log indices in reverse order of seq, every 1000th without one; two artifacts each.
	_, err = conn.Exec(ctx, `
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, log_index)
		SELECT `+fmt.Sprint(p.ID)+`, encode(sha256(convert_to(i::text, 'UTF8')), 'hex'), convert_to(i::text, 'UTF8'),
			'x', 'y', CASE WHEN i % 1000 <> 0 THEN 20000 - i END
		FROM generate_series(1, 20000) AS i;
		INSERT INTO attestation_subjects (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'out', 'sha256', 'd' FROM attestations;
		INSERT INTO attestation_materials (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'in', 'sha256', 'd' FROM attestations;
		ANALYZE`)
	if err != nil {
		t.Fatal(err)
	}
	id := func(i int) string {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		return hex.EncodeToString(sum[:])
	}
	log.take()
	for _, tc := range []struct {
		name  string
		read  func() ([]store.Attestation, error)
		rows  int
		index string // the index that serves the row query, if the test checks it
	}{
		{"GetAttestation", func() ([]store.Attestation, error) {
			a, err := st.GetAttestation(ctx, p.ID, id(7))
			return []store.Attestation{a}, err
		}, 1, "attestations_pkey"},
		{"ListAttestations", func() ([]store.Attestation, error) {
			return st.ListAttestations(ctx, p.ID, store.Filter{Limit: 500})
		}, 500, ""},
		{"AttestationAtIndex", func() ([]store.Attestation, error) {
			a, err := st.AttestationAtIndex(ctx, 77)
			return []store.Attestation{a}, err
		}, 1, "attestations_log_index_key"},
		{"ScanByLogIndex", func() ([]store.Attestation, error) {
			return st.ScanByLogIndex(ctx, 5000, 500)
		}, 500, "attestations_log_index_key"},
		{"ScanUnlogged", func() ([]store.Attestation, error) {
			return st.ScanUnlogged(ctx, 0, 500)
		}, 20, "attestations_unlogged"},
	} {
		list, err := tc.read()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(list) != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.name, len(list), tc.rows)
		}
		for _, a := range list {
			if len(a.Subjects) != 1 || len(a.Materials) != 1 {
				t.Fatalf("%s: %.12s has %d subjects and %d materials, want 1 and 1", tc.name, a.ID,
					len(a.Subjects), len(a.Materials))
			}
		}
		queries := log.take()
		if len(queries) != 2 {
			t.Errorf("%s: %d queries, want 2", tc.name, len(queries))
			continue
		}
		if tc.index == "" {
			continue
		}
		rows, err := conn.Query(ctx, "EXPLAIN "+queries[0].SQL, queries[0].Args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if plan := strings.Join(lines, "\n"); !strings.Contains(plan, tc.index) || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s is not served by %s:\n%s", tc.name, tc.index, plan)
		}
	}
}

// TestUpgradeKeepsRowsWithoutLogIndex: a database that ran 00001 alone and has attestations migrates to the
// log schema; its rows, which have no log index, are then seen by the audit's scan only.
func TestUpgradeKeepsRowsWithoutLogIndex(t *testing.T) {
	ctx := t.Context()
	url := dbtest.NewEmpty(t)
	if _, err := gooseProvider(t, url).UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to 00001: %v", err)
	}
	conn := connect(t, url)
	_, err := conn.Exec(ctx, `
		INSERT INTO projects (name) VALUES ('alpha');
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type)
		SELECT 1, encode(sha256(convert_to(i::text, 'UTF8')), 'hex'), convert_to(i::text, 'UTF8'), 'x', 'y'
		FROM generate_series(1, 3) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatalf("Migrate over rows without log index: %v", err)
	}
	st := open(t, url)
	if list, err := st.ListAttestations(ctx, 1, store.Filter{}); err != nil || len(list) != 0 {
		t.Errorf("ListAttestations after the upgrade = %d rows, %v; want none", len(list), err)
	}
	if list, err := st.ScanUnlogged(ctx, 0, 10); err != nil || len(list) != 3 {
		t.Errorf("ScanUnlogged after the upgrade = %d rows, %v; want 3", len(list), err)
	}
	if w, err := st.LogWatermark(ctx); err != nil || w != 0 {
		t.Errorf("LogWatermark after the upgrade = %d, %v; want 0", w, err)
	}
	if _, _, err := st.InsertAttestation(ctx, attestation(1, "new", 0)); err != nil {
		t.Errorf("InsertAttestation after the upgrade: %v", err)
	}
	if _, err := st.AttestationAtIndex(ctx, 0); err != nil {
		t.Errorf("AttestationAtIndex(0) after the upgrade: %v", err)
	}
	if _, err := st.AttestationAtIndex(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttestationAtIndex(1): err = %v, want ErrNotFound", err)
	}
}
