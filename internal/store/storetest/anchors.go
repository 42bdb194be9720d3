package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// anchorTests cover public anchoring: the projects' Rekor settings, the anchors that InsertAttestation records
// with the attestations, and the anchoring worker's queue.
var anchorTests = []test{
	{name: "SetProjectRekor", run: testSetProjectRekor},
	{name: "CreatedWithAttestation", run: testAnchorCreatedWithAttestation},
	{name: "AtomicWithAttestation", run: testAnchorAtomicWithAttestation},
	{name: "ConcurrentInsertsOneAnchor", run: testAnchorConcurrentInserts},
	{name: "GetAnchors", run: testGetAnchors},
	{name: "DueAnchors", run: testDueAnchors},
	{name: "AttemptThenComplete", run: testAnchorAttemptThenComplete},
	{name: "FailedIsFinal", run: testAnchorFailedIsFinal},
	{name: "NotFound", run: testAnchorNotFound},
	{name: "Bounds", run: testAnchorBounds},
	{name: "ConcurrentUpdates", run: testAnchorConcurrentUpdates},
	{name: "ConcurrentCompletions", run: testAnchorConcurrentCompletions},
	{name: "Count", run: testCountAnchors},
	{name: "Retry", run: testRetryAnchors},
}

const rekorURL = "https://rekor.example.com"

// rekorKey is a PEM public key, as far as the store can tell (it does not parse it).
var rekorKey = []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n")

// mustRekor sets the project's Rekor settings and returns the project as SetProjectRekor did.
func mustRekor(t *testing.T, s store.Store, projectID int64, url string, key []byte) store.Project {
	t.Helper()
	p, err := s.SetProjectRekor(t.Context(), projectID, url, key)
	if err != nil {
		t.Fatalf("SetProjectRekor(%d, %q): %v", projectID, url, err)
	}
	return p
}

// anchoredProject is a new project with Rekor set.
func anchoredProject(t *testing.T, s store.Store, name string) store.Project {
	t.Helper()
	return mustRekor(t, s, mustProject(t, s, name).ID, rekorURL, rekorKey)
}

func normAnchor(a store.Anchor) store.Anchor {
	a.NextAttemptAt = normTime(a.NextAttemptAt)
	a.CreatedAt = normTime(a.CreatedAt)
	a.UpdatedAt = normTime(a.UpdatedAt)
	a.Entry = emptyNil(a.Entry)
	return a
}

func normAnchors(list []store.Anchor) []store.Anchor {
	out := []store.Anchor{}
	for _, a := range list {
		out = append(out, normAnchor(a))
	}
	return out
}

func mustAnchor(t *testing.T, s store.Store, projectID int64, id string) store.Anchor {
	t.Helper()
	a, err := s.GetAnchor(t.Context(), projectID, id)
	if err != nil {
		t.Fatalf("GetAnchor(%d, %.12s): %v", projectID, id, err)
	}
	return normAnchor(a)
}

// checkNoAnchor fails t unless the project's attestation id has no anchor.
func checkNoAnchor(t *testing.T, s store.Store, projectID int64, id, why string) {
	t.Helper()
	if a, err := s.GetAnchor(t.Context(), projectID, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAnchor of %s = %+v, %v; want ErrNotFound", why, a, err)
	}
}

// pendingAnchor is the anchor that InsertAttestation records for the stored attestation a.
func pendingAnchor(a store.Attestation) store.Anchor {
	return normAnchor(store.Anchor{ProjectID: a.ProjectID, AttestationID: a.ID, State: store.AnchorPending,
		NextAttemptAt: a.CreatedAt, CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt})
}

func testSetProjectRekor(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, other := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	if p.RekorURL != "" || len(p.RekorPublicKey) != 0 {
		t.Errorf("a new project has Rekor settings: %q, %q", p.RekorURL, p.RekorPublicKey)
	}
	tok := mustToken(t, s, newToken(p.ID, "rekor", at(time.Minute)))
	// Every read of the project returns what SetProjectRekor returned.
	reads := func(what string, want store.Project) {
		t.Helper()
		want = normProject(want)
		byID, err := s.ProjectByID(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, what+": ProjectByID", normProject(byID), want)
		byName, err := s.ProjectByName(ctx, p.Name)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, what+": ProjectByName", normProject(byName), want)
		list, err := s.ListProjects(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("ListProjects = %v, %v", list, err)
		}
		checkEqual(t, what+": ListProjects", normProject(list[0]), want)
		_, authed, err := s.Authenticate(ctx, tok.Hash)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, what+": Authenticate", normProject(authed), want)
	}

	set := mustRekor(t, s, p.ID, rekorURL, rekorKey)
	want := p
	want.RekorURL, want.RekorPublicKey, want.Generation = rekorURL, rekorKey, set.Generation
	if set.Generation <= p.Generation {
		t.Errorf("SetProjectRekor: generation %d -> %d, want it to grow", p.Generation, set.Generation)
	}
	checkEqual(t, "SetProjectRekor returned", normProject(set), normProject(want))
	reads("after SetProjectRekor", set)

	// The same settings again still count as a change: the generation grows with every set.
	again := mustRekor(t, s, p.ID, rekorURL, rekorKey)
	if again.Generation <= set.Generation {
		t.Errorf("SetProjectRekor again: generation %d -> %d, want it to grow", set.Generation, again.Generation)
	}
	other2 := mustRekor(t, s, p.ID, "https://rekor.other.example", nil)
	if other2.RekorURL != "https://rekor.other.example" || len(other2.RekorPublicKey) != 0 {
		t.Errorf("SetProjectRekor without a key = %q, %q", other2.RekorURL, other2.RekorPublicKey)
	}

	// "" turns anchoring off and drops the key, whatever key comes with it.
	off := mustRekor(t, s, p.ID, "", rekorKey)
	if off.RekorURL != "" || len(off.RekorPublicKey) != 0 || off.Generation <= other2.Generation {
		t.Errorf("SetProjectRekor(\"\") = %+v, want no settings and a higher generation than %d", off, other2.Generation)
	}
	reads("after clearing", off)

	// Refusals change nothing.
	for name, err := range map[string]error{
		"a url over the bound": func() error {
			_, err := s.SetProjectRekor(ctx, p.ID, "https://"+strings.Repeat("r", store.MaxRekorURL), nil)
			return err
		}(),
		"a key over the bound": func() error {
			_, err := s.SetProjectRekor(ctx, p.ID, rekorURL, make([]byte, store.MaxRekorPublicKey+1))
			return err
		}(),
		"a url that is not UTF-8": func() error {
			_, err := s.SetProjectRekor(ctx, p.ID, "https://\xff", nil)
			return err
		}(),
	} {
		checkPlainError(t, name, err)
	}
	reads("after the refusals", off)
	if _, err := s.SetProjectRekor(ctx, p.ID+other.ID+1000, rekorURL, rekorKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetProjectRekor of a missing project: %v, want ErrNotFound", err)
	}
	if g := generation(t, s, other.ID); g != other.Generation {
		t.Errorf("the other project's generation %d -> %d", other.Generation, g)
	}
	// Bounds are inclusive.
	full := mustRekor(t, s, p.ID, strings.Repeat("u", store.MaxRekorURL), bytes.Repeat([]byte("k"), store.MaxRekorPublicKey))
	if len(full.RekorURL) != store.MaxRekorURL || len(full.RekorPublicKey) != store.MaxRekorPublicKey {
		t.Errorf("settings at the bounds stored as %d and %d bytes", len(full.RekorURL), len(full.RekorPublicKey))
	}
}

// checkPlainError fails t unless err is an error that is none of the sentinels (a caller bug).
func checkPlainError(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: accepted", what)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyExists),
		errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrLimitReached):
		t.Errorf("%s: %v, want an error that is none of the sentinels", what, err)
	}
}

func testAnchorCreatedWithAttestation(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, q := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	before := mustInsert(t, s, newAttestation(p.ID, "before"))
	checkNoAnchor(t, s, p.ID, before.ID, "an attestation inserted before Rekor was set")

	mustRekor(t, s, p.ID, rekorURL, rekorKey)
	a := newAttestation(p.ID, "during")
	a.CreatedAt = at(time.Minute + 7*time.Microsecond)
	during := mustInsert(t, s, a)
	checkEqual(t, "the anchor of a new attestation", mustAnchor(t, s, p.ID, during.ID), pendingAnchor(during))
	// Without a creation time, the anchor takes the one the store gave the attestation.
	now := newAttestation(p.ID, "now")
	now.CreatedAt = time.Time{}
	storedNow := mustInsert(t, s, now)
	checkEqual(t, "the anchor of an attestation created now", mustAnchor(t, s, p.ID, storedNow.ID), pendingAnchor(storedNow))

	// Inserts that find the attestation there record no anchor: not for one from before Rekor was set, not a
	// second one (whose times would differ) for one that has one.
	for label, old := range map[string]store.Attestation{"before": before, "during": during} {
		again := newAttestation(p.ID, label)
		again.CreatedAt = at(time.Hour)
		again.LogIndex = old.LogIndex
		if _, created, err := s.InsertAttestation(ctx, again); err != nil || created {
			t.Fatalf("InsertAttestation of %q again = created %v, %v", label, created, err)
		}
	}
	checkNoAnchor(t, s, p.ID, before.ID, "an attestation inserted again after Rekor was set")
	checkEqual(t, "the anchor after the insert again", mustAnchor(t, s, p.ID, during.ID), pendingAnchor(during))

	// Another project, without Rekor, with the same envelope: no anchor, and none visible across projects.
	theirs := mustInsert(t, s, newAttestation(q.ID, "during"))
	checkNoAnchor(t, s, q.ID, theirs.ID, "the same envelope in a project without Rekor")

	mustRekor(t, s, p.ID, "", nil)
	after := mustInsert(t, s, newAttestation(p.ID, "after"))
	checkNoAnchor(t, s, p.ID, after.ID, "an attestation inserted after Rekor was cleared")
	checkEqual(t, "an anchor after Rekor was cleared", mustAnchor(t, s, p.ID, during.ID), pendingAnchor(during))
}

// testAnchorAtomicWithAttestation: an insert that fails records no anchor.
func testAnchorAtomicWithAttestation(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := anchoredProject(t, s, "alpha")
	first := mustInsert(t, s, newAttestation(p.ID, "first"))
	clash := newAttestation(p.ID, "clash")
	clash.LogIndex = first.LogIndex
	if _, _, err := s.InsertAttestation(ctx, clash); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("InsertAttestation with a taken log index: %v, want ErrAlreadyExists", err)
	}
	checkNoAnchor(t, s, p.ID, clash.ID, "a refused attestation")
	unlogged := newAttestation(p.ID, "unlogged")
	if _, _, err := s.InsertAttestation(ctx, unlogged); err == nil {
		t.Fatal("InsertAttestation without a log index: accepted")
	}
	checkNoAnchor(t, s, p.ID, unlogged.ID, "an attestation without log index")
	counts, err := s.CountAnchors(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "CountAnchors", counts, map[string]int{store.AnchorPending: 1, store.AnchorDone: 0, store.AnchorFailed: 0})
}

// testAnchorConcurrentInserts: of racing inserts of one attestation, one anchor.
func testAnchorConcurrentInserts(t *testing.T, s store.Store) {
	const n = 10
	p := anchoredProject(t, s, "alpha")
	index := nextLogIndex(s)
	created := make(chan store.Attestation, n)
	errs := make(chan error, n)
	runConcurrently(n, func(i int) {
		a := newAttestation(p.ID, "contested")
		a.CreatedAt = at(time.Duration(i) * time.Second)
		a.LogIndex = index
		stored, ok, err := s.InsertAttestation(t.Context(), a)
		if err != nil {
			errs <- err
		} else if ok {
			created <- stored
		}
	})
	close(created)
	close(errs)
	for err := range errs {
		t.Errorf("InsertAttestation: %v", err)
	}
	var winners []store.Attestation
	for a := range created {
		winners = append(winners, a)
	}
	if len(winners) != 1 {
		t.Fatalf("%d inserts created the row, want 1", len(winners))
	}
	checkEqual(t, "the anchor", mustAnchor(t, s, p.ID, winners[0].ID), pendingAnchor(winners[0]))
}

func testGetAnchors(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, q := anchoredProject(t, s, "alpha"), anchoredProject(t, s, "beta")
	var want []store.Anchor
	var ids []string
	for i := range 5 {
		a := mustInsert(t, s, newAttestation(p.ID, fmt.Sprint("get-", i)))
		want = append(want, pendingAnchor(a))
		ids = append(ids, a.ID)
	}
	mustRekor(t, s, p.ID, "", nil)
	plain := mustInsert(t, s, newAttestation(p.ID, "no anchor"))
	theirs := mustInsert(t, s, newAttestation(q.ID, "theirs"))
	slices.SortFunc(want, func(a, b store.Anchor) int { return strings.Compare(a.AttestationID, b.AttestationID) })

	ask := append([]string{plain.ID, theirs.ID, ids[3], sha256Hex([]byte("nothing"))}, ids...)
	got, err := s.GetAnchors(ctx, p.ID, ask)
	if err != nil {
		t.Fatalf("GetAnchors: %v", err)
	}
	checkEqual(t, "GetAnchors", normAnchors(got), normAnchors(want))
	if got, err := s.GetAnchors(ctx, p.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("GetAnchors of no ids = %v, %v", got, err)
	}
	if got, err := s.GetAnchors(ctx, q.ID, ids); err != nil || len(got) != 0 {
		t.Errorf("GetAnchors of another project's ids = %v, %v; want none", got, err)
	}
	// The bound is GetAttestations'.
	many := make([]string, store.MaxGetAttestations)
	for i := range many {
		many[i] = ids[i%len(ids)]
	}
	if got, err := s.GetAnchors(ctx, p.ID, many); err != nil || len(got) != len(ids) {
		t.Errorf("GetAnchors of %d ids = %d anchors, %v; want %d", len(many), len(got), err, len(ids))
	}
	if _, err := s.GetAnchors(ctx, p.ID, append(many, ids[0])); err == nil {
		t.Errorf("GetAnchors of %d ids: accepted", len(many)+1)
	}
}

func testDueAnchors(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, q := anchoredProject(t, s, "alpha"), anchoredProject(t, s, "beta")
	insert := func(projectID int64, label string, created time.Duration) store.Attestation {
		a := newAttestation(projectID, label)
		a.CreatedAt = at(created)
		return mustInsert(t, s, a)
	}
	a3 := insert(p.ID, "a", 3*time.Minute)
	b1 := insert(p.ID, "b", time.Minute)
	c2 := insert(p.ID, "c", 2*time.Minute)
	d1 := insert(q.ID, "d", time.Minute) // ties with b1: the project decides, p first
	e5 := insert(p.ID, "e", 5*time.Minute)
	due := func(now time.Time, limit int) []string {
		t.Helper()
		list, err := s.DueAnchors(ctx, now, limit)
		if err != nil {
			t.Fatalf("DueAnchors(%v, %d): %v", now, limit, err)
		}
		var out []string
		for _, a := range list {
			if a.State != store.AnchorPending {
				t.Errorf("DueAnchors returned a %s anchor", a.State)
			}
			out = append(out, a.AttestationID[:8])
		}
		return out
	}
	short := func(list ...store.Attestation) []string {
		var out []string
		for _, a := range list {
			out = append(out, a.ID[:8])
		}
		return out
	}
	checkEqual(t, "DueAnchors before any is due", due(at(time.Minute-time.Microsecond), 10), short())
	checkEqual(t, "DueAnchors at 2m (inclusive)", due(at(2*time.Minute), 10), short(b1, d1, c2))
	checkEqual(t, "DueAnchors at 10m", due(at(10*time.Minute), 10), short(b1, d1, c2, a3, e5))
	checkEqual(t, "DueAnchors at 10m, limit 2", due(at(10*time.Minute), 2), short(b1, d1))
	checkEqual(t, "DueAnchors at 10m, no limit (the default page)", due(at(10*time.Minute), 0), short(b1, d1, c2, a3, e5))

	// A retry moves an anchor back in the queue; done and failed anchors leave it.
	if err := s.RecordAnchorAttempt(ctx, p.ID, b1.ID, at(4*time.Minute), "unavailable", false); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteAnchor(ctx, p.ID, c2.ID, []byte(`{"uuid":"c"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAnchorAttempt(ctx, p.ID, a3.ID, at(time.Hour), "refused", true); err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "DueAnchors at 3m after the updates", due(at(3*time.Minute), 10), short(d1))
	checkEqual(t, "DueAnchors at 10m after the updates", due(at(10*time.Minute), 10), short(d1, b1, e5))
	checkEqual(t, "DueAnchors far ahead", due(at(1000*time.Hour), 10), short(d1, b1, e5))
}
