package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// copyTests cover the methods that copy an installation whole (attestd backup, restore, migrate-data).
var copyTests = []test{
	{name: "CreateProjectAt", run: testCreateProjectAt},
	{name: "BootstrapTokenID", run: testBootstrapTokenID},
	{name: "ScanDecisions", run: testScanDecisions},
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
