package sqlite_test

import (
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/sqlite"
)

// TestProvenanceReadsUseIndexes: the listing of one submitter is served by attestations_project_submitter, and
// the read of a provenance graph's attestations by id probes attestations_project_id_key once per id.
func TestProvenanceReadsUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := newDB(t)
	db := rawDB(t, path)
	// 2,000 attestations over ten projects, from 200 submitters.
	_, err := db.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
		INSERT INTO projects (id, name) SELECT i, 'p' || i FROM n;
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO attestations (seq, project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at, log_index)
		SELECT i, 1 + i % 10, printf('%064x', i), CAST(i AS BLOB), 'x', 'y', 'p', 'build', '[]',
			'tok-' || (i / 10 % 200), 1767225600000000 + i * 1000000, i - 1
		FROM n;`)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.Filter{{Submitter: "tok-17"}, {Submitter: "tok-17", AfterSeq: 1500, Limit: 10}} {
		query, args := sqlite.ListQuery(1, f)
		plan := explain(t, db, query, args...)
		if !strings.Contains(plan, "attestations_project_submitter") || fullScan.MatchString(plan) {
			t.Errorf("%+v is not served by attestations_project_submitter:\n%s", f, plan)
		}
	}
	plan := explain(t, db, sqlite.GetWithoutEnvelopeQuery, 1, `["`+strings.Repeat("0", 63)+`1"]`)
	if !strings.Contains(plan, "attestations_project_id_key (project_id=? AND id=?)") {
		t.Errorf("GetAttestationsWithoutEnvelope does not probe attestations_project_id_key:\n%s", plan)
	}
}
