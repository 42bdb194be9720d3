package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// dedupTimeout bounds one shared duplicate check; the callers' own deadlines do not (one caller's cancellation
// must not fail the others that share its query; a caller that gives up stops waiting).
const dedupTimeout = 10 * time.Second

// dedup is the duplicate check of Submit (is this envelope stored already?), shared by the submissions to one
// project that check at once: one query for all of them (store.GetAttestations) instead of one each. Nothing
// waits to fill a batch: when no query of the project is in flight, a goroutine starts one at once for what
// waits; the calls that arrive meanwhile are answered by its next query; it ends when none waits.
type dedup struct {
	store store.Store

	mu      sync.Mutex
	waiting map[int64][]*dedupCall // by project
	running map[int64]bool         // a goroutine is running the project's queries
	queries atomic.Int64           // queries run (for tests)
}

// dedupCall is one submission's check, waiting for its answer.
type dedupCall struct {
	id   string
	done chan struct{} // closed when found and err are set

	found *store.Attestation // the stored attestation, if any
	err   error
}

func newDedup(st store.Store) *dedup {
	return &dedup{store: st, waiting: map[int64][]*dedupCall{}, running: map[int64]bool{}}
}

// existing returns the project's stored attestation with id, or store.ErrNotFound.
func (d *dedup) existing(ctx context.Context, projectID int64, id string) (store.Attestation, error) {
	c := &dedupCall{id: id, done: make(chan struct{})}
	d.mu.Lock()
	d.waiting[projectID] = append(d.waiting[projectID], c)
	lead := !d.running[projectID]
	d.running[projectID] = true
	d.mu.Unlock()
	if lead {
		go d.run(projectID)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return store.Attestation{}, fmt.Errorf("check for attestation %s: %w", id, ctx.Err())
	}
	switch {
	case c.err != nil:
		return store.Attestation{}, c.err
	case c.found == nil:
		return store.Attestation{}, fmt.Errorf("attestation %s: %w", id, store.ErrNotFound)
	}
	return *c.found, nil
}

// run answers the project's waiting calls, a query at a time, until none waits.
func (d *dedup) run(projectID int64) {
	for {
		d.mu.Lock()
		calls := d.waiting[projectID]
		if len(calls) == 0 {
			delete(d.waiting, projectID)
			delete(d.running, projectID)
			d.mu.Unlock()
			return
		}
		n := min(len(calls), store.MaxGetAttestations)
		d.waiting[projectID] = calls[n:]
		d.mu.Unlock()
		d.answer(projectID, calls[:n])
	}
}

// answer runs one query for calls and answers each.
func (d *dedup) answer(projectID int64, calls []*dedupCall) {
	ctx, cancel := context.WithTimeout(context.Background(), dedupTimeout)
	defer cancel()
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.id
	}
	d.queries.Add(1)
	found, err := d.store.GetAttestations(ctx, projectID, ids)
	byID := make(map[string]*store.Attestation, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	for _, c := range calls {
		if err != nil {
			c.err = fmt.Errorf("check for attestation %s: %w", c.id, err)
		} else {
			c.found = byID[c.id]
		}
		close(c.done)
	}
}
