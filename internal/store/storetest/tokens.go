package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var tokenTests = []test{
	{name: "CreateAndLookup", run: testTokenCreateAndLookup},
	{name: "Duplicate", run: testTokenDuplicate},
	{name: "NotFound", run: testTokenNotFound},
	{name: "ListPerProject", run: testTokenList},
	{name: "Revoke", run: testTokenRevoke},
	{name: "RevokeElsewhere", run: testTokenRevokeElsewhere},
}

var bootstrapTests = []test{
	{name: "Once", run: testBootstrapOnce},
	{name: "Concurrent", run: testBootstrapConcurrent},
}

// newToken is a token of projectID named by label (a server-admin token for project 0).
func newToken(projectID int64, label string, created time.Time) store.Token {
	tok := store.Token{
		ID:          "tok-" + label,
		Hash:        tokenHash(label),
		ProjectID:   projectID,
		Role:        store.RoleReader,
		Description: "token " + label,
		CreatedAt:   created,
	}
	if projectID == 0 {
		tok.Role = store.RoleServerAdmin
	}
	return tok
}

func mustToken(t *testing.T, s store.Store, tok store.Token) store.Token {
	t.Helper()
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken(%s): %v", tok.ID, err)
	}
	return tok
}

func testTokenCreateAndLookup(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	attestor := newToken(p.ID, "ci", at(time.Second+123*time.Microsecond))
	attestor.Role = store.RoleAttestor
	attestor.Steps = []string{"build", "test"}
	admin := newToken(0, "root", baseTime)
	plain := newToken(p.ID, "plain", baseTime)
	plain.Description = ""
	for _, want := range []store.Token{attestor, admin, plain} {
		mustToken(t, s, want)
		got, err := s.TokenByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("TokenByHash(%s): %v", want.ID, err)
		}
		checkEqual(t, "TokenByHash("+want.ID+")", normToken(got), normToken(want))
	}
}

func testTokenDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	tok := mustToken(t, s, newToken(p.ID, "a", baseTime))

	sameID := newToken(p.ID, "b", baseTime)
	sameID.ID = tok.ID
	if err := s.CreateToken(ctx, sameID); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateToken with a taken id: err = %v, want ErrAlreadyExists", err)
	}
	sameHash := newToken(p.ID, "c", baseTime)
	sameHash.Hash = tok.Hash
	if err := s.CreateToken(ctx, sameHash); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateToken with a taken hash: err = %v, want ErrAlreadyExists", err)
	}
	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "the first token after the duplicates", normToken(got), normToken(tok))
	if _, err := s.TokenByHash(ctx, sameID.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused token was stored: err = %v, want ErrNotFound", err)
	}
}

func testTokenNotFound(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustToken(t, s, newToken(p.ID, "a", baseTime))
	if _, err := s.TokenByHash(t.Context(), tokenHash("unknown")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash(unknown): err = %v, want ErrNotFound", err)
	}
}

func testTokenList(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	// Created out of order: the list is by creation time, not insertion order.
	late := mustToken(t, s, newToken(p1.ID, "late", at(2*time.Hour)))
	early := mustToken(t, s, newToken(p1.ID, "early", at(time.Hour)))
	middle := mustToken(t, s, newToken(p1.ID, "middle", at(time.Hour+time.Microsecond)))
	other := mustToken(t, s, newToken(p2.ID, "other", baseTime))
	admin := mustToken(t, s, newToken(0, "root", baseTime))

	for _, tc := range []struct {
		project int64
		want    []store.Token
	}{
		{p1.ID, []store.Token{early, middle, late}},
		{p2.ID, []store.Token{other}},
		{0, []store.Token{admin}},
		{p2.ID + 1000, nil},
	} {
		got, err := s.ListTokens(ctx, tc.project)
		if err != nil {
			t.Fatalf("ListTokens(%d): %v", tc.project, err)
		}
		checkEqual(t, fmt.Sprintf("ListTokens(%d)", tc.project), normTokens(got), normTokens(tc.want))
	}
}

func normTokens(list []store.Token) []store.Token {
	var out []store.Token
	for _, tok := range list {
		out = append(out, normToken(tok))
	}
	return out
}

func testTokenRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	tok := mustToken(t, s, newToken(p.ID, "a", baseTime))
	keep := mustToken(t, s, newToken(p.ID, "b", at(time.Second)))
	admin := mustToken(t, s, newToken(0, "root", baseTime))

	revokedAt := at(time.Hour + 7*time.Microsecond)
	if err := s.RevokeToken(ctx, p.ID, tok.ID, revokedAt); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if err := s.RevokeToken(ctx, 0, admin.ID, revokedAt); err != nil {
		t.Fatalf("RevokeToken of a server-admin token: %v", err)
	}
	tok.RevokedAt = timePtr(revokedAt)
	admin.RevokedAt = timePtr(revokedAt)

	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("TokenByHash of a revoked token: %v (revoked tokens are still found)", err)
	}
	checkEqual(t, "revoked token", normToken(got), normToken(tok))
	list, err := s.ListTokens(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "ListTokens after revoking", normTokens(list), normTokens([]store.Token{tok, keep}))
	got, err = s.TokenByHash(ctx, admin.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "revoked server-admin token", normToken(got), normToken(admin))
}

// testTokenRevokeElsewhere: a token is revoked only through its own project, like every other row.
func testTokenRevokeElsewhere(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	tok := mustToken(t, s, newToken(p1.ID, "a", baseTime))
	admin := mustToken(t, s, newToken(0, "root", baseTime))

	for _, tc := range []struct {
		project int64
		id      string
	}{
		{p2.ID, tok.ID},     // another project's token
		{0, tok.ID},         // a project token through "no project"
		{p1.ID, admin.ID},   // a server-admin token through a project
		{p1.ID, "tok-none"}, // no such token
	} {
		err := s.RevokeToken(ctx, tc.project, tc.id, at(time.Hour))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeToken(%d, %s): err = %v, want ErrNotFound", tc.project, tc.id, err)
		}
	}
	for _, want := range []store.Token{tok, admin} {
		got, err := s.TokenByHash(ctx, want.Hash)
		if err != nil {
			t.Fatal(err)
		}
		checkEqual(t, "token after the refused revocations", normToken(got), normToken(want))
	}
}

func testBootstrapOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := newToken(0, "first", baseTime)
	ok, err := s.Bootstrap(ctx, first)
	if err != nil || !ok {
		t.Fatalf("first Bootstrap = %v, %v; want true", ok, err)
	}
	got, err := s.TokenByHash(ctx, first.Hash)
	if err != nil {
		t.Fatalf("TokenByHash of the bootstrap token: %v", err)
	}
	checkEqual(t, "bootstrap token", normToken(got), normToken(first))

	second := newToken(0, "second", baseTime)
	ok, err = s.Bootstrap(ctx, second)
	if err != nil || ok {
		t.Fatalf("second Bootstrap = %v, %v; want false", ok, err)
	}
	if _, err := s.TokenByHash(ctx, second.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the second bootstrap stored its token: err = %v, want ErrNotFound", err)
	}
	list, err := s.ListTokens(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "server-admin tokens", normTokens(list), normTokens([]store.Token{first}))
}

func testBootstrapConcurrent(t *testing.T, s store.Store) {
	const n = 20
	ctx := t.Context()
	won := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			won[i], errs[i] = s.Bootstrap(ctx, newToken(0, fmt.Sprint("racer-", i), baseTime))
		})
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Bootstrap %d: %v", i, errs[i])
		}
		if won[i] {
			if winner >= 0 {
				t.Errorf("Bootstrap returned true to %d and %d", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent Bootstrap returned true")
	}
	list, err := s.ListTokens(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := newToken(0, fmt.Sprint("racer-", winner), baseTime)
	checkEqual(t, "server-admin tokens", normTokens(list), normTokens([]store.Token{want}))
}
