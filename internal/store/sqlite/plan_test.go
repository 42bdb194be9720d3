package sqlite_test

import (
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/sqlite"
)

// fullScan matches a plan step that reads every row of the attestations table (alias a).
var fullScan = regexp.MustCompile(`(?m)^SCAN a\b`)

// TestListUsesIndexes: on a project with many rows, each selective filter is served by the index meant for
// it, and no listing reads every attestation of the project (a SCAN of attestations).
func TestListUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := newDB(t)
	db := rawDB(t, path)
	// 2,000 attestations over ten projects: 50 steps, 20 predicate types, 200 signers, one subject and one
	// material each with its own digest, one second apart, each with its log index. (Without ANALYZE, SQLite
	// plans from the schema, not from the counts: more rows would test nothing more.)
	_, err := db.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
		INSERT INTO projects (id, name) SELECT i, 'p' || i FROM n;
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO attestations (seq, project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at, log_index)
		SELECT i, 1 + i % 10, printf('%064x', i), CAST(i AS BLOB), 'x', 'y', 'p' || (i / 10 % 20),
			'step-' || (i / 10 % 50), json_array(printf('%064x', i / 10 % 200)), 't',
			1767225600000000 + i * 1000000, i - 1
		FROM n;
		INSERT INTO attestation_subjects (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'out', 'sha256', printf('%064x', seq * 7) FROM attestations;
		INSERT INTO attestation_materials (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'in', 'sha256', printf('%064x', seq * 11) FROM attestations;
		INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
		SELECT project_id, seq, signer_key_ids ->> 0 FROM attestations;`)
	if err != nil {
		t.Fatal(err)
	}
	hex := func(v int) string { return fmt.Sprintf("%064x", v) } // as printf('%064x', v) above
	since := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		f     store.Filter
		index string
	}{
		{store.Filter{}, "attestations_project_seq_key"},
		{store.Filter{AfterSeq: 500}, "attestations_project_seq_key"},
		{store.Filter{SubjectDigest: hex(1231 * 7)}, "attestation_subjects_lookup"},
		{store.Filter{SubjectAlgorithm: "sha256", SubjectDigest: hex(1231 * 7)}, "attestation_subjects_lookup"},
		{store.Filter{MaterialDigest: hex(1231 * 11)}, "attestation_materials_lookup"},
		{store.Filter{Step: "step-7"}, "attestations_project_step"},
		{store.Filter{PredicateType: "p3"}, "attestations_project_predicate"},
		{store.Filter{SignerKeyID: hex(17)}, "attestation_signers_lookup"},
		{store.Filter{Since: since, Until: since.Add(time.Minute)}, "attestations_project_created"},
	} {
		query, args := sqlite.ListQuery(1, tc.f)
		plan := explain(t, db, query, args...)
		if !strings.Contains(plan, tc.index) || fullScan.MatchString(plan) {
			t.Errorf("%+v is not served by %s:\n%s", tc.f, tc.index, plan)
		}
	}

	// Verify's walk: each digest is one probe of the lookup index, by algorithm and value.
	plan := explain(t, db, sqlite.RelatedQuery, 1, `[["sha256","`+hex(1231*7)+`"]]`, `[["sha256","`+hex(11)+`"]]`, 100)
	for _, index := range []string{"attestation_subjects_lookup", "attestation_materials_lookup"} {
		if !strings.Contains(plan, index+" (project_id=? AND digest=? AND algorithm=?)") || fullScan.MatchString(plan) {
			t.Errorf("RelatedAttestations does not probe %s by digest and algorithm:\n%s", index, plan)
		}
	}
}

// explain returns the steps of SQLite's plan for query, one per line.
func explain(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestDueAnchorsUsesIndex: the anchoring worker's queue is read from the partial index anchors_due, in its
// order (no sort), without reading the done and failed anchors.
func TestDueAnchorsUsesIndex(t *testing.T) {
	t.Parallel()
	db := rawDB(t, newDB(t))
	plan := explain(t, db, sqlite.DueAnchorsQuery, time.Now().UnixMicro(), 100)
	if !strings.Contains(plan, "USING INDEX anchors_due (next_attempt_at<?)") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("DueAnchors is not a walk of anchors_due:\n%s", plan)
	}
}
