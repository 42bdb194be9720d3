package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
)

func (e *env) policies() attestdv1.PolicyServiceClient {
	return attestdv1.NewPolicyServiceClient(e.conn)
}

// pushTestLayout pushes a layout named name, signed by owner (a registered layout-owner key of the project).
func (e *env) pushTestLayout(t *testing.T, adminSecret, name string, owner, fn *intotoKey) {
	t.Helper()
	l := testLayout(e.clock.Now().Add(24*time.Hour), fn)
	l.Readme = name // distinct bytes per name
	if _, err := e.push(adminSecret, name, signLayout(t, l, owner)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) setPolicy(secret, name, kind, match, layout string) (*attestdv1.Policy, error) {
	resp, err := e.policies().SetPolicy(as(secret), &attestdv1.SetPolicyRequest{Name: name, Kind: kind, Match: match, Layout: layout})
	return resp.GetPolicy(), err
}

func (e *env) listPolicies(secret, kind string) []*attestdv1.Policy {
	e.t.Helper()
	resp, err := e.policies().ListPolicies(as(secret), &attestdv1.ListPoliciesRequest{Kind: kind})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GetPolicies()
}

func policyNames(ps []*attestdv1.Policy) string {
	var names []string
	for _, p := range ps {
		names = append(names, p.GetName())
	}
	return strings.Join(names, ",")
}

func TestPolicySetListDelete(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	e.pushTestLayout(t, tok["admin"], "config", owner, fn)

	got, err := e.setPolicy(tok["admin"], "web", "image", "registry.example.com/team/*", "release")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetProject() != "alpha" || got.GetName() != "web" || got.GetKind() != "image" ||
		got.GetMatch() != "registry.example.com/team/*" || got.GetLayout() != "release" || got.GetSetter() == "" ||
		!got.GetCreateTime().AsTime().Equal(got.GetUpdateTime().AsTime()) {
		t.Fatalf("set policy %v", got)
	}
	if _, err := e.setPolicy(tok["admin"], "etc", "file", "etc/*.conf", "config"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.setPolicy(tok["admin"], "debs", "package", "pkg:deb/acme/*", "release"); err != nil {
		t.Fatal(err)
	}
	if names := policyNames(e.listPolicies(tok["reader"], "")); names != "debs,etc,web" {
		t.Fatalf("policies %s, want debs,etc,web", names)
	}
	if names := policyNames(e.listPolicies(tok["verifier"], "file")); names != "etc" {
		t.Fatalf("file policies %s, want etc", names)
	}

	// Setting the name again replaces it and keeps its creation time.
	e.clock.Advance(time.Minute)
	repl, err := e.setPolicy(tok["admin"], "web", "image", "registry.example.com/team/app-*", "config")
	if err != nil {
		t.Fatal(err)
	}
	if repl.GetMatch() != "registry.example.com/team/app-*" || repl.GetLayout() != "config" ||
		!repl.GetCreateTime().AsTime().Equal(got.GetCreateTime().AsTime()) ||
		!repl.GetUpdateTime().AsTime().After(got.GetUpdateTime().AsTime()) {
		t.Fatalf("replaced policy %v (was %v)", repl, got)
	}
	if list := e.listPolicies(tok["attestor"], "image"); len(list) != 1 || list[0].GetLayout() != "config" {
		t.Fatalf("image policies after replace %v", list)
	}

	if _, err := e.policies().DeletePolicy(as(tok["admin"]), &attestdv1.DeletePolicyRequest{Name: "etc"}); err != nil {
		t.Fatal(err)
	}
	if names := policyNames(e.listPolicies(tok["reader"], "")); names != "debs,web" {
		t.Fatalf("policies after delete %s, want debs,web", names)
	}
	_, err = e.policies().DeletePolicy(as(tok["admin"]), &attestdv1.DeletePolicyRequest{Name: "etc"})
	wantCode(t, err, codes.NotFound, `policy "etc" not found in project "alpha"`)
}

// TestPolicyRefusals: every refusal of SetPolicy, with its code, storing nothing.
func TestPolicyRefusals(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	cases := []struct {
		name, policy, kind, match, layout string
		code                              codes.Code
		fragments                         []string
	}{
		{"bad kind", "p", "binary", "x", "release", codes.InvalidArgument, []string{`kind "binary"`, "image, file, package"}},
		{"empty kind", "p", "", "x", "release", codes.InvalidArgument, []string{"kind"}},
		{"bad name", "../p", "file", "x", "release", codes.InvalidArgument, []string{"policy name"}},
		{"empty pattern", "p", "file", "", "release", codes.InvalidArgument, []string{"match", "empty"}},
		{"malformed pattern", "p", "file", "etc/[", "release", codes.InvalidArgument, []string{"match", "malformed pattern"}},
		{"absolute file pattern", "p", "file", "/etc/*", "release", codes.InvalidArgument, []string{"match", "absolute"}},
		{"dot-dot file pattern", "p", "file", "etc/../*", "release", codes.InvalidArgument, []string{"match", `".."`}},
		{"image pattern with tag", "p", "image", "registry.example.com/team/app:1.0", "release", codes.InvalidArgument, []string{"match", "tag"}},
		{"image pattern with digest", "p", "image", "registry.example.com/team/app@sha256:00", "release", codes.InvalidArgument, []string{"match", "digest"}},
		{"image pattern upper case", "p", "image", "registry.example.com/Team/*", "release", codes.InvalidArgument, []string{"lower case"}},
		{"purl without type", "p", "package", "pkg:", "release", codes.InvalidArgument, []string{"package type"}},
		{"pattern too long", "p", "file", strings.Repeat("a", 1025), "release", codes.ResourceExhausted, []string{"max-pattern-bytes"}},
		{"unknown layout", "p", "file", "x", "staging", codes.NotFound, []string{`layout "staging" not found in project "alpha"`}},
		{"bad layout name", "p", "file", "x", "../release", codes.InvalidArgument, []string{"layout name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.setPolicy(tok["admin"], c.policy, c.kind, c.match, c.layout)
			wantCode(t, err, c.code, c.fragments...)
		})
	}
	_, err := e.policies().ListPolicies(as(tok["reader"]), &attestdv1.ListPoliciesRequest{Kind: "binary"})
	wantCode(t, err, codes.InvalidArgument, `kind "binary"`)
	if list := e.listPolicies(tok["reader"], ""); len(list) != 0 {
		t.Fatalf("refused sets stored %v", list)
	}
	// The same request with a good pattern passes: the refusals were for their reasons.
	if _, err := e.setPolicy(tok["admin"], "p", "file", "etc/*", "release"); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyTenancy: only admins set and delete; another project's policies and layouts do not exist.
func TestPolicyTenancy(t *testing.T) {
	e := newEnv(t, testLimits())
	alpha, beta := e.project("alpha"), e.project("beta")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(alpha["admin"], owner)
	e.pushTestLayout(t, alpha["admin"], "release", owner, fn)
	if _, err := e.setPolicy(alpha["admin"], "web", "image", "registry.example.com/team/*", "release"); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"attestor", "reader", "verifier"} {
		_, err := e.setPolicy(alpha[role], "web", "image", "x/*", "release")
		wantCode(t, err, codes.PermissionDenied, "may not set policies")
		_, err = e.policies().DeletePolicy(as(alpha[role]), &attestdv1.DeletePolicyRequest{Name: "web"})
		wantCode(t, err, codes.PermissionDenied, "may not delete policies")
	}
	// beta's tokens: alpha does not exist for them, nor do its layouts and policies.
	_, err := e.policies().SetPolicy(as(beta["admin"]), &attestdv1.SetPolicyRequest{Project: "alpha", Name: "web", Kind: "file", Match: "x", Layout: "release"})
	wantCode(t, err, codes.NotFound, `project "alpha" not found`)
	_, err = e.policies().ListPolicies(as(beta["reader"]), &attestdv1.ListPoliciesRequest{Project: "alpha"})
	wantCode(t, err, codes.NotFound, `project "alpha" not found`)
	_, err = e.policies().DeletePolicy(as(beta["admin"]), &attestdv1.DeletePolicyRequest{Project: "alpha", Name: "web"})
	wantCode(t, err, codes.NotFound, `project "alpha" not found`)
	_, err = e.setPolicy(beta["admin"], "web", "image", "x/*", "release")
	wantCode(t, err, codes.NotFound, `layout "release" not found in project "beta"`)
	_, err = e.policies().DeletePolicy(as(beta["admin"]), &attestdv1.DeletePolicyRequest{Name: "web"})
	wantCode(t, err, codes.NotFound, `policy "web" not found in project "beta"`)
	if list := e.listPolicies(beta["reader"], ""); len(list) != 0 {
		t.Fatalf("beta sees %v", list)
	}
	// A server admin names the project.
	resp, err := e.policies().ListPolicies(as(e.admin), &attestdv1.ListPoliciesRequest{Project: "alpha"})
	if err != nil || policyNames(resp.GetPolicies()) != "web" {
		t.Fatalf("server admin's list: %v, %v", resp.GetPolicies(), err)
	}
	if list := e.listPolicies(alpha["reader"], ""); len(list) != 1 {
		t.Fatalf("alpha's policies after beta's attempts: %v", list)
	}
}

// TestPolicyTooMany: a project holds at most store.MaxPoliciesPerProject policies; replacing one at the limit
// is fine.
func TestPolicyTooMany(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	ctx := context.Background()
	proj, err := e.store.ProjectByName(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	for i := range store.MaxPoliciesPerProject {
		p := store.Policy{ProjectID: proj.ID, Name: fmt.Sprintf("p%04d", i), Kind: "file", Match: fmt.Sprintf("f%d", i), Layout: "release"}
		if _, err := e.store.SetPolicy(ctx, p, store.MaxPoliciesPerProject); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.setPolicy(tok["admin"], "one-more", "file", "x", "release")
	wantCode(t, err, codes.ResourceExhausted, "max-policies-per-project", "1000")
	if _, err := e.setPolicy(tok["admin"], "p0000", "image", "registry.example.com/*", "release"); err != nil {
		t.Fatalf("replacing a policy at the limit: %v", err)
	}
	if _, err := e.policies().DeletePolicy(as(tok["admin"]), &attestdv1.DeletePolicyRequest{Name: "p0001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.setPolicy(tok["admin"], "one-more", "file", "x", "release"); err != nil {
		t.Fatalf("a new policy after a delete: %v", err)
	}
}
