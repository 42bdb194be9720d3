package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

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

// TestDecisionLeavesProjectUnlocked: recording a decision takes no lock on its project's row (the foreign key's
// check took FOR KEY SHARE, which every concurrent Verify of the project shared; migration 00013), so it goes
// through while another transaction holds that row FOR UPDATE.
func TestDecisionLeavesProjectUnlocked(t *testing.T) {
	ctx := t.Context()
	st, conn, p := withProject(t, dbtest.New(t))
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM projects WHERE id = $1 FOR UPDATE`, p.ID); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := st.AddDecision(dctx, store.Decision{ProjectID: p.ID, RequesterID: "tok", Kind: "file", Name: "f",
		Digest: "sha256:00", Allowed: true})
	if err != nil {
		t.Fatalf("AddDecision while the project's row is locked: %v", err)
	}
	if d.ID == 0 || d.ProjectID != p.ID {
		t.Fatalf("AddDecision returned %+v", d)
	}
}
