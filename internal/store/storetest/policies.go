package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var policyTests = []test{
	{name: "SetAndList", run: testPolicySetAndList},
	{name: "Replace", run: testPolicyReplace},
	{name: "Delete", run: testPolicyDelete},
	{name: "UnknownLayout", run: testPolicyUnknownLayout},
	{name: "Limit", run: testPolicyLimit},
	{name: "Isolation", run: testPolicyIsolation},
	{name: "RequireRekor", run: testPolicyRequireRekor},
}

func newPolicy(projectID int64, name, kind, match, layout string) store.Policy {
	return store.Policy{
		ProjectID: projectID,
		Name:      name,
		Kind:      kind,
		Match:     match,
		Layout:    layout,
		SetterID:  "tok-" + name,
		UpdatedAt: at(2 * time.Minute),
	}
}

func mustPolicy(t *testing.T, s store.Store, p store.Policy, max int) store.Policy {
	t.Helper()
	got, err := s.SetPolicy(t.Context(), p, max)
	if err != nil {
		t.Fatalf("SetPolicy(%s): %v", p.Name, err)
	}
	return normPolicy(got)
}

func normPolicy(p store.Policy) store.Policy {
	p.CreatedAt = normTime(p.CreatedAt)
	p.UpdatedAt = normTime(p.UpdatedAt)
	return p
}

func listPolicies(t *testing.T, s store.Store, projectID int64, kind string) []store.Policy {
	t.Helper()
	list, err := s.ListPolicies(t.Context(), projectID, kind)
	if err != nil {
		t.Fatalf("ListPolicies(%d, %q): %v", projectID, kind, err)
	}
	out := []store.Policy{}
	for _, p := range list {
		out = append(out, normPolicy(p))
	}
	return out
}

func testPolicySetAndList(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustLayout(t, s, newLayout(p.ID, "release", "one"))
	mustLayout(t, s, newLayout(p.ID, "config", "one"))
	web := newPolicy(p.ID, "web", "image", "registry.example.com/team/*", "release")
	got := mustPolicy(t, s, web, 10)
	want := web
	want.CreatedAt = web.UpdatedAt
	checkEqual(t, "SetPolicy", got, normPolicy(want))

	etc := mustPolicy(t, s, newPolicy(p.ID, "etc", "file", "etc/*.conf", "config"), 10)
	debs := mustPolicy(t, s, newPolicy(p.ID, "Debs", "package", "pkg:deb/acme/*", "release"), 10)
	// By name, bytewise: upper case first.
	checkEqual(t, "ListPolicies", listPolicies(t, s, p.ID, ""), []store.Policy{debs, etc, got})
	checkEqual(t, "ListPolicies of kind file", listPolicies(t, s, p.ID, "file"), []store.Policy{etc})
	checkEqual(t, "ListPolicies of kind image", listPolicies(t, s, p.ID, "image"), []store.Policy{got})
	if l := listPolicies(t, s, p.ID, "other"); len(l) != 0 {
		t.Errorf("ListPolicies of an unknown kind = %v", l)
	}

	// A zero UpdatedAt is now.
	now := newPolicy(p.ID, "now", "file", "x", "config")
	now.UpdatedAt = time.Time{}
	if got := mustPolicy(t, s, now, 10); got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("SetPolicy with a zero UpdatedAt stored CreatedAt %v, UpdatedAt %v", got.CreatedAt, got.UpdatedAt)
	}
}

// testPolicyReplace: setting an existing name replaces everything but CreatedAt, and the limit does not count it
// as new.
func testPolicyReplace(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustLayout(t, s, newLayout(p.ID, "release", "one"))
	mustLayout(t, s, newLayout(p.ID, "hotfix", "one"))
	first := mustPolicy(t, s, newPolicy(p.ID, "web", "image", "registry.example.com/team/*", "release"), 1)
	repl := newPolicy(p.ID, "web", "package", "pkg:npm/*", "hotfix")
	repl.SetterID = "tok-other"
	repl.UpdatedAt = at(time.Hour)
	got := mustPolicy(t, s, repl, 1) // at the limit: a replacement is not a new policy
	want := repl
	want.CreatedAt = first.CreatedAt
	checkEqual(t, "SetPolicy replacing", got, normPolicy(want))
	checkEqual(t, "ListPolicies after replace", listPolicies(t, s, p.ID, ""), []store.Policy{got})
}

func testPolicyDelete(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustLayout(t, s, newLayout(p.ID, "release", "one"))
	a := mustPolicy(t, s, newPolicy(p.ID, "a", "file", "a/*", "release"), 10)
	mustPolicy(t, s, newPolicy(p.ID, "b", "file", "b/*", "release"), 10)
	if err := s.DeletePolicy(t.Context(), p.ID, "b"); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	checkEqual(t, "ListPolicies after delete", listPolicies(t, s, p.ID, ""), []store.Policy{a})
	if err := s.DeletePolicy(t.Context(), p.ID, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePolicy again: err = %v, want ErrNotFound", err)
	}
	// A deleted name can be set again, as a new policy.
	again := newPolicy(p.ID, "b", "image", "x/*", "release")
	again.UpdatedAt = at(time.Hour)
	if got := mustPolicy(t, s, again, 10); !got.CreatedAt.Equal(normTime(at(time.Hour))) {
		t.Errorf("re-set policy has CreatedAt %v, want %v", got.CreatedAt, at(time.Hour))
	}
}

func testPolicyUnknownLayout(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	if _, err := s.SetPolicy(t.Context(), newPolicy(p.ID, "web", "image", "x/*", "release"), 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPolicy naming a layout never pushed: err = %v, want ErrNotFound", err)
	}
	if _, err := s.SetPolicy(t.Context(), newPolicy(p.ID+1000, "web", "image", "x/*", "release"), 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPolicy in a missing project: err = %v, want ErrNotFound", err)
	}
	if l := listPolicies(t, s, p.ID, ""); len(l) != 0 {
		t.Errorf("refused sets stored %v", l)
	}
}

// testPolicyLimit: a new policy over max is refused, also when the sets are concurrent.
func testPolicyLimit(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustLayout(t, s, newLayout(p.ID, "release", "one"))
	const max = 5
	var wg sync.WaitGroup
	errs := make([]error, 2*max)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.SetPolicy(t.Context(), newPolicy(p.ID, fmt.Sprint("p", i), "file", "x", "release"), max)
		})
	}
	wg.Wait()
	refused := 0
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, store.ErrLimitReached):
			refused++
		default:
			t.Errorf("set %d: %v", i, err)
		}
	}
	if refused != max {
		t.Errorf("%d sets refused, want %d", refused, max)
	}
	if n := len(listPolicies(t, s, p.ID, "")); n != max {
		t.Errorf("%d policies stored, want %d", n, max)
	}
	// Another project has its own count.
	q := mustProject(t, s, "beta")
	mustLayout(t, s, newLayout(q.ID, "release", "one"))
	mustPolicy(t, s, newPolicy(q.ID, "p0", "file", "x", "release"), max)
}

// testPolicyIsolation: another project's policies and layouts are invisible.
func testPolicyIsolation(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	mustLayout(t, s, newLayout(p1.ID, "release", "one"))
	a := mustPolicy(t, s, newPolicy(p1.ID, "web", "image", "x/*", "release"), 10)
	if l := listPolicies(t, s, p2.ID, ""); len(l) != 0 {
		t.Errorf("ListPolicies of beta shows %v", l)
	}
	if err := s.DeletePolicy(t.Context(), p2.ID, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePolicy of alpha's policy in beta: err = %v, want ErrNotFound", err)
	}
	// beta cannot point at alpha's layout.
	if _, err := s.SetPolicy(t.Context(), newPolicy(p2.ID, "web", "image", "y/*", "release"), 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPolicy in beta naming alpha's layout: err = %v, want ErrNotFound", err)
	}
	// The same name in beta is its own policy, and leaves alpha's alone.
	mustLayout(t, s, newLayout(p2.ID, "release", "one"))
	b := mustPolicy(t, s, newPolicy(p2.ID, "web", "file", "y", "release"), 10)
	checkEqual(t, "alpha's policies", listPolicies(t, s, p1.ID, ""), []store.Policy{a})
	checkEqual(t, "beta's policies", listPolicies(t, s, p2.ID, ""), []store.Policy{b})
	if err := s.DeletePolicy(t.Context(), p2.ID, "web"); err != nil {
		t.Fatalf("DeletePolicy in beta: %v", err)
	}
	checkEqual(t, "alpha's policies after beta's delete", listPolicies(t, s, p1.ID, ""), []store.Policy{a})
}

// testPolicyRequireRekor: RequireRekor is stored, replaced like the other fields, and each change raises the
// project's generation.
func testPolicyRequireRekor(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustLayout(t, s, newLayout(p.ID, "release", "one"))
	strict := newPolicy(p.ID, "web", "image", "registry.example.com/*", "release")
	strict.RequireRekor = true
	plain := newPolicy(p.ID, "etc", "file", "etc/*", "release")
	gen := generation(t, s, p.ID)
	for i, want := range []store.Policy{strict, plain, func() store.Policy { r := strict; r.RequireRekor = false; return r }(),
		strict} {
		got := mustPolicy(t, s, want, 10)
		if got.RequireRekor != want.RequireRekor {
			t.Errorf("set %d: SetPolicy(%s, RequireRekor %v) returned RequireRekor %v", i, want.Name, want.RequireRekor, got.RequireRekor)
		}
		if g := generation(t, s, p.ID); g <= gen {
			t.Errorf("set %d: generation %d -> %d, want it to grow", i, gen, g)
		} else {
			gen = g
		}
	}
	list := listPolicies(t, s, p.ID, "")
	if len(list) != 2 || list[0].Name != "etc" || list[0].RequireRekor || !list[1].RequireRekor {
		t.Errorf("ListPolicies = %+v, want etc without and web with RequireRekor", list)
	}
}
