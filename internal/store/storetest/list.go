package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var listTests = []test{
	{name: "Filters", run: testListFilters},
	{name: "NewestFirst", run: testListNewestFirst},
	{name: "Pagination", run: testListPagination},
	{name: "LimitCap", run: testListLimitCap},
	{name: "LiteralValues", run: testListLiteral},
	{name: "TimeRange", run: testListTimeRange},
	{name: "WithoutEnvelopes", run: testListWithoutEnvelopes},
}

const (
	predSLSA = "https://slsa.dev/provenance/v1"
	predLink = "https://in-toto.io/attestation/link/v0.3"
	predVSA  = "https://slsa.dev/verification_summary/v1"
)

// listDataset stores 12 attestations in a project, varied so that every filter selects a different part
// of them, and the same ones in a second project, interleaved, which no listing of the first may show.
// It returns the first project and its attestations as stored.
func listDataset(t *testing.T, s store.Store) (store.Project, []store.Attestation) {
	p := mustProject(t, s, "alpha")
	other := mustProject(t, s, "beta")
	signerSets := [][]string{nil, {keyID("k1")}, {keyID("k2")}, {keyID("k1"), keyID("k2")}, {keyID("k3")}}
	var stored []store.Attestation
	for i := range 12 {
		a := newAttestation(p.ID, fmt.Sprint("list-", i))
		a.Step = []string{"build", "test", "package"}[i%3]
		a.PredicateType = []string{"", predSLSA, predLink, predVSA}[i%4]
		if a.PredicateType == "" {
			a.StatementType = "link"
		}
		a.SignerKeyIDs = slices.Sorted(slices.Values(signerSets[i%5]))
		a.Subjects = []store.Artifact{{Name: "out", Algorithm: "sha256", Digest: digest(fmt.Sprint("d", i%4))}}
		if i%3 == 0 {
			a.Subjects = append(a.Subjects, store.Artifact{
				Name: "out", Algorithm: "sha512", Digest: digest(fmt.Sprint("s512 ", i%2)) + digest("x")})
		}
		a.Materials = []store.Artifact{{Name: "in", Algorithm: "sha256", Digest: digest(fmt.Sprint("m", i%3))}}
		if i%2 == 0 {
			a.Materials = append(a.Materials, store.Artifact{
				Name: "repo", Algorithm: "gitCommit", Digest: digest(fmt.Sprint("c", i%4))[:40]})
		}
		a.CreatedAt = at(time.Duration(i) * time.Minute)
		stored = append(stored, mustInsert(t, s, a))

		b := a
		b.ProjectID = other.ID
		mustInsert(t, s, b)
	}
	return p, stored
}

// matches is the meaning of a Filter, written plainly.
func matches(a store.Attestation, f store.Filter) bool {
	switch {
	case f.AfterSeq > 0 && a.Seq >= f.AfterSeq,
		f.Step != "" && a.Step != f.Step,
		f.PredicateType != "" && a.PredicateType != f.PredicateType,
		f.SignerKeyID != "" && !slices.Contains(a.SignerKeyIDs, f.SignerKeyID),
		!f.Since.IsZero() && a.CreatedAt.Before(f.Since),
		!f.Until.IsZero() && !a.CreatedAt.Before(f.Until):
		return false
	}
	return hasArtifact(a.Subjects, f.SubjectAlgorithm, f.SubjectDigest) &&
		hasArtifact(a.Materials, f.MaterialAlgorithm, f.MaterialDigest)
}

// hasArtifact: one artifact has both the algorithm and the digest; an empty one matches any.
func hasArtifact(list []store.Artifact, algorithm, digest string) bool {
	if algorithm == "" && digest == "" {
		return true
	}
	return slices.ContainsFunc(list, func(x store.Artifact) bool {
		return (algorithm == "" || x.Algorithm == algorithm) && (digest == "" || x.Digest == digest)
	})
}

// expect is what ListAttestations must return for f from the attestations all.
func expect(all []store.Attestation, f store.Filter) []store.Attestation {
	var out []store.Attestation
	for _, a := range all {
		if matches(a, f) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b store.Attestation) int { return cmp.Compare(b.Seq, a.Seq) })
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultPageSize
	}
	return out[:min(len(out), limit, store.MaxPageSize)]
}

func checkList(t *testing.T, s store.Store, projectID int64, f store.Filter, want []store.Attestation) {
	t.Helper()
	got, err := s.ListAttestations(t.Context(), projectID, f)
	if err != nil {
		t.Fatalf("ListAttestations(%s): %v", describe(f), err)
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("ListAttestations(%s):\n got %v\nwant %v", describe(f), ids(got), ids(want))
		return
	}
	for i := range got {
		checkAttestation(t, fmt.Sprintf("ListAttestations(%s)[%d]", describe(f), i), got[i], want[i])
	}
}

func testListFilters(t *testing.T, s store.Store) {
	p, all := listDataset(t, s)
	d0, d1, m0, m1 := digest("d0"), digest("d1"), digest("m0"), digest("m1")
	c2 := digest("c2")[:40]
	k1, k2, k3 := keyID("k1"), keyID("k2"), keyID("k3")
	filters := []struct {
		f       store.Filter
		matches int // -1: whatever the reference says; the others pin the reference itself
	}{
		{store.Filter{}, 12},
		// Each field alone.
		{store.Filter{SubjectDigest: d0}, 3},
		{store.Filter{SubjectDigest: d1}, 3},
		{store.Filter{SubjectAlgorithm: "sha512"}, 4},
		{store.Filter{SubjectAlgorithm: "sha256", SubjectDigest: d1}, 3},
		{store.Filter{SubjectAlgorithm: "sha512", SubjectDigest: d1}, 0}, // both on one artifact
		{store.Filter{MaterialDigest: m1}, 4},
		{store.Filter{MaterialAlgorithm: "gitCommit"}, 6},
		{store.Filter{MaterialAlgorithm: "gitCommit", MaterialDigest: c2}, 3},
		{store.Filter{Step: "test"}, 4},
		{store.Filter{PredicateType: predSLSA}, 3},
		{store.Filter{SignerKeyID: k1}, 5},
		{store.Filter{SignerKeyID: k3}, 2},
		{store.Filter{Since: at(5 * time.Minute)}, 7},
		{store.Filter{Until: at(5 * time.Minute)}, 5},
		{store.Filter{AfterSeq: all[4].Seq}, 4},
		{store.Filter{Limit: 5}, 5},
		// Subjects and materials are different things.
		{store.Filter{SubjectDigest: m0}, 0},
		{store.Filter{MaterialDigest: d0}, 0},
		// Nothing matches.
		{store.Filter{Step: "deploy"}, 0},
		{store.Filter{SignerKeyID: keyID("nobody")}, 0},
		{store.Filter{PredicateType: "https://slsa.dev/provenance/v0.2"}, 0},
		// Combined.
		{store.Filter{SubjectDigest: d0, Step: "build"}, -1},
		{store.Filter{MaterialDigest: m0, SignerKeyID: k2}, -1},
		{store.Filter{Step: "build", PredicateType: predLink, SignerKeyID: k1}, -1},
		{store.Filter{SubjectDigest: d0, MaterialDigest: m0}, -1},
		{store.Filter{SignerKeyID: k1, Since: at(2 * time.Minute), Until: at(9 * time.Minute)}, -1},
		{store.Filter{SubjectAlgorithm: "sha512", MaterialAlgorithm: "gitCommit", Step: "build"}, -1},
		{store.Filter{Step: "build", AfterSeq: all[9].Seq, Limit: 2}, 2},
		{store.Filter{
			SubjectAlgorithm: "sha256", SubjectDigest: all[8].Subjects[0].Digest,
			MaterialAlgorithm: "sha256", MaterialDigest: all[8].Materials[0].Digest,
			Step: all[8].Step, PredicateType: all[8].PredicateType, SignerKeyID: all[8].SignerKeyIDs[0],
			Since: all[8].CreatedAt, Until: all[8].CreatedAt.Add(time.Microsecond),
		}, 1},
	}
	nonEmpty := 0
	for _, tc := range filters {
		want := expect(all, tc.f)
		if tc.matches >= 0 && len(want) != tc.matches {
			t.Fatalf("the suite's reference selects %d for %s, not %d: the dataset changed",
				len(want), describe(tc.f), tc.matches)
		}
		if len(want) > 0 {
			nonEmpty++
		}
		checkList(t, s, p.ID, tc.f, want)
	}
	if nonEmpty < len(filters)/2 {
		t.Fatalf("only %d of %d filters select anything: the dataset does not exercise them", nonEmpty, len(filters))
	}
}

func testListNewestFirst(t *testing.T, s store.Store) {
	p, all := listDataset(t, s)
	got, err := s.ListAttestations(t.Context(), p.ID, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("ListAttestations = %d rows, want %d", len(got), len(all))
	}
	for i := range got {
		if i > 0 && got[i].Seq >= got[i-1].Seq {
			t.Errorf("row %d has Seq %d after Seq %d: not newest first", i, got[i].Seq, got[i-1].Seq)
		}
		// Inserted one after the other, so the newest is the last inserted.
		if want := all[len(all)-1-i]; got[i].ID != want.ID {
			t.Errorf("row %d is %.8s, want %.8s (inserted %d-th)", i, got[i].ID, want.ID, len(all)-1-i)
		}
	}
}

// testListPagination: following AfterSeq from page to page visits every matching row exactly once.
func testListPagination(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	var all []store.Attestation
	for i := range 25 {
		a := newAttestation(p.ID, fmt.Sprint("page-", i))
		a.Step = []string{"build", "test"}[i%2]
		all = append(all, mustInsert(t, s, a))
	}
	for _, base := range []store.Filter{{}, {Step: "build"}} {
		want := expect(all, store.Filter{Step: base.Step, Limit: store.MaxPageSize})
		for _, size := range []int{1, 7, 13, 25, 26} {
			var got []store.Attestation
			f := base
			f.Limit = size
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("%s: pagination does not end", describe(f))
				}
				page, err := s.ListAttestations(t.Context(), p.ID, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("%s: page of %d rows", describe(f), len(page))
				}
				got = append(got, page...)
				if len(page) < size {
					break
				}
				f.AfterSeq = page[len(page)-1].Seq
			}
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("pages of %d with %s:\n got %v\nwant %v", size, describe(base), ids(got), ids(want))
			}
		}
	}
}

// testListLimitCap: a page never exceeds store.MaxPageSize, and no Limit means store.DefaultPageSize.
func testListLimitCap(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	const n, workers = store.MaxPageSize + 1, 4
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				a := newAttestation(p.ID, fmt.Sprint("cap-", i))
				a.LogIndex = new(uint64(i))
				if _, _, err := s.InsertAttestation(t.Context(), a); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("InsertAttestation: %v", err)
		}
	}
	for _, tc := range []struct{ limit, want int }{
		{0, store.DefaultPageSize},
		{3, 3},
		{store.MaxPageSize, store.MaxPageSize},
		{store.MaxPageSize + 1, store.MaxPageSize},
		{1 << 30, store.MaxPageSize},
	} {
		got, err := s.ListAttestations(t.Context(), p.ID, store.Filter{Limit: tc.limit})
		if err != nil {
			t.Fatalf("Limit %d: %v", tc.limit, err)
		}
		if len(got) != tc.want {
			t.Errorf("Limit %d: %d rows, want %d", tc.limit, len(got), tc.want)
		}
		if !slices.IsSortedFunc(got, func(a, b store.Attestation) int { return cmp.Compare(b.Seq, a.Seq) }) {
			t.Errorf("Limit %d: not newest first", tc.limit)
		}
	}
	// The scan of the log is capped alike.
	for _, limit := range []int{store.MaxPageSize, store.MaxPageSize + 1, 1 << 30} {
		got, err := s.ScanByLogIndex(t.Context(), 0, limit)
		if err != nil {
			t.Fatalf("ScanByLogIndex limit %d: %v", limit, err)
		}
		if len(got) != store.MaxPageSize {
			t.Errorf("ScanByLogIndex limit %d: %d rows, want %d", limit, len(got), store.MaxPageSize)
		} else if first, last := fmtIndex(got[0].LogIndex), fmtIndex(got[len(got)-1].LogIndex); first != "0" ||
			last != fmt.Sprint(store.MaxPageSize-1) {
			t.Errorf("ScanByLogIndex limit %d: log indices %s to %s, want 0 to %d", limit, first, last,
				store.MaxPageSize-1)
		}
	}
}

// testListLiteral: filters compare for equality; nothing in a value is a wildcard or ends a string.
func testListLiteral(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	values := []string{"a%", "ab", "a_", "aXb", "a", "o'neil", `a\b`, `a\%`, "%", "_", "a*", "A%"}
	var all []store.Attestation
	for i, v := range values {
		a := newAttestation(p.ID, fmt.Sprint("literal-", i))
		a.Step = v
		a.PredicateType = "https://example.com/" + v
		a.Subjects = []store.Artifact{{Name: v, Algorithm: "x-literal", Digest: v}}
		a.Materials = []store.Artifact{{Name: v, Algorithm: v, Digest: "m" + v}}
		all = append(all, mustInsert(t, s, a))
	}
	for _, v := range append(values, "%%", "a%b", "") {
		for _, f := range []store.Filter{
			{Step: v},
			{PredicateType: "https://example.com/" + v},
			{SubjectAlgorithm: "x-literal", SubjectDigest: v},
			{MaterialAlgorithm: v},
			{MaterialDigest: "m" + v},
		} {
			want := expect(all, f)
			if v != "" && slices.Contains(values, v) && len(want) != 1 {
				t.Fatalf("reference selects %d rows for %s", len(want), describe(f))
			}
			checkList(t, s, p.ID, f, want)
		}
	}
}

// testListTimeRange: CreatedAt in [Since, Until), to the microsecond.
func testListTimeRange(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	offsets := []time.Duration{0, time.Microsecond, 1500 * time.Microsecond, time.Second, time.Hour, -time.Hour}
	var all []store.Attestation
	for i, d := range offsets {
		a := newAttestation(p.ID, fmt.Sprint("time-", i))
		a.CreatedAt = at(d)
		all = append(all, mustInsert(t, s, a))
	}
	for _, f := range []store.Filter{
		{Since: at(0)},
		{Since: at(time.Microsecond)},
		{Until: at(0)},
		{Until: at(1500 * time.Microsecond)},
		{Since: at(time.Microsecond), Until: at(time.Second)},
		{Since: at(1500 * time.Microsecond), Until: at(1500 * time.Microsecond)},
		{Since: at(time.Hour), Until: at(-time.Hour)},
		{Since: at(-2 * time.Hour), Until: at(2 * time.Hour)},
		{Since: at(2 * time.Hour)},
		// Other locations name the same instants.
		{Since: at(time.Microsecond).In(time.FixedZone("east", 5*3600)), Until: at(time.Second).In(time.FixedZone("west", -7*3600))},
	} {
		checkList(t, s, p.ID, f, expect(all, f))
	}
	f := store.Filter{Since: at(time.Microsecond), Until: at(time.Second)}
	if got := expect(all, f); len(got) != 2 {
		t.Fatalf("reference selects %d rows for %s, want 2", len(got), describe(f))
	}
}

// testListWithoutEnvelopes: WithoutEnvelopes lists the same attestations, whichever filter drives the listing,
// each complete but for its envelope, which is nil.
func testListWithoutEnvelopes(t *testing.T, s store.Store) {
	p, all := listDataset(t, s)
	for _, f := range []store.Filter{
		{},
		{SubjectDigest: digest("d1")},
		{MaterialAlgorithm: "gitCommit", MaterialDigest: digest("c2")[:40]},
		{Step: "test", Limit: 2},
		{SignerKeyID: keyID("k1"), AfterSeq: all[9].Seq},
	} {
		want := expect(all, f)
		if len(want) == 0 {
			t.Fatalf("the dataset has nothing for %s", describe(f))
		}
		for i := range want {
			want[i].Envelope = nil
		}
		f.WithoutEnvelopes = true
		checkList(t, s, p.ID, f, want)
		got, err := s.ListAttestations(t.Context(), p.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			if a.Envelope != nil {
				t.Errorf("ListAttestations(%s): attestation %.12s has an envelope of %d bytes, want none",
					describe(f), a.ID, len(a.Envelope))
			}
		}
	}
}
