package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

func filterID(i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "envelope %d", i))
	return hex.EncodeToString(sum[:])
}

// falseMaybes counts the ids from..to-1 that f says project may hold although none was added.
func falseMaybes(f *idFilter, project int64, from, to int) int {
	n := 0
	for i := from; i < to; i++ {
		if f.mayHold(project, filterID(i)) {
			n++
		}
	}
	return n
}

// TestIDFilterAnswers: before it is loaded the filter says "maybe" to everything; after, to every key added and
// to few others, also across growth; a key of one project is not one of another.
func TestIDFilterAnswers(t *testing.T) {
	f := newIDFilter(1024, 1<<20)
	if !f.mayHold(1, filterID(-1)) {
		t.Fatal("an unloaded filter says no")
	}
	const n = 20000 // past the first part's capacity many times over
	for i := range n {
		f.add(1, filterID(i))
	}
	if f.mayHold(1, filterID(-1)) != true {
		t.Fatal("an unloaded filter says no after adds")
	}
	f.loaded.Store(true)
	for i := range n {
		if !f.mayHold(1, filterID(i)) {
			t.Fatalf("key %d was added, and the filter says no", i)
		}
	}
	parts := len(*f.parts.Load())
	if parts < 4 {
		t.Errorf("%d keys in parts of 1024 and more: %d parts, want growth to at least 4", n, parts)
	}
	keys, bytes := f.stats()
	if keys != n || bytes > 1<<20 {
		t.Errorf("stats = %d keys, %d bytes; want %d keys within 1 MiB", keys, bytes, n)
	}
	// Each full part answers less than 1% of absent keys falsely, and the parts add up.
	if fp := falseMaybes(f, 1, n, 3*n); fp > 2*n*parts/100 {
		t.Errorf("%d of %d absent keys answered maybe by %d parts", fp, 2*n, parts)
	}
	if fp := falseMaybes(f, 2, 0, n); fp > n*parts/100 {
		t.Errorf("%d of project 1's %d keys answered maybe for project 2 by %d parts", fp, n, parts)
	}
	for _, bad := range []string{"", "xyz", filterID(1)[:63], filterID(1) + "0", "g" + filterID(1)[1:]} {
		f.add(1, bad) // ignored, no panic
		if !f.mayHold(1, bad) {
			t.Errorf("mayHold(%q) = false for an id that is not a sha256 in hex", bad)
		}
	}
}

// TestIDFilterReserve: a filter told to expect many keys puts them in one part sized for them, never past
// maxBytes.
func TestIDFilterReserve(t *testing.T) {
	f := newIDFilter(1024, 1<<20)
	f.loaded.Store(true)
	const n = 30000
	f.reserve(n)
	for i := range n {
		f.add(3, filterID(i))
	}
	if parts := len(*f.parts.Load()); parts != 2 {
		t.Errorf("%d keys after reserve(%d): %d parts, want 2", n, n, parts)
	}
	if fp := falseMaybes(f, 3, n, 2*n); fp > n/200 {
		t.Errorf("%d of %d absent keys answered maybe", fp, n)
	}

	small := newIDFilter(1024, 64<<10)
	small.reserve(1 << 30) // far more than 64 KiB holds: the largest part that fits
	if _, bytes := small.stats(); bytes > 64<<10 || len(*small.parts.Load()) != 2 {
		t.Errorf("reserve past maxBytes: %d bytes in %d parts, want 2 parts within 64 KiB", bytes, len(*small.parts.Load()))
	}
	small.reserve(1 << 30) // no room left: nothing changes
	if len(*small.parts.Load()) != 2 {
		t.Errorf("reserve without room added a part")
	}
}

// TestIDFilterBound: growth stops at maxBytes; the last part then fills up and says maybe more often, but
// never no to a key it has.
func TestIDFilterBound(t *testing.T) {
	first := newFilterPart(1024).size()
	f := newIDFilter(1024, 3*first) // room for the first part and one of twice its size
	f.loaded.Store(true)
	const n = 50000
	for i := range n {
		f.add(7, filterID(i))
	}
	if _, bytes := f.stats(); bytes != 3*first {
		t.Errorf("filter grew to %d bytes, want %d", bytes, 3*first)
	}
	for i := range n {
		if !f.mayHold(7, filterID(i)) {
			t.Fatalf("key %d was added, and the full filter says no", i)
		}
	}
}

// TestIDFilterConcurrent: adds and lookups from several goroutines, across growth (go test -race); every key
// added is there after.
func TestIDFilterConcurrent(t *testing.T) {
	f := newIDFilter(512, 1<<20)
	f.loaded.Store(true)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				f.add(int64(g), filterID(i))
				_ = f.mayHold(int64(g), filterID(i+1))
			}
		})
	}
	wg.Wait()
	for g := range 8 {
		for i := range 2000 {
			if !f.mayHold(int64(g), filterID(i)) {
				t.Fatalf("project %d key %d added concurrently, and the filter says no", g, i)
			}
		}
	}
}

// pagedKeys serves ScanAttestationKeys from keys, failing once at the page after failAfter.
type pagedKeys struct {
	keys      []store.AttestationKey
	failAfter int64 // fail the first call with this afterSeq; -1: never
	calls     []int64
}

func (p *pagedKeys) ScanAttestationKeys(_ context.Context, afterSeq int64, limit int) ([]store.AttestationKey, error) {
	p.calls = append(p.calls, afterSeq)
	if afterSeq == p.failAfter {
		p.failAfter = -1
		return nil, fmt.Errorf("scan: %w", store.ErrUnavailable)
	}
	var page []store.AttestationKey
	for _, k := range p.keys {
		if k.Seq > afterSeq && len(page) < limit {
			page = append(page, k)
		}
	}
	return page, nil
}

// TestIDFilterLoad: load reads every page; a failed page leaves the filter unloaded ("maybe" to all), and the
// next load goes on from the page that failed.
func TestIDFilterLoad(t *testing.T) {
	const n = 2*store.MaxScanKeys + 5
	src := &pagedKeys{}
	for i := range n {
		src.keys = append(src.keys, store.AttestationKey{Seq: int64(10 + 3*i), ProjectID: int64(1 + i%3), ID: filterID(i)})
	}
	failAt := src.keys[store.MaxScanKeys-1].Seq
	src.failAfter = failAt
	f := newIDFilter(1024, 64<<20)
	err := f.load(t.Context(), src)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("load with a failing page = %v, want ErrUnavailable", err)
	}
	if f.loaded.Load() || !f.mayHold(1, filterID(-1)) {
		t.Fatal("a filter whose load failed answers")
	}
	if err := f.load(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	want := []int64{0, failAt, failAt, src.keys[2*store.MaxScanKeys-1].Seq}
	if fmt.Sprint(src.calls) != fmt.Sprint(want) {
		t.Errorf("pages asked for after %v, want %v (the retry goes on from the failed page)", src.calls, want)
	}
	for i, k := range src.keys {
		if !f.mayHold(k.ProjectID, k.ID) {
			t.Fatalf("key %d was loaded, and the filter says no", i)
		}
	}
	if keys, _ := f.stats(); keys != n {
		t.Errorf("the filter counts %d keys, want %d (none twice)", keys, n)
	}
	if fp := falseMaybes(f, 1, n, 2*n); fp > n/50 {
		t.Errorf("%d of %d absent keys answered maybe", fp, n)
	}
}
