package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

// Verify's reads: attestations by sets of digests, without envelopes, and envelopes by sets of ids.
var relatedTests = []test{
	{name: "BySubjectsAndMaterials", run: testRelated},
	{name: "Limit", run: testRelatedLimit},
	{name: "Bounds", run: testRelatedBounds},
	{name: "GetAttestations", run: testGetAttestations},
	{name: "UnloggedLeftOut", tamper: testRelatedUnlogged},
}

func sd(label string) store.Digest { return store.Digest{Algorithm: "sha256", Value: digest(label)} }

// relatedIDs returns the ids of got, checking that they come newest first, once each, without envelopes and
// with their artifacts.
func relatedIDs(t *testing.T, what string, got []store.Attestation) []string {
	t.Helper()
	var ids []string
	for i, a := range got {
		if i > 0 && a.Seq >= got[i-1].Seq {
			t.Errorf("%s: not newest first: seq %d after %d", what, a.Seq, got[i-1].Seq)
		}
		if a.Envelope != nil {
			t.Errorf("%s: %s comes with its envelope", what, a.ID)
		}
		if len(a.Subjects) == 0 || len(a.Materials) == 0 {
			t.Errorf("%s: %s comes without its subjects or materials", what, a.ID)
		}
		if a.LogIndex == nil {
			t.Errorf("%s: %s comes without its log index", what, a.ID)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

func related(t *testing.T, s store.Store, projectID int64, subjects, materials []store.Digest, limit int) []string {
	t.Helper()
	got, err := s.RelatedAttestations(t.Context(), projectID, subjects, materials, limit)
	if err != nil {
		t.Fatalf("RelatedAttestations: %v", err)
	}
	return relatedIDs(t, "RelatedAttestations", got)
}

func testRelated(t *testing.T, s store.Store) {
	p, other := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	// build: src -> tar; test: tar -> report; package: tar -> deb; and the same ids' digests in beta.
	mk := func(projectID int64, label, step string, materials, subjects []string) store.Attestation {
		a := newAttestation(projectID, label)
		a.Step = step
		a.Materials, a.Subjects = nil, nil
		for _, m := range materials {
			a.Materials = append(a.Materials, store.Artifact{Name: m, Algorithm: "sha256", Digest: digest(m)})
		}
		for _, o := range subjects {
			a.Subjects = append(a.Subjects, store.Artifact{Name: o, Algorithm: "sha256", Digest: digest(o)})
		}
		return mustInsert(t, s, a)
	}
	build := mk(p.ID, "build", "build", []string{"src"}, []string{"tar", "tar.sig"})
	test := mk(p.ID, "test", "test", []string{"tar"}, []string{"report"})
	pkg := mk(p.ID, "package", "package", []string{"tar", "tar.sig"}, []string{"deb"})
	mk(other.ID, "beta build", "build", []string{"src"}, []string{"tar"})
	// Another algorithm with the same value is another digest.
	sha512 := newAttestation(p.ID, "sha512")
	sha512.Subjects = []store.Artifact{{Name: "tar", Algorithm: "sha512", Digest: digest("tar")}}
	mustInsert(t, s, sha512)

	for _, c := range []struct {
		name                string
		subjects, materials []store.Digest
		want                []string
	}{
		{"subject", []store.Digest{sd("tar")}, nil, []string{build.ID}},
		{"two subjects of one attestation", []store.Digest{sd("tar"), sd("tar.sig")}, nil, []string{build.ID}},
		{"subjects of two", []store.Digest{sd("deb"), sd("tar")}, nil, []string{pkg.ID, build.ID}},
		{"material", nil, []store.Digest{sd("tar")}, []string{pkg.ID, test.ID}},
		{"materials twice", nil, []store.Digest{sd("tar"), sd("tar.sig"), sd("tar")}, []string{pkg.ID, test.ID}},
		{"subject or material", []store.Digest{sd("report")}, []store.Digest{sd("src")}, []string{test.ID, build.ID}},
		{"nothing matches", []store.Digest{sd("nothing")}, []store.Digest{sd("report")}, nil},
		{"nothing asked", nil, nil, nil},
		{"a subject's digest asked as material", nil, []store.Digest{sd("deb")}, nil},
	} {
		got := related(t, s, p.ID, c.subjects, c.materials, 0)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// The project's own rows only.
	if got := related(t, s, other.ID, []store.Digest{sd("deb")}, []store.Digest{sd("tar")}, 0); len(got) != 0 {
		t.Errorf("beta sees alpha's attestations: %v", got)
	}
	if got := related(t, s, other.ID+1000, []store.Digest{sd("tar")}, nil, 0); len(got) != 0 {
		t.Errorf("a missing project has attestations: %v", got)
	}
}

func testRelatedLimit(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	var all []string
	for i := range 7 {
		a := newAttestation(p.ID, fmt.Sprint("shared ", i))
		a.Materials = []store.Artifact{{Name: "base", Algorithm: "sha256", Digest: digest("base image")}}
		all = append(all, mustInsert(t, s, a).ID)
	}
	slices.Reverse(all)
	if got := related(t, s, p.ID, nil, []store.Digest{sd("base image")}, 3); !slices.Equal(got, all[:3]) {
		t.Errorf("limit 3: got %v, want the newest three %v", got, all[:3])
	}
	// With several digests the limit applies to the rows of all of them together: the newest overall, however
	// the rows alternate between the digests (a backend may stop each digest's probe at the limit).
	var mixed []string
	for i := range 6 {
		a := newAttestation(p.ID, fmt.Sprint("mixed ", i))
		name := []string{"left", "right"}[i%2]
		a.Materials = []store.Artifact{{Name: name, Algorithm: "sha256", Digest: digest(name)}}
		mixed = append(mixed, mustInsert(t, s, a).ID)
	}
	slices.Reverse(mixed)
	for _, limit := range []int{1, 3, 4, 6} {
		got := related(t, s, p.ID, nil, []store.Digest{sd("left"), sd("right")}, limit)
		if !slices.Equal(got, mixed[:limit]) {
			t.Errorf("two digests, limit %d: got %v, want the newest %v", limit, got, mixed[:limit])
		}
	}
	for _, limit := range []int{0, -1, store.MaxRelatedRows + 1} {
		if got := related(t, s, p.ID, nil, []store.Digest{sd("base image")}, limit); !slices.Equal(got, all) {
			t.Errorf("limit %d: got %d rows, want all %d", limit, len(got), len(all))
		}
	}
}

func testRelatedBounds(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "one"))
	many := make([]store.Digest, store.MaxRelatedDigests)
	for i := range many {
		many[i] = store.Digest{Algorithm: "sha256", Value: digest(fmt.Sprint("many ", i))}
	}
	many[len(many)-1] = store.Digest{Algorithm: "sha256", Value: a.Subjects[0].Digest}
	if got := related(t, s, p.ID, many, nil, 0); !slices.Equal(got, []string{a.ID}) {
		t.Errorf("%d digests: got %v, want %s", len(many), got, a.ID)
	}
	if _, err := s.RelatedAttestations(t.Context(), p.ID, many, many[:1], 0); err == nil {
		t.Errorf("%d digests: no error", len(many)+1)
	}
	ids := make([]string, store.MaxGetAttestations+1)
	for i := range ids {
		ids[i] = a.ID
	}
	if _, err := s.GetAttestations(t.Context(), p.ID, ids); err == nil {
		t.Errorf("GetAttestations of %d ids: no error", len(ids))
	}
	if got, err := s.GetAttestations(t.Context(), p.ID, ids[1:]); err != nil || len(got) != 1 {
		t.Errorf("GetAttestations of one id %d times: %d rows, %v; want one", len(ids)-1, len(got), err)
	}
}

func testGetAttestations(t *testing.T, s store.Store) {
	p, other := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	var want []store.Attestation
	for i := range 5 {
		want = append(want, mustInsert(t, s, newAttestation(p.ID, fmt.Sprint("get ", i))))
	}
	theirs := mustInsert(t, s, newAttestation(other.ID, "theirs"))
	slices.SortFunc(want, func(a, b store.Attestation) int { return strings.Compare(a.ID, b.ID) })
	ids := []string{want[3].ID, theirs.ID, want[0].ID, digest("missing"), want[3].ID, want[1].ID}
	got, err := s.GetAttestations(t.Context(), p.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("GetAttestations: %d rows, want 3 (another project's and a missing id left out, a repeat once)", len(got))
	}
	for i, w := range []store.Attestation{want[0], want[1], want[3]} {
		checkAttestation(t, fmt.Sprint("GetAttestations[", i, "]"), got[i], w)
	}
	if got, err := s.GetAttestations(t.Context(), p.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("GetAttestations of no ids: %v, %v", got, err)
	}
}

func testRelatedUnlogged(t *testing.T, s store.Store, tm Tamperer) {
	p := mustProject(t, s, "alpha")
	logged := mustInsert(t, s, newAttestation(p.ID, "logged"))
	sneaked := newAttestation(p.ID, "sneaked")
	sneaked.Subjects = logged.Subjects
	sneaked.Materials = logged.Materials
	mustInsertUnlogged(t, tm, sneaked)
	if got := related(t, s, p.ID, []store.Digest{{Algorithm: "sha256", Value: logged.Subjects[0].Digest}},
		[]store.Digest{{Algorithm: "sha256", Value: logged.Materials[0].Digest}}, 0); !slices.Equal(got, []string{logged.ID}) {
		t.Errorf("RelatedAttestations: got %v, want only the logged %s", got, logged.ID)
	}
	got, err := s.GetAttestations(t.Context(), p.ID, []string{logged.ID, sneaked.ID})
	if err != nil || len(got) != 1 || got[0].ID != logged.ID {
		t.Errorf("GetAttestations: %v, %v; want only the logged one", got, err)
	}
}
