package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// copyTests cover the methods that copy an installation whole (attestd backup, restore, migrate-data).
var copyTests = []test{
	{name: "CreateProjectAt", run: testCreateProjectAt},
	{name: "BootstrapTokenID", run: testBootstrapTokenID},
	{name: "ScanDecisions", run: testScanDecisions},
	{name: "InsertAnchor", run: testInsertAnchor},
}

func testCreateProjectAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	created := at(-48*time.Hour + 7*time.Microsecond)
	p, err := s.CreateProjectAt(ctx, "old", created)
	if err != nil {
		t.Fatalf("CreateProjectAt: %v", err)
	}
	want := store.Project{ID: p.ID, Name: "old", CreatedAt: created}
	checkEqual(t, "CreateProjectAt returned", normProject(p), want)
	got, err := s.ProjectByName(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "ProjectByName", normProject(got), want)

	before := time.Now().Add(-time.Second)
	now, err := s.CreateProjectAt(ctx, "new", time.Time{})
	if err != nil {
		t.Fatalf("CreateProjectAt without time: %v", err)
	}
	if now.CreatedAt.Before(before) || now.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreateProjectAt with the zero time: created at %v, want about now", now.CreatedAt)
	}
	if now.ID == p.ID {
		t.Errorf("two projects got id %d", p.ID)
	}
	if _, err := s.CreateProjectAt(ctx, "old", created); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateProjectAt of a taken name: %v, want ErrAlreadyExists", err)
	}
}

func testBootstrapTokenID(t *testing.T, s store.Store) {
	ctx := t.Context()
	if id, err := s.BootstrapTokenID(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BootstrapTokenID before any bootstrap = %q, %v; want ErrNotFound", id, err)
	}
	// A server-admin token created otherwise is not the bootstrap token.
	mustToken(t, s, newToken(0, "other", baseTime))
	if id, err := s.BootstrapTokenID(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("BootstrapTokenID without bootstrap = %q, %v; want ErrNotFound", id, err)
	}
	first := newToken(0, "first", at(time.Second))
	if ok, err := s.Bootstrap(ctx, first); err != nil || !ok {
		t.Fatalf("Bootstrap = %v, %v", ok, err)
	}
	if ok, err := s.Bootstrap(ctx, newToken(0, "second", at(2*time.Second))); err != nil || ok {
		t.Fatalf("second Bootstrap = %v, %v; want false", ok, err)
	}
	id, err := s.BootstrapTokenID(ctx)
	if err != nil || id != first.ID {
		t.Fatalf("BootstrapTokenID = %q, %v; want %q", id, err, first.ID)
	}
}

func testScanDecisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.ScanDecisions(ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("ScanDecisions of no decisions = %v, %v", got, err)
	}
	a, b := mustProject(t, s, "dec-a"), mustProject(t, s, "dec-b")
	var want []store.Decision
	for i := range 7 {
		p := a
		if i%3 == 1 {
			p = b
		}
		d := newDecision(p.ID, "file-"+string(rune('a'+i)), i%2 == 0, "reason "+string(rune('a'+i)))
		d.DecidedAt = at(time.Duration(i) * time.Minute)
		want = append(want, mustDecision(t, s, d))
	}
	all, err := s.ScanDecisions(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "ScanDecisions(0, 0)", normDecisions(all), normDecisions(want))

	var paged []store.Decision
	after := int64(0)
	for range len(want) + 1 {
		page, err := s.ScanDecisions(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("ScanDecisions(%d, 3) returned %d decisions", after, len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	checkEqual(t, "ScanDecisions paged by 3", normDecisions(paged), normDecisions(want))

	rest, err := s.ScanDecisions(ctx, want[4].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "ScanDecisions after the fifth", normDecisions(rest), normDecisions(want[5:]))
}

func normDecisions(list []store.Decision) []store.Decision {
	out := make([]store.Decision, len(list))
	for i, d := range list {
		out[i] = normDecision(d)
	}
	return out
}

// testInsertAnchor: a copied anchor is stored as it is, in every state, whatever the project's settings.
func testInsertAnchor(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	var want []store.Anchor
	for i, a := range []store.Anchor{
		{State: store.AnchorPending, Attempts: 0, NextAttemptAt: at(time.Minute)},
		{State: store.AnchorPending, Attempts: 4, NextAttemptAt: at(time.Hour + 3*time.Microsecond), LastError: "rekor: timeout"},
		{State: store.AnchorDone, Attempts: 2, NextAttemptAt: at(time.Minute), LastError: "unavailable", Entry: []byte(`{"uuid":"x"}`)},
		{State: store.AnchorFailed, Attempts: 1, NextAttemptAt: at(2 * time.Minute), LastError: "rejected"},
	} {
		att := mustInsert(t, s, newAttestation(p.ID, fmt.Sprint("copied-", i)))
		a.ProjectID, a.AttestationID = p.ID, att.ID
		a.CreatedAt, a.UpdatedAt = at(-time.Hour), at(time.Duration(i)*time.Second+time.Microsecond)
		if err := s.InsertAnchor(ctx, a); err != nil {
			t.Fatalf("InsertAnchor(%s): %v", a.State, err)
		}
		checkEqual(t, "GetAnchor of a copied "+a.State+" anchor", mustAnchor(t, s, p.ID, a.AttestationID), normAnchor(a))
		want = append(want, normAnchor(a))
		if err := s.InsertAnchor(ctx, a); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("InsertAnchor of an anchor that is there: %v, want ErrAlreadyExists", err)
		}
	}
	base := want[0]
	if err := s.InsertAnchor(ctx, store.Anchor{ProjectID: p.ID, AttestationID: sha256Hex([]byte("none")),
		State: store.AnchorPending, NextAttemptAt: at(0)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InsertAnchor of a missing attestation: %v, want ErrNotFound", err)
	}
	other := mustProject(t, s, "beta")
	if err := s.InsertAnchor(ctx, store.Anchor{ProjectID: other.ID, AttestationID: base.AttestationID,
		State: store.AnchorPending, NextAttemptAt: at(0)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InsertAnchor in another project's attestation: %v, want ErrNotFound", err)
	}
	fresh := mustInsert(t, s, newAttestation(p.ID, "fresh"))
	for name, mod := range map[string]func(a *store.Anchor){
		"an unknown state":           func(a *store.Anchor) { a.State = "lost" },
		"negative attempts":          func(a *store.Anchor) { a.Attempts = -1 },
		"done without entry":         func(a *store.Anchor) { a.State = store.AnchorDone },
		"pending with an entry":      func(a *store.Anchor) { a.Entry = []byte("{}") },
		"an error over the bound":    func(a *store.Anchor) { a.LastError = strings.Repeat("e", store.MaxAnchorError+1) },
		"an error that is not UTF-8": func(a *store.Anchor) { a.LastError = "\xff" },
		"an entry over the bound": func(a *store.Anchor) {
			a.State, a.Entry = store.AnchorDone, make([]byte, store.MaxAnchorEntry+1)
		},
	} {
		a := store.Anchor{ProjectID: p.ID, AttestationID: fresh.ID, State: store.AnchorPending, NextAttemptAt: at(0)}
		mod(&a)
		checkPlainError(t, "InsertAnchor with "+name, s.InsertAnchor(ctx, a))
	}
	checkNoAnchor(t, s, p.ID, fresh.ID, "an attestation whose copied anchors were refused")
	var ids []string
	for _, a := range want {
		ids = append(ids, a.AttestationID)
	}
	got, err := s.GetAnchors(ctx, p.ID, ids)
	if err != nil || len(got) != len(want) {
		t.Fatalf("GetAnchors of the copies = %d, %v", len(got), err)
	}
}
