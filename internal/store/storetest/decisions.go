package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var decisionTests = []test{
	{name: "AddAndList", run: testDecisionAddAndList},
	{name: "Paging", run: testDecisionPaging},
	{name: "Isolation", run: testDecisionIsolation},
}

func newDecision(projectID int64, name string, allowed bool, reasons ...string) store.Decision {
	return store.Decision{
		ProjectID:     projectID,
		RequesterID:   "tok-verifier",
		Kind:          "file",
		Name:          name,
		Digest:        "sha256:" + digest(name),
		Policy:        "files",
		Layout:        "release",
		LayoutVersion: 3,
		Allowed:       allowed,
		Reasons:       reasons,
		DecidedAt:     at(5 * time.Minute),
	}
}

func mustDecision(t *testing.T, s store.Store, d store.Decision) store.Decision {
	t.Helper()
	got, err := s.AddDecision(t.Context(), d)
	if err != nil {
		t.Fatalf("AddDecision(%s): %v", d.Name, err)
	}
	return got
}

func normDecision(d store.Decision) store.Decision {
	d.DecidedAt = d.DecidedAt.UTC()
	if len(d.Reasons) == 0 {
		d.Reasons = nil
	}
	return d
}

func testDecisionAddAndList(t *testing.T, s store.Store) {
	p := mustProject(t, s, "dec")
	allowed := newDecision(p.ID, "etc/app.conf", true)
	denied := newDecision(p.ID, "etc/other.conf", false, `step "test" has no attestation`, "the layout expired on 2030-01-01T00:00:00Z")
	a := mustDecision(t, s, allowed)
	b := mustDecision(t, s, denied)
	if b.ID <= a.ID {
		t.Fatalf("ids not increasing: %d then %d", a.ID, b.ID)
	}
	allowed.ID, denied.ID = a.ID, b.ID
	if !reflect.DeepEqual(normDecision(a), normDecision(allowed)) {
		t.Errorf("AddDecision returned %+v, want %+v", a, allowed)
	}
	list, err := s.ListDecisions(t.Context(), p.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListDecisions: %d decisions, want 2", len(list))
	}
	if !reflect.DeepEqual(normDecision(list[0]), normDecision(denied)) || !reflect.DeepEqual(normDecision(list[1]), normDecision(allowed)) {
		t.Errorf("ListDecisions = %+v, want newest first %+v, %+v", list, denied, allowed)
	}
	if _, err := s.AddDecision(t.Context(), newDecision(p.ID+1000, "x", true)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddDecision for an unknown project: %v, want ErrNotFound", err)
	}
}

func testDecisionPaging(t *testing.T, s store.Store) {
	p := mustProject(t, s, "dec-page")
	var ids []int64
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ids = append(ids, mustDecision(t, s, newDecision(p.ID, n, true)).ID)
	}
	page, err := s.ListDecisions(t.Context(), p.ID, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
		t.Fatalf("first page = %v, want ids %d, %d", page, ids[4], ids[3])
	}
	page, err = s.ListDecisions(t.Context(), p.ID, page[1].ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].ID != ids[2] || page[2].ID != ids[0] {
		t.Fatalf("second page = %v, want ids %d..%d", page, ids[2], ids[0])
	}
}

func testDecisionIsolation(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "dec-one")
	p2 := mustProject(t, s, "dec-two")
	mustDecision(t, s, newDecision(p1.ID, "a", true))
	list, err := s.ListDecisions(t.Context(), p2.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("project two sees %d decisions of project one", len(list))
	}
}
