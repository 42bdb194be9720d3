package storetest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// The promises of the transparency log: every row has its own log index, the log can be walked in index
// order, the watermark only grows, and orphan leaves are recorded once and claimed by the row that takes them.
var logTests = []test{
	{name: "InsertNeedsLogIndex", run: testInsertNeedsLogIndex},
	{name: "DuplicateLogIndex", run: testDuplicateLogIndex},
	{name: "AttestationAtIndex", run: testAttestationAtIndex},
	{name: "ScanByLogIndex", run: testScanByLogIndex},
	{name: "Watermark", run: testWatermark},
	{name: "ConcurrentWatermarks", run: testWatermarkConcurrent},
	{name: "OrphanLeaves", run: testOrphanLeaves},
	{name: "OrphanClaim", run: testOrphanClaim},
}

// checkNothingStored: the project has no attestation id, and the log walk shows only want.
func checkNothingStored(t *testing.T, s store.Store, projectID int64, id string, want []store.Attestation) {
	t.Helper()
	if _, err := s.GetAttestation(t.Context(), projectID, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestation of the refused attestation: err = %v, want ErrNotFound", err)
	}
	scan, err := s.ScanByLogIndex(t.Context(), 0, store.MaxPageSize)
	if err != nil {
		t.Fatalf("ScanByLogIndex: %v", err)
	}
	if !slices.Equal(ids(scan), ids(want)) {
		t.Errorf("ScanByLogIndex after the refused insert = %v, want %v", ids(scan), ids(want))
	}
	unlogged, err := s.ScanUnlogged(t.Context(), 0, store.MaxPageSize)
	if err != nil {
		t.Fatalf("ScanUnlogged: %v", err)
	}
	if len(unlogged) != 0 {
		t.Errorf("ScanUnlogged after the refused insert = %v, want none", ids(unlogged))
	}
}

func testInsertNeedsLogIndex(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	a := newAttestation(p.ID, "unlogged")
	stored, created, err := s.InsertAttestation(t.Context(), a)
	if err == nil || created {
		t.Fatalf("InsertAttestation without LogIndex = created %v, %v; want an error", created, err)
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrUnavailable} {
		if errors.Is(err, sentinel) {
			t.Errorf("InsertAttestation without LogIndex: err = %v, which is %v", err, sentinel)
		}
	}
	if stored.ID != "" {
		t.Errorf("InsertAttestation without LogIndex returned %.12s", stored.ID)
	}
	checkNothingStored(t, s, p.ID, a.ID, nil)
}

// testDuplicateLogIndex: a log index belongs to one row of all projects; an insert that names a taken one is
// ErrAlreadyExists and stores nothing.
func testDuplicateLogIndex(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	first := newAttestation(p1.ID, "first")
	first.LogIndex = new(uint64(7))
	first = mustInsert(t, s, first)

	for name, a := range map[string]store.Attestation{
		"another attestation of the project":     newAttestation(p1.ID, "second"),
		"another attestation of another project": newAttestation(p2.ID, "second"),
		"the same envelope in another project":   newAttestation(p2.ID, "first"),
	} {
		a.LogIndex = new(uint64(7))
		stored, created, err := s.InsertAttestation(ctx, a)
		if !errors.Is(err, store.ErrAlreadyExists) || created {
			t.Errorf("%s at a taken log index: created %v, err = %v; want ErrAlreadyExists", name, created, err)
		}
		if err != nil && stored.ID != "" {
			t.Errorf("%s at a taken log index: returned %.12s with the error", name, stored.ID)
		}
		checkNothingStored(t, s, a.ProjectID, a.ID, []store.Attestation{first})
	}
	got, err := s.AttestationAtIndex(ctx, 7)
	if err != nil {
		t.Fatalf("AttestationAtIndex(7): %v", err)
	}
	checkAttestation(t, "AttestationAtIndex(7) after the refused inserts", got, first)
	checkList(t, s, p1.ID, store.Filter{}, []store.Attestation{first})
	checkList(t, s, p2.ID, store.Filter{}, nil)
}

// testAttestationAtIndex: the index finds its attestation in whichever project, envelope and artifacts
// included; an index without a row is ErrNotFound.
func testAttestationAtIndex(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	var all []store.Attestation
	for i, index := range []uint64{0, 1, 5, 1 << 62} {
		a := newAttestation([]int64{p1.ID, p2.ID}[i%2], fmt.Sprint("at-", index))
		a.LogIndex = new(index)
		all = append(all, mustInsert(t, s, a))
	}
	// The same envelope in both projects, at two indices.
	twin := newAttestation(p1.ID, "at-1")
	twin.LogIndex = new(uint64(9))
	all = append(all, mustInsert(t, s, twin))

	for _, want := range all {
		got, err := s.AttestationAtIndex(t.Context(), *want.LogIndex)
		if err != nil {
			t.Fatalf("AttestationAtIndex(%d): %v", *want.LogIndex, err)
		}
		checkAttestation(t, fmt.Sprint("AttestationAtIndex(", *want.LogIndex, ")"), got, want)
	}
	for _, index := range []uint64{2, 4, 6, 10, 1<<62 - 1, 1<<62 + 1, 1 << 63, math.MaxUint64} {
		if _, err := s.AttestationAtIndex(t.Context(), index); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AttestationAtIndex(%d): err = %v, want ErrNotFound", index, err)
		}
	}
}

// testScanByLogIndex: rows inserted out of log order over two projects come back in log order, complete, and
// paging from the index after the last one visits each exactly once.
func testScanByLogIndex(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	var logIndices []uint64
	for i := range uint64(30) {
		if i != 3 && i != 10 && i != 11 && i != 17 { // gaps, as orphan leaves leave them
			logIndices = append(logIndices, i)
		}
	}
	logIndices = append(logIndices, 1<<40)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(logIndices), func(i, j int) { logIndices[i], logIndices[j] = logIndices[j], logIndices[i] })
	var all []store.Attestation
	for i, index := range logIndices {
		a := newAttestation([]int64{p1.ID, p2.ID}[i%2], fmt.Sprint("scan-", index))
		a.LogIndex = new(index)
		if i%3 == 0 {
			a.Subjects = append(a.Subjects, store.Artifact{Name: "extra", Algorithm: "sha512",
				Digest: digest(fmt.Sprint("extra ", i)) + digest("x")})
			a.Materials = nil
		}
		all = append(all, mustInsert(t, s, a))
	}
	slices.SortFunc(all, func(a, b store.Attestation) int { return compareIndex(a.LogIndex, b.LogIndex) })
	from := func(index uint64) []store.Attestation {
		i, _ := slices.BinarySearchFunc(all, index, func(a store.Attestation, index uint64) int {
			return compareIndex(a.LogIndex, &index)
		})
		return all[i:]
	}

	got, err := s.ScanByLogIndex(t.Context(), 0, 100)
	if err != nil {
		t.Fatalf("ScanByLogIndex(0, 100): %v", err)
	}
	if !slices.Equal(indices(got), indices(all)) {
		t.Fatalf("ScanByLogIndex(0, 100) = indices %v, want %v", indices(got), indices(all))
	}
	for i := range got {
		checkAttestation(t, fmt.Sprint("ScanByLogIndex(0, 100)[", i, "]"), got[i], all[i])
	}
	for _, index := range []uint64{1, 3, 10, 12, 29, 30, 1 << 40, 1<<40 + 1, 1 << 63, math.MaxUint64} {
		got, err := s.ScanByLogIndex(t.Context(), index, 100)
		if err != nil {
			t.Fatalf("ScanByLogIndex(%d, 100): %v", index, err)
		}
		if want := from(index); !slices.Equal(indices(got), indices(want)) {
			t.Errorf("ScanByLogIndex(%d, 100) = indices %v, want %v", index, indices(got), indices(want))
		}
	}
	for _, size := range []int{1, 4, 7, len(all), len(all) + 1} {
		var walked []store.Attestation
		next := uint64(0)
		for pages := 0; ; pages++ {
			if pages > len(all)+1 {
				t.Fatalf("pages of %d: the walk does not end", size)
			}
			page, err := s.ScanByLogIndex(t.Context(), next, size)
			if err != nil {
				t.Fatalf("ScanByLogIndex(%d, %d): %v", next, size, err)
			}
			if len(page) > size {
				t.Fatalf("ScanByLogIndex(%d, %d) = %d rows", next, size, len(page))
			}
			walked = append(walked, page...)
			if len(page) < size {
				break
			}
			next = *page[len(page)-1].LogIndex + 1
		}
		if !slices.Equal(indices(walked), indices(all)) {
			t.Errorf("pages of %d: indices %v, want %v", size, indices(walked), indices(all))
		}
	}
}

// compareIndex orders log indices, none first.
func compareIndex(a, b *uint64) int {
	switch {
	case a == nil || b == nil:
		return boolInt(b == nil) - boolInt(a == nil)
	case *a < *b:
		return -1
	case *a > *b:
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func testWatermark(t *testing.T, s store.Store) {
	ctx := t.Context()
	if w, err := s.LogWatermark(ctx); err != nil || w != 0 {
		t.Fatalf("LogWatermark of a new store = %d, %v; want 0", w, err)
	}
	for _, step := range []struct{ set, want uint64 }{
		{10, 10}, {5, 10}, {10, 10}, {0, 10}, {11, 11}, {1 << 40, 1 << 40}, {1<<40 - 1, 1 << 40},
	} {
		if err := s.SetLogWatermark(ctx, step.set); err != nil {
			t.Fatalf("SetLogWatermark(%d): %v", step.set, err)
		}
		if w, err := s.LogWatermark(ctx); err != nil || w != step.want {
			t.Errorf("LogWatermark after SetLogWatermark(%d) = %d, %v; want %d", step.set, w, err, step.want)
		}
	}
}

// testWatermarkConcurrent: concurrent setters end with the largest value, and none of them reads back less
// than it set.
func testWatermarkConcurrent(t *testing.T, s store.Store) {
	const n = 16
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		size := uint64(i*37%n) * 100 // every value once, in a scrambled order
		wg.Go(func() {
			if err := s.SetLogWatermark(ctx, size); err != nil {
				errs[i] = err
				return
			}
			w, err := s.LogWatermark(ctx)
			if err == nil && w < size {
				err = fmt.Errorf("LogWatermark = %d after SetLogWatermark(%d)", w, size)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("setter %d: %v", i, err)
		}
	}
	if w, err := s.LogWatermark(ctx); err != nil || w != (n-1)*100 {
		t.Errorf("LogWatermark after the setters = %d, %v; want %d", w, err, (n-1)*100)
	}
}

func normOrphan(l store.OrphanLeaf) store.OrphanLeaf {
	l.Entry = emptyNil(l.Entry)
	l.FoundAt = normTime(l.FoundAt)
	return l
}

func checkOrphans(t *testing.T, s store.Store, what string, want ...store.OrphanLeaf) {
	t.Helper()
	got, err := s.ListOrphanLeaves(t.Context())
	if err != nil {
		t.Fatalf("ListOrphanLeaves %s: %v", what, err)
	}
	for i := range got {
		got[i] = normOrphan(got[i])
	}
	for i := range want {
		want[i] = normOrphan(want[i])
	}
	checkEqual(t, "ListOrphanLeaves "+what, emptyNil(got), emptyNil(want))
}

func orphan(index uint64, d time.Duration) store.OrphanLeaf {
	return store.OrphanLeaf{LogIndex: index, Entry: fmt.Appendf(nil, "entry %d\x00\xff", index), FoundAt: at(d)}
}

// testOrphanLeaves: leaves are listed by index; recording one again changes nothing.
func testOrphanLeaves(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkOrphans(t, s, "of a new store")
	if err := s.AddOrphanLeaves(ctx, nil); err != nil {
		t.Fatalf("AddOrphanLeaves(none): %v", err)
	}
	checkOrphans(t, s, "after adding none")

	first := []store.OrphanLeaf{orphan(5, time.Minute), orphan(2, 2*time.Minute), orphan(1<<40, 3*time.Minute)}
	if err := s.AddOrphanLeaves(ctx, first); err != nil {
		t.Fatalf("AddOrphanLeaves: %v", err)
	}
	checkOrphans(t, s, "after the first record", first[1], first[0], first[2])

	again := []store.OrphanLeaf{orphan(7, time.Hour), orphan(5, time.Hour), orphan(2, time.Hour)}
	again[1].Entry = []byte("another entry")
	if err := s.AddOrphanLeaves(ctx, again); err != nil {
		t.Fatalf("AddOrphanLeaves again: %v", err)
	}
	checkOrphans(t, s, "after recording two again", first[1], first[0], again[0], first[2])

	// A zero FoundAt is a time of the store's choosing; an empty entry is an entry.
	if err := s.AddOrphanLeaves(ctx, []store.OrphanLeaf{{LogIndex: 0}}); err != nil {
		t.Fatalf("AddOrphanLeaves with zero FoundAt and no entry: %v", err)
	}
	got, err := s.ListOrphanLeaves(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].LogIndex != 0 || got[0].FoundAt.IsZero() || len(got[0].Entry) != 0 {
		t.Errorf("ListOrphanLeaves after adding leaf 0 = %+v, want it first, with a FoundAt and no entry", got)
	}
}

// testOrphanClaim: the insert that takes an orphan's index deletes its record; an insert that fails or stores
// nothing claims nothing.
func testOrphanClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	o3, o5, o7 := orphan(3, 0), orphan(5, 0), orphan(7, 0)
	if err := s.AddOrphanLeaves(ctx, []store.OrphanLeaf{o3, o5, o7}); err != nil {
		t.Fatal(err)
	}

	ghost := newAttestation(p2.ID+1000, "ghost") // no such project
	ghost.LogIndex = new(uint64(3))
	if _, _, err := s.InsertAttestation(ctx, ghost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("InsertAttestation in a missing project: err = %v, want ErrNotFound", err)
	}
	checkOrphans(t, s, "after a failed insert", o3, o5, o7)

	a := newAttestation(p1.ID, "claimer")
	a.LogIndex = new(uint64(5))
	claimer := mustInsert(t, s, a)
	checkOrphans(t, s, "after an insert claimed 5", o3, o7)

	again := newAttestation(p1.ID, "claimer")
	again.LogIndex = new(uint64(7))
	stored, created, err := s.InsertAttestation(ctx, again)
	if err != nil || created {
		t.Fatalf("second InsertAttestation of one id = created %v, %v; want the first", created, err)
	}
	checkAttestation(t, "second InsertAttestation of one id", stored, claimer)
	checkOrphans(t, s, "after an insert that stored nothing", o3, o7)

	b := newAttestation(p2.ID, "claimer")
	b.LogIndex = new(uint64(3))
	mustInsert(t, s, b)
	checkOrphans(t, s, "after another project's insert claimed 3", o7)
}
