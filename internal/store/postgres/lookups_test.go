package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
)

// TestLookupPool: reads of rows by their keys run on connections where each statement keeps one generic plan,
// and a plan made while the tables are known to be empty (analyzed, as autovacuum does to a new table) walks
// an index instead of scanning the table, so it stays right as the table grows. The main pool keeps planning
// every execution with its values.
func TestLookupPool(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	if _, err := conn.Exec(ctx, `ANALYZE attestations, attestation_subjects, attestation_materials, anchors`); err != nil {
		t.Fatal(err)
	}
	a := attestation(p.ID, "grown", 0)
	a.Materials = []store.Artifact{{Name: "in", Algorithm: "sha256", Digest: strings.Repeat("b", 64)}}
	bySubject := store.Filter{SubjectAlgorithm: "sha256", SubjectDigest: a.Subjects[0].Digest, Limit: 10}
	byMaterial := store.Filter{MaterialDigest: a.Materials[0].Digest, Limit: 10}
	// Twice on empty tables (a plan is made on each connection that runs a statement first), then with a row.
	for round := range 3 {
		if round == 2 {
			if _, _, err := st.InsertAttestation(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		want := min(round/2, 1)
		if _, err := st.GetAttestation(ctx, p.ID, a.ID); (err == nil) != (want == 1) || err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: GetAttestation: %v", round, err)
		}
		for _, f := range []store.Filter{bySubject, byMaterial} {
			page, err := st.ListAttestations(ctx, p.ID, f)
			if err != nil || len(page) != want || want == 1 && len(page[0].Materials) != 1 {
				t.Fatalf("round %d: ListAttestations(%+v): %d rows, %v", round, f, len(page), err)
			}
		}
		if got, err := st.GetAttestations(ctx, p.ID, []string{a.ID}); err != nil || len(got) != want {
			t.Fatalf("round %d: GetAttestations: %d rows, %v", round, len(got), err)
		}
		if got, err := st.GetAttestationsWithoutEnvelope(ctx, p.ID, []string{a.ID}); err != nil || len(got) != want {
			t.Fatalf("round %d: GetAttestationsWithoutEnvelope: %d rows, %v", round, len(got), err)
		}
		related, err := st.RelatedAttestations(ctx, p.ID, []store.Digest{{Algorithm: "sha256", Value: a.Subjects[0].Digest}},
			[]store.Digest{{Algorithm: "sha256", Value: a.Materials[0].Digest}}, 10)
		if err != nil || len(related) != want {
			t.Fatalf("round %d: RelatedAttestations: %d rows, %v", round, len(related), err)
		}
		if _, err := st.AttestationAtIndex(ctx, 0); (err == nil) != (want == 1) {
			t.Fatalf("round %d: AttestationAtIndex: %v", round, err)
		}
		if _, err := st.GetAnchor(ctx, p.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: GetAnchor: %v", round, err)
		}
		if got, err := st.GetAnchors(ctx, p.ID, []string{a.ID}); err != nil || len(got) != 0 {
			t.Fatalf("round %d: GetAnchors: %v, %v", round, got, err)
		}
	}
	// Every id lookup of the store, now planned on the lookups pool.
	if _, err := st.ListAttestations(ctx, p.ID, store.Filter{Step: "build", Limit: 10}); err != nil {
		t.Fatal(err)
	}
	plans, settings, err := st.LookupPlans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for pool, want := range map[string]string{"main": "force_custom_plan on", "lookups": "force_generic_plan off"} {
		if len(settings[pool]) == 0 {
			t.Errorf("no idle connection in the %s pool", pool)
		}
		for _, got := range settings[pool] {
			if got != want {
				t.Errorf("a connection of the %s pool has plan_cache_mode and enable_seqscan %q, want %q", pool, got, want)
			}
		}
	}
	seen := map[string]bool{}
	for _, pl := range plans {
		stmt := strings.Join(strings.Fields(pl.Statement), " ")
		for _, what := range []string{"FROM attestations WHERE project_id = $1 AND id = $2", "FROM attestation_subjects x",
			"FROM attestation_materials x", "FROM attestation_subjects WHERE attestation_seq = ANY($1)",
			"FROM anchors WHERE project_id = $1 AND attestation_id = $2", "attestation_id = ANY($2)",
			"id = ANY($2) AND log_index IS NOT NULL", "WHERE log_index = $1", "unnest($2::text[], $3::text[])"} {
			if strings.Contains(stmt, what) {
				seen[what] = true
			}
		}
		if strings.Contains(stmt, "a.step = ") {
			t.Errorf("a List by step, whose plan depends on its values, ran on the lookups pool: %s", stmt)
		}
		if pl.Generic == 0 || pl.Custom != 0 {
			t.Errorf("%d generic and %d custom plans, want only generic ones, for %s", pl.Generic, pl.Custom, stmt)
		}
		if strings.Contains(pl.Plan, "Seq Scan") {
			t.Errorf("a plan made on a nearly empty table scans it:\n%s\nfor %s", pl.Plan, stmt)
		}
	}
	if len(seen) != 9 {
		t.Errorf("statements seen on the lookups pool: %v, want 9 kinds", seen)
	}
}
