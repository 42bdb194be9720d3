package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
)

// TestProvenanceReadsUseIndexes: the listing of one submitter is served by attestations_project_submitter
// (newest first, without a sort), and the read of a provenance graph's attestations by id is a probe of the
// primary key per id, never a scan of the project's rows.
func TestProvenanceReadsUseIndexes(t *testing.T) {
	ctx := t.Context()
	url := dbtest.New(t)
	st := open(t, url)
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if _, err := st.CreateProject(ctx, fmt.Sprint("other-", i)); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, url)
	// 20,000 attestations over ten projects, from 200 submitters.
	_, err = conn.Exec(ctx, `
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at, log_index)
		SELECT 1 + i % 10, encode(sha256(convert_to(i::text, 'UTF8')), 'hex'), convert_to(i::text, 'UTF8'), 'x', 'y',
			'p', 'build', '{}', 'tok-' || i / 10 % 200, timestamptz '2026-01-01' + i * interval '1 second', i - 1
		FROM generate_series(1, 20000) AS i;
		ANALYZE`)
	if err != nil {
		t.Fatal(err)
	}
	explain := func(sql string, args ...any) string {
		t.Helper()
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", sql, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}

	for _, f := range []store.Filter{{Submitter: "tok-17"}, {Submitter: "tok-17", AfterSeq: 15000, Limit: 10}} {
		sql, args := postgres.ListQuery(p.ID, f)
		plan := explain(sql, args...)
		if !strings.Contains(plan, "attestations_project_submitter") || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%+v is not served by attestations_project_submitter:\n%s", f, plan)
		}
	}

	// The graph of a chain of a few steps (with many ids, a small project is cheaper to read whole, and the
	// planner rightly does so).
	var ids []string
	for i := range 6 {
		ids = append(ids, fmt.Sprintf("%064x", i))
	}
	if plan := explain(postgres.GetWithoutEnvelopeQuery, p.ID, ids); strings.Contains(plan, "Seq Scan") ||
		!strings.Contains(plan, "attestations_pkey") {
		t.Errorf("GetAttestationsWithoutEnvelope does not probe the primary key:\n%s", plan)
	}
}
