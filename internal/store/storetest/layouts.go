package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var layoutTests = []test{
	{name: "AddAndGet", run: testLayoutAddAndGet},
	{name: "Versions", run: testLayoutVersions},
	{name: "SameBytesRefused", run: testLayoutSameBytes},
	{name: "Concurrent", run: testLayoutConcurrent},
	{name: "Isolation", run: testLayoutIsolation},
	{name: "NotFound", run: testLayoutNotFound},
	{name: "LogIndex", run: testLayoutLogIndex},
	{name: "ScanByLogIndex", run: testLayoutScan},
}

// newLayout is a layout of projectID named name whose content is labelled by label.
func newLayout(projectID int64, name, label string) store.Layout {
	content := []byte(`{"signed":{"_type":"layout","readme":"` + label + `"},"signatures":[]}`)
	return store.Layout{
		ProjectID:    projectID,
		Name:         name,
		ID:           sha256Hex(content),
		Content:      content,
		SignerKeyIDs: []string{keyID("owner b"), keyID("owner a")},
		ExpiresAt:    at(365 * 24 * time.Hour),
		PusherID:     "tok-" + label,
		CreatedAt:    at(time.Minute),
	}
}

// addLayout adds l, with the store's next log index if it has none.
func addLayout(t *testing.T, s store.Store, l store.Layout) (store.Layout, error) {
	if l.LogIndex == nil {
		l.LogIndex = nextLogIndex(s)
	}
	return s.AddLayout(t.Context(), l)
}

func mustLayout(t *testing.T, s store.Store, l store.Layout) store.Layout {
	t.Helper()
	got, err := addLayout(t, s, l)
	if err != nil {
		t.Fatalf("AddLayout(%s, %s): %v", l.Name, l.ID[:8], err)
	}
	return got
}

// normLayout is l as the store returns it: signers sorted, times normalized; without content unless keep.
func normLayout(l store.Layout, keep bool) store.Layout {
	l.SignerKeyIDs = slices.Sorted(slices.Values(l.SignerKeyIDs))
	l.ExpiresAt = normTime(l.ExpiresAt)
	l.CreatedAt = normTime(l.CreatedAt)
	if !keep {
		l.Content = nil
	}
	return l
}

func listLayouts(t *testing.T, s store.Store, projectID int64, name string) []store.Layout {
	t.Helper()
	list, err := s.ListLayouts(t.Context(), projectID, name)
	if err != nil {
		t.Fatalf("ListLayouts(%d, %q): %v", projectID, name, err)
	}
	out := []store.Layout{}
	for _, l := range list {
		out = append(out, normLayout(l, true))
	}
	return out
}

func getLayout(t *testing.T, s store.Store, projectID int64, name string, version int64) store.Layout {
	t.Helper()
	l, err := s.GetLayout(t.Context(), projectID, name, version)
	if err != nil {
		t.Fatalf("GetLayout(%d, %q, %d): %v", projectID, name, version, err)
	}
	return normLayout(l, true)
}

func testLayoutAddAndGet(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	l := newLayout(p.ID, "release", "one")
	l.LogIndex = nextLogIndex(s)
	got := mustLayout(t, s, l)
	want := l
	want.Version = 1
	checkEqual(t, "AddLayout", normLayout(got, true), normLayout(want, true))
	checkEqual(t, "GetLayout version 0", getLayout(t, s, p.ID, "release", 0), normLayout(want, true))
	checkEqual(t, "GetLayout version 1", getLayout(t, s, p.ID, "release", 1), normLayout(want, true))
	checkEqual(t, "ListLayouts (no content)", listLayouts(t, s, p.ID, ""), []store.Layout{normLayout(want, false)})

	// A zero CreatedAt is now.
	now := newLayout(p.ID, "other", "now")
	now.CreatedAt = time.Time{}
	if got := mustLayout(t, s, now); got.CreatedAt.IsZero() {
		t.Error("AddLayout with a zero CreatedAt stored a zero time")
	}
}

func testLayoutVersions(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	var release []store.Layout
	for i := range 3 {
		l := mustLayout(t, s, newLayout(p.ID, "release", fmt.Sprint("v", i)))
		if l.Version != int64(i+1) {
			t.Fatalf("push %d got version %d, want %d", i, l.Version, i+1)
		}
		release = append(release, normLayout(l, false))
	}
	// Another name counts from 1, and the same bytes are fine under another name.
	b := mustLayout(t, s, newLayout(p.ID, "beta", "v0"))
	if b.Version != 1 {
		t.Fatalf("first version of another name is %d, want 1", b.Version)
	}
	want := []store.Layout{normLayout(b, false), release[2], release[1], release[0]}
	checkEqual(t, "ListLayouts of every name", listLayouts(t, s, p.ID, ""), want)
	checkEqual(t, "ListLayouts of release", listLayouts(t, s, p.ID, "release"), want[1:])
	if got := getLayout(t, s, p.ID, "release", 0); got.Version != 3 {
		t.Errorf("GetLayout version 0 = version %d, want the newest, 3", got.Version)
	}
	if got := getLayout(t, s, p.ID, "release", 2); got.ID != release[1].ID || got.Content == nil {
		t.Errorf("GetLayout version 2 = %+v", got)
	}
}

// testLayoutSameBytes: bytes a name had before are refused with the version that has them, and the refused push
// does not use up a version.
func testLayoutSameBytes(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	first := mustLayout(t, s, newLayout(p.ID, "release", "one"))
	mustLayout(t, s, newLayout(p.ID, "release", "two"))
	_, err := addLayout(t, s, newLayout(p.ID, "release", "one"))
	var exists *store.LayoutExistsError
	if !errors.As(err, &exists) || !errors.Is(err, store.ErrAlreadyExists) || exists.Version != first.Version {
		t.Fatalf("AddLayout of version 1's bytes: err = %v, want a LayoutExistsError for version 1", err)
	}
	if got := mustLayout(t, s, newLayout(p.ID, "release", "three")); got.Version != 3 {
		t.Errorf("the push after a refused one got version %d, want 3", got.Version)
	}
	if n := len(listLayouts(t, s, p.ID, "release")); n != 3 {
		t.Errorf("%d versions stored, want 3", n)
	}
}

// testLayoutConcurrent: concurrent pushes of one name get distinct, consecutive versions; concurrent pushes of the
// same bytes store one.
func testLayoutConcurrent(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[i] = addLayout(t, s, newLayout(p.ID, "release", fmt.Sprint("distinct ", i)))
		}()
		go func() {
			defer wg.Done()
			_, errs[n+i] = addLayout(t, s, newLayout(p.ID, "release", "same"))
		}()
	}
	wg.Wait()
	dup := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case i >= n && errors.Is(err, store.ErrAlreadyExists):
			dup++
		default:
			t.Errorf("push %d: %v", i, err)
		}
	}
	if dup != n-1 {
		t.Errorf("%d pushes of the same bytes refused, want %d", dup, n-1)
	}
	list := listLayouts(t, s, p.ID, "release")
	if len(list) != n+1 {
		t.Fatalf("%d versions stored, want %d", len(list), n+1)
	}
	for i, l := range list {
		if want := int64(n + 1 - i); l.Version != want {
			t.Errorf("listing position %d has version %d, want %d", i, l.Version, want)
		}
	}
}

// testLayoutIsolation: another project's layouts are not found, and its names and versions are its own.
func testLayoutIsolation(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	mustLayout(t, s, newLayout(p1.ID, "release", "one"))
	mustLayout(t, s, newLayout(p1.ID, "release", "two"))
	if _, err := s.GetLayout(t.Context(), p2.ID, "release", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetLayout of alpha's layout in beta: err = %v, want ErrNotFound", err)
	}
	if got := listLayouts(t, s, p2.ID, ""); len(got) != 0 {
		t.Errorf("ListLayouts of beta shows %v", got)
	}
	// The same bytes and name in beta: its own version 1.
	if got := mustLayout(t, s, newLayout(p2.ID, "release", "one")); got.Version != 1 {
		t.Errorf("beta's first release is version %d, want 1", got.Version)
	}
	if _, err := addLayout(t, s, newLayout(p2.ID+1000, "release", "x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddLayout to a missing project: err = %v, want ErrNotFound", err)
	}
}

func testLayoutNotFound(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustLayout(t, s, newLayout(p.ID, "release", "one"))
	for _, tc := range []struct {
		name    string
		version int64
	}{{"release", 2}, {"other", 0}, {"other", 1}, {"", 0}} {
		if _, err := s.GetLayout(t.Context(), p.ID, tc.name, tc.version); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetLayout(%q, %d): err = %v, want ErrNotFound", tc.name, tc.version, err)
		}
	}
}

// testLayoutLogIndex: a layout names its leaf. AddLayout requires the index, refuses one that another layout
// has, and claims the orphan record of its index.
func testLayoutLogIndex(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	l := newLayout(p.ID, "release", "one")
	if _, err := s.AddLayout(t.Context(), l); err == nil || errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddLayout without a log index: err = %v, want an error that is none of the sentinels", err)
	}
	if got := listLayouts(t, s, p.ID, ""); len(got) != 0 {
		t.Fatalf("AddLayout without a log index stored %v", got)
	}
	idx := nextLogIndex(s)
	if err := s.AddOrphanLeaves(t.Context(), []store.OrphanLeaf{{LogIndex: *idx, Entry: []byte("layout leaf"), FoundAt: at(0)}}); err != nil {
		t.Fatal(err)
	}
	l.LogIndex = idx
	got := mustLayout(t, s, l)
	if got.LogIndex == nil || *got.LogIndex != *idx {
		t.Fatalf("AddLayout returned log index %v, want %d", got.LogIndex, *idx)
	}
	if g := getLayout(t, s, p.ID, "release", 1); g.LogIndex == nil || *g.LogIndex != *idx {
		t.Fatalf("GetLayout returned log index %v, want %d", g.LogIndex, *idx)
	}
	if list := listLayouts(t, s, p.ID, "release"); len(list) != 1 || list[0].LogIndex == nil || *list[0].LogIndex != *idx {
		t.Fatalf("ListLayouts = %v, want the log index %d", list, *idx)
	}
	orphans, err := s.ListOrphanLeaves(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) != 0 {
		t.Fatalf("the layout did not claim the orphan record of its index: %v", orphans)
	}
	again := newLayout(p.ID, "release", "two")
	again.LogIndex = idx
	if _, err := s.AddLayout(t.Context(), again); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("AddLayout with another layout's log index: err = %v, want ErrAlreadyExists", err)
	}
	if got := listLayouts(t, s, p.ID, ""); len(got) != 1 {
		t.Fatalf("the refused layout was stored: %v", got)
	}
	// The refused add did not use up a version.
	if got := mustLayout(t, s, newLayout(p.ID, "release", "two")); got.Version != 2 {
		t.Fatalf("next version %d, want 2", got.Version)
	}
}

// testLayoutScan: ScanLayoutsByLogIndex walks the layouts of every project by log index, with their content.
func testLayoutScan(t *testing.T, s store.Store) {
	p1, p2 := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	var want []store.Layout
	for i := range 7 {
		p := p1
		if i%2 == 1 {
			p = p2
		}
		mustInsert(t, s, newAttestation(p.ID, fmt.Sprint("between ", i))) // attestations take indices too
		want = append(want, mustLayout(t, s, newLayout(p.ID, "release", fmt.Sprint("v", i))))
	}
	var got []store.Layout
	from := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ScanLayoutsByLogIndex in pages of 3 does not end")
		}
		page, err := s.ScanLayoutsByLogIndex(t.Context(), from, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("a page of %d, limit 3", len(page))
		}
		got = append(got, page...)
		if len(page) < 3 {
			break
		}
		from = *page[len(page)-1].LogIndex + 1
	}
	if len(got) != len(want) {
		t.Fatalf("scanned %d layouts, want %d", len(got), len(want))
	}
	for i := range want {
		checkEqual(t, fmt.Sprint("scanned layout ", i), normLayout(got[i], true), normLayout(want[i], true))
	}
	beyond, err := s.ScanLayoutsByLogIndex(t.Context(), *want[len(want)-1].LogIndex+1, 10)
	if err != nil || len(beyond) != 0 {
		t.Fatalf("scan beyond the last layout: %v, %v", beyond, err)
	}
}
