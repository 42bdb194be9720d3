package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Rows without a log index were written behind attestd's back: reads never show them, the audit's scan does.
var tamperTests = []test{
	{name: "UnloggedIsInvisible", tamper: testUnloggedInvisible},
	{name: "ScanUnlogged", tamper: testScanUnlogged},
	{name: "InsertOverUnlogged", tamper: testInsertOverUnlogged},
	{name: "ScanAttestationKeys", tamper: testScanAttestationKeys},
}

func mustInsertUnlogged(t *testing.T, tm Tamperer, a store.Attestation) {
	t.Helper()
	if err := tm.InsertUnlogged(t.Context(), a); err != nil {
		t.Fatalf("InsertUnlogged(%s): %v", a.ID, err)
	}
}

// scanUnlogged returns every row without a log index, in pages of size.
func scanUnlogged(t *testing.T, s store.Store, size int) []store.Attestation {
	t.Helper()
	var all []store.Attestation
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("ScanUnlogged in pages of %d does not end", size)
		}
		page, err := s.ScanUnlogged(t.Context(), after, size)
		if err != nil {
			t.Fatalf("ScanUnlogged(%d, %d): %v", after, size, err)
		}
		if len(page) > size {
			t.Fatalf("ScanUnlogged(%d, %d) = %d rows", after, size, len(page))
		}
		all = append(all, page...)
		if len(page) < size {
			return all
		}
		after = page[len(page)-1].Seq
	}
}

// testUnloggedInvisible: an unlogged row that every filter would select is in no read but ScanUnlogged.
func testUnloggedInvisible(t *testing.T, s store.Store, tm Tamperer) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	logged := mustInsert(t, s, newAttestation(p.ID, "logged"))
	ghost := newAttestation(p.ID, "ghost")
	ghost.Subjects, ghost.Materials = logged.Subjects, logged.Materials
	ghost.CreatedAt = at(time.Minute)
	mustInsertUnlogged(t, tm, ghost)

	if _, err := s.GetAttestation(ctx, p.ID, ghost.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestation of a row without log index: err = %v, want ErrNotFound", err)
	}
	for _, f := range []store.Filter{
		{},
		{SubjectDigest: logged.Subjects[0].Digest},
		{MaterialAlgorithm: "sha256", MaterialDigest: logged.Materials[0].Digest},
		{SignerKeyID: logged.SignerKeyIDs[0]},
		{Step: logged.Step, PredicateType: logged.PredicateType},
		{Since: at(time.Second)},
		{Limit: 1},
	} {
		want := []store.Attestation{logged}
		if !f.Since.IsZero() {
			want = nil
		}
		checkList(t, s, p.ID, f, want)
	}
	scan, err := s.ScanByLogIndex(ctx, 0, store.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(scan), ids([]store.Attestation{logged})) {
		t.Errorf("ScanByLogIndex = %v, want the logged row only", ids(scan))
	}

	unlogged := scanUnlogged(t, s, 10)
	if len(unlogged) != 1 {
		t.Fatalf("ScanUnlogged = %v, want the one row without log index", ids(unlogged))
	}
	if unlogged[0].Seq <= logged.Seq {
		t.Errorf("the row inserted last has Seq %d, not above %d", unlogged[0].Seq, logged.Seq)
	}
	checkAttestation(t, "ScanUnlogged", unlogged[0], withSeq(ghost, unlogged[0].Seq))
}

// testScanUnlogged: rows without log index of every project, interleaved with logged ones, come back in Seq
// order, complete, and paging from the last Seq visits each once.
func testScanUnlogged(t *testing.T, s store.Store, tm Tamperer) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	var ghosts []store.Attestation
	var logged []store.Attestation
	for i := range 12 {
		project := []int64{p1.ID, p2.ID}[i%2]
		g := newAttestation(project, fmt.Sprint("ghost-", i))
		g.CreatedAt = at(time.Duration(i) * time.Minute)
		if i%4 == 0 {
			g.Subjects, g.Materials, g.SignerKeyIDs = nil, nil, nil
		}
		mustInsertUnlogged(t, tm, g)
		ghosts = append(ghosts, g)
		if i%3 == 0 {
			logged = append(logged, mustInsert(t, s, newAttestation(project, fmt.Sprint("logged-", i))))
		}
	}

	all := scanUnlogged(t, s, store.MaxPageSize)
	if len(all) != len(ghosts) {
		t.Fatalf("ScanUnlogged = %v, want %d rows", ids(all), len(ghosts))
	}
	for i, got := range all {
		if i > 0 && got.Seq <= all[i-1].Seq {
			t.Errorf("ScanUnlogged: Seq %d after %d, not ascending", got.Seq, all[i-1].Seq)
		}
		checkAttestation(t, fmt.Sprint("ScanUnlogged[", i, "]"), got, withSeq(ghosts[i], got.Seq))
	}
	for _, size := range []int{1, 5, len(ghosts), len(ghosts) + 1} {
		if got := scanUnlogged(t, s, size); !slices.Equal(ids(got), ids(all)) {
			t.Errorf("ScanUnlogged in pages of %d: %v, want %v", size, ids(got), ids(all))
		}
	}
	for _, a := range logged {
		got, err := s.GetAttestation(t.Context(), a.ProjectID, a.ID)
		if err != nil {
			t.Fatalf("GetAttestation of a logged row among unlogged ones: %v", err)
		}
		checkAttestation(t, "GetAttestation of a logged row", got, a)
	}
}

// testInsertOverUnlogged: attestd inserting an id that the project has as an unlogged row neither creates a
// second row nor takes the unlogged one for its own: an error, and the row stays as it was.
func testInsertOverUnlogged(t *testing.T, s store.Store, tm Tamperer) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	ghost := newAttestation(p.ID, "ghost")
	ghost.Step = "forged"
	mustInsertUnlogged(t, tm, ghost)

	a := newAttestation(p.ID, "ghost")
	a.LogIndex = nextLogIndex(s)
	stored, created, err := s.InsertAttestation(ctx, a)
	if err == nil || created {
		t.Errorf("InsertAttestation over an unlogged row of the same id = created %v, LogIndex %s, err %v; "+
			"want an error", created, fmtIndex(stored.LogIndex), err)
	}
	if _, err := s.GetAttestation(ctx, p.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAttestation after the refused insert: err = %v, want ErrNotFound", err)
	}
	if _, err := s.AttestationAtIndex(ctx, *a.LogIndex); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttestationAtIndex(%d) after the refused insert: err = %v, want ErrNotFound", *a.LogIndex, err)
	}
	unlogged := scanUnlogged(t, s, 10)
	if len(unlogged) != 1 {
		t.Fatalf("ScanUnlogged = %v, want the unlogged row", ids(unlogged))
	}
	checkAttestation(t, "the unlogged row after the insert", unlogged[0], withSeq(ghost, unlogged[0].Seq))
}

// testScanAttestationKeys: the keys of every row of every project, logged or not, come back in Seq order; paging
// from the last Seq visits each once, and a limit out of range is clamped.
func testScanAttestationKeys(t *testing.T, s store.Store, tm Tamperer) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	want := map[string]int64{} // id -> project
	for i := range 25 {
		project := []int64{p1.ID, p2.ID}[i%2]
		a := newAttestation(project, fmt.Sprint("key-", i))
		if i%5 == 0 {
			mustInsertUnlogged(t, tm, a)
		} else {
			mustInsert(t, s, a)
		}
		want[a.ID] = project
	}
	// The same envelope in two projects is two rows, two keys.
	twin := newAttestation(p1.ID, "key-1") // key-1 is in beta
	mustInsert(t, s, twin)

	var got []store.AttestationKey
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("ScanAttestationKeys in pages of 4 does not end")
		}
		page, err := s.ScanAttestationKeys(ctx, after, 4)
		if err != nil {
			t.Fatalf("ScanAttestationKeys(%d, 4): %v", after, err)
		}
		if len(page) > 4 {
			t.Fatalf("ScanAttestationKeys(%d, 4) = %d keys", after, len(page))
		}
		got = append(got, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].Seq
	}
	if len(got) != len(want)+1 {
		t.Fatalf("ScanAttestationKeys found %d keys, want %d", len(got), len(want)+1)
	}
	seen := map[store.AttestationKey]bool{}
	for i, k := range got {
		if i > 0 && k.Seq <= got[i-1].Seq {
			t.Errorf("key %d has Seq %d after %d: not ascending", i, k.Seq, got[i-1].Seq)
		}
		project, ok := want[k.ID]
		if !ok {
			t.Errorf("ScanAttestationKeys returned an unknown id %.12s", k.ID)
		}
		if k.ProjectID != project && (k.ID != twin.ID || k.ProjectID != p1.ID) {
			t.Errorf("key %.12s has project %d, want %d", k.ID, k.ProjectID, project)
		}
		if seen[store.AttestationKey{ProjectID: k.ProjectID, ID: k.ID}] {
			t.Errorf("key %d/%.12s returned twice", k.ProjectID, k.ID)
		}
		seen[store.AttestationKey{ProjectID: k.ProjectID, ID: k.ID}] = true
	}

	for _, limit := range []int{0, -1, store.MaxScanKeys + 1} {
		all, err := s.ScanAttestationKeys(ctx, 0, limit)
		if err != nil {
			t.Fatalf("ScanAttestationKeys(0, %d): %v", limit, err)
		}
		if len(all) != len(got) {
			t.Errorf("ScanAttestationKeys(0, %d) = %d keys, want all %d", limit, len(all), len(got))
		}
	}
	last, err := s.ScanAttestationKeys(ctx, got[len(got)-1].Seq, 10)
	if err != nil || len(last) != 0 {
		t.Errorf("ScanAttestationKeys after the last Seq = %d keys, %v; want none", len(last), err)
	}
}
