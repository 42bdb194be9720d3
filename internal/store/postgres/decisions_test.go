package postgres_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
)

// TestDecisionPool: decision rows go through connections of their own, which commit asynchronously and keep
// one generic plan for the insert, while the connections that write attestations and everything else keep
// committing durably.
func TestDecisionPool(t *testing.T) {
	ctx := t.Context()
	st, _, p := withProject(t, dbtest.New(t))
	if _, _, err := st.InsertAttestation(ctx, attestation(p.ID, "durable", 0)); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 4 {
		d, err := st.AddDecision(ctx, store.Decision{ProjectID: p.ID, RequesterID: "tok", Kind: "file",
			Name: fmt.Sprintf("f%d", i), Digest: "sha256:" + fmt.Sprint(i), Allowed: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		if d.ID == 0 || d.DecidedAt.IsZero() || d.Name != fmt.Sprintf("f%d", i) {
			t.Fatalf("AddDecision returned %+v", d)
		}
		ids = append(ids, d.ID)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("decision ids %v: want them increasing", ids)
	}
	sc, generic, custom, err := st.PoolSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for pool, want := range map[string]string{"main": "on", "writer": "on", "decider": "off"} {
		if len(sc[pool]) == 0 {
			t.Errorf("no idle connection in the %s pool", pool)
		}
		for _, got := range sc[pool] {
			if got != want {
				t.Errorf("a connection of the %s pool has synchronous_commit %s, want %s", pool, got, want)
			}
		}
	}
	if generic < 3 || custom > 1 {
		t.Errorf("the decision insert: %d generic and %d custom plans, want a generic plan kept", generic, custom)
	}
}
