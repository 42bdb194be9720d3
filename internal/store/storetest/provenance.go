package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

// The reads of the provenance graph: the listing by submitter, and attestations by id without envelopes.
var (
	submitterTests = []test{
		{name: "Filter", run: testListBySubmitter},
	}
	provenanceTests = []test{
		{name: "WithoutEnvelope", run: testGetWithoutEnvelope},
		{name: "WithoutEnvelopeBounds", run: testGetWithoutEnvelopeBounds},
		{name: "WithoutEnvelopeUnloggedLeftOut", tamper: testGetWithoutEnvelopeUnlogged},
	}
)

// testListBySubmitter: Filter.Submitter selects the attestations of one token id, exactly, in the project
// only, with the other filters and the paging.
func testListBySubmitter(t *testing.T, s store.Store) {
	p, other := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	submitters := []string{"tok-ci", "tok-release", "tok-ci%", "TOK-CI"}
	var all []store.Attestation
	for i := range 12 {
		a := newAttestation(p.ID, fmt.Sprint("submitter-", i))
		a.SubmitterID = submitters[i%len(submitters)]
		a.Step = []string{"build", "test", "package"}[i%3]
		all = append(all, mustInsert(t, s, a))
		b := a
		b.ProjectID = other.ID
		mustInsert(t, s, b)
	}
	// bySubmitter is what a listing of sub must return, given the other filters' answer want.
	bySubmitter := func(sub string, want []store.Attestation) []store.Attestation {
		return slices.DeleteFunc(slices.Clone(want), func(a store.Attestation) bool { return a.SubmitterID != sub })
	}
	for _, sub := range append(submitters, "tok", "nobody") {
		f := store.Filter{Submitter: sub}
		checkList(t, s, p.ID, f, bySubmitter(sub, expect(all, store.Filter{})))
		f.Step = "build"
		checkList(t, s, p.ID, f, bySubmitter(sub, expect(all, store.Filter{Step: "build"})))
	}
	// Paging through the three of tok-ci, one at a time.
	want := bySubmitter("tok-ci", expect(all, store.Filter{}))
	if len(want) != 3 {
		t.Fatalf("the dataset has %d attestations of tok-ci, want 3", len(want))
	}
	f := store.Filter{Submitter: "tok-ci", Limit: 1}
	for _, w := range want {
		checkList(t, s, p.ID, f, []store.Attestation{w})
		f.AfterSeq = w.Seq
	}
	checkList(t, s, p.ID, f, nil)
}

func testGetWithoutEnvelope(t *testing.T, s store.Store) {
	p, other := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	var want []store.Attestation
	for i := range 4 {
		a := newAttestation(p.ID, fmt.Sprint("bare ", i))
		// Several named artifacts, one with two digests, so that names and order are checked.
		a.Subjects = append(a.Subjects,
			store.Artifact{Name: "app", Algorithm: "sha256", Digest: digest(fmt.Sprint("app ", i))},
			store.Artifact{Name: "app", Algorithm: "sha512", Digest: digest(fmt.Sprint("app ", i)) + digest("512")})
		a.Materials = append(a.Materials, store.Artifact{Name: "go.sum", Algorithm: "sha256", Digest: digest("go.sum")})
		want = append(want, mustInsert(t, s, a))
	}
	none := newAttestation(p.ID, "no artifacts")
	none.Subjects, none.Materials = nil, nil
	want = append(want, mustInsert(t, s, none))
	theirs := mustInsert(t, s, newAttestation(other.ID, "theirs"))
	slices.SortFunc(want, func(a, b store.Attestation) int { return strings.Compare(a.ID, b.ID) })

	ids := []string{want[3].ID, theirs.ID, want[0].ID, digest("missing"), want[3].ID, want[4].ID, want[1].ID}
	got, err := s.GetAttestationsWithoutEnvelope(t.Context(), p.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []store.Attestation{want[0], want[1], want[3], want[4]}
	if len(got) != len(wantIDs) {
		t.Fatalf("GetAttestationsWithoutEnvelope: %d rows, want %d (another project's and a missing id left "+
			"out, a repeat once)", len(got), len(wantIDs))
	}
	for i, w := range wantIDs {
		if got[i].Envelope != nil {
			t.Errorf("GetAttestationsWithoutEnvelope[%d]: %d envelope bytes, want none", i, len(got[i].Envelope))
		}
		w.Envelope = nil
		checkAttestation(t, fmt.Sprint("GetAttestationsWithoutEnvelope[", i, "]"), got[i], w)
	}
	if got, err := s.GetAttestationsWithoutEnvelope(t.Context(), p.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("GetAttestationsWithoutEnvelope of no ids: %v, %v", got, err)
	}
	if got, err := s.GetAttestationsWithoutEnvelope(t.Context(), other.ID+1000, ids); err != nil || len(got) != 0 {
		t.Errorf("GetAttestationsWithoutEnvelope of a missing project: %v, %v", got, err)
	}
}

func testGetWithoutEnvelopeBounds(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	a := mustInsert(t, s, newAttestation(p.ID, "one"))
	ids := make([]string, store.MaxGetAttestations+1)
	for i := range ids {
		ids[i] = a.ID
	}
	if _, err := s.GetAttestationsWithoutEnvelope(t.Context(), p.ID, ids); err == nil {
		t.Errorf("%d ids: no error", len(ids))
	}
	if got, err := s.GetAttestationsWithoutEnvelope(t.Context(), p.ID, ids[1:]); err != nil || len(got) != 1 {
		t.Errorf("one id %d times: %d rows, %v; want one", len(ids)-1, len(got), err)
	}
}

func testGetWithoutEnvelopeUnlogged(t *testing.T, s store.Store, tm Tamperer) {
	p := mustProject(t, s, "alpha")
	logged := mustInsert(t, s, newAttestation(p.ID, "logged"))
	sneaked := newAttestation(p.ID, "sneaked")
	mustInsertUnlogged(t, tm, sneaked)
	got, err := s.GetAttestationsWithoutEnvelope(t.Context(), p.ID, []string{logged.ID, sneaked.ID})
	if err != nil || len(got) != 1 || got[0].ID != logged.ID {
		t.Errorf("GetAttestationsWithoutEnvelope: %v, %v; want only the logged one", ids(got), err)
	}
}
