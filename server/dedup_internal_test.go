package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
)

// TestDedupShared: concurrent duplicate checks of one project share queries, and each gets its own answer:
// the stored attestation (with its log index) or ErrNotFound, also for an id another project holds; a caller
// that gives up gets its context's error without failing the others; nothing is left waiting.
func TestDedupShared(t *testing.T) {
	ctx := t.Context()
	st, err := postgres.Open(ctx, dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	alpha, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	beta, err := st.CreateProject(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 40)
	for i := range ids {
		env := fmt.Appendf(nil, `{"n":%d}`, i)
		sum := sha256.Sum256(env)
		ids[i] = hex.EncodeToString(sum[:])
		project := alpha.ID
		if i%2 == 1 {
			project = beta.ID // alpha must not find these
		}
		idx := uint64(i)
		_, _, err := st.InsertAttestation(ctx, store.Attestation{ProjectID: project, ID: ids[i], Envelope: env,
			PayloadType: "application/vnd.in-toto+json", StatementType: "https://in-toto.io/Statement/v1",
			LogIndex: &idx})
		if err != nil {
			t.Fatal(err)
		}
	}

	d := newDedup(st)
	const n = 400
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			id := ids[i%len(ids)]
			got, err := d.existing(ctx, alpha.ID, id)
			switch {
			case i%2 == 0 && (err != nil || got.ID != id || got.LogIndex == nil || *got.LogIndex != uint64(i%len(ids))):
				t.Errorf("call %d: stored %s: %+v %v", i, id, got.LogIndex, err)
			case i%2 == 1 && !errors.Is(err, store.ErrNotFound):
				t.Errorf("call %d: %s is beta's: err %v, want ErrNotFound", i, id, err)
			}
		})
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	wg.Go(func() {
		start.Wait()
		if _, err := d.existing(gone, alpha.ID, ids[0]); !errors.Is(err, context.Canceled) {
			t.Errorf("a caller that gave up: %v, want context.Canceled", err)
		}
	})
	start.Done()
	wg.Wait()
	if q := d.queries.Load(); q >= n {
		t.Errorf("%d queries for %d concurrent checks: none shared", q, n)
	}
	// The goroutine that ran the queries ends once none waits.
	for {
		d.mu.Lock()
		idle := len(d.waiting) == 0 && len(d.running) == 0
		d.mu.Unlock()
		if idle {
			break
		}
		runtime.Gosched()
	}
}
