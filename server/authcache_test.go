package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/server"
)

// TestAuthCache: with the token cache on, what changes through this attestd applies from the caller's next
// request (token revoked, key revoked, key added); what changes behind its back (another replica, a direct
// write) is not seen while the TTL runs, which shows that the cache is used; a server without the cache sees
// it at once; requests with unknown tokens cannot empty the cache.
func TestAuthCache(t *testing.T) {
	ctx := t.Context()
	e := newEnvWith(t, server.Config{Limits: testLimits(), AuthCacheTTL: time.Hour})
	a := e.project("alpha")
	s := newSigner(t)
	e.addKey(a["admin"], s)
	submit := func(secret string, step string, s *signer) error {
		t.Helper()
		_, err := e.atts().Submit(as(secret), &attestdv1.SubmitRequest{
			Envelope: envelope(inTotoPayloadType, statement(step, step+".out"), s)})
		return err
	}
	if err := submit(a["attestor"], "one", s); err != nil {
		t.Fatal(err)
	}

	// A key revoked through the API: the next submission signed by it is refused.
	if _, err := e.keys().RevokeKey(as(a["admin"]), &attestdv1.RevokeKeyRequest{KeyId: s.id}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, submit(a["attestor"], "two", s), codes.PermissionDenied)
	// A key added through the API: the next submission signed by it is taken.
	s2 := newSigner(t)
	e.addKey(a["admin"], s2)
	if err := submit(a["attestor"], "three", s2); err != nil {
		t.Fatalf("a key added through attestd, used at once: %v", err)
	}

	// A token revoked through the API: its next request is refused.
	reader, err := e.tokens().CreateToken(as(a["admin"]), &attestdv1.CreateTokenRequest{Role: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	list := func(secret string) error {
		_, err := e.atts().List(as(secret), &attestdv1.ListRequest{})
		return err
	}
	if err := list(reader.GetSecret()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens().RevokeToken(as(a["admin"]), &attestdv1.RevokeTokenRequest{Id: reader.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, list(reader.GetSecret()), codes.Unauthenticated, "revoked")

	// Behind attestd's back: the token stays good for the TTL, in this server; a server without the cache
	// refuses it at once.
	if err := list(a["reader"]); err != nil {
		t.Fatal(err)
	}
	tokens, err := e.tokens().ListTokens(as(a["admin"]), &attestdv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := list(a["reader"]); err != nil { // ListTokens emptied the cache: the reader's token is read again
		t.Fatal(err)
	}
	var readerID string
	for _, tok := range tokens.GetTokens() {
		if tok.GetRole() == "reader" && tok.GetRevokeTime() == nil {
			readerID = tok.GetId()
		}
	}
	p, err := e.store.ProjectByName(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeToken(ctx, p.ID, readerID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := list(a["reader"]); err != nil {
		t.Errorf("a token revoked behind attestd's back, within the TTL: %v, want it still taken (cached)", err)
	}
	// Requests with unknown tokens, even to methods that change things, do not empty the cache.
	_, err = e.tokens().RevokeToken(as("no-such-token"), &attestdv1.RevokeTokenRequest{Id: readerID})
	wantCode(t, err, codes.Unauthenticated)
	if err := list(a["reader"]); err != nil {
		t.Errorf("after a request with an unknown token: %v, want the cached token still taken", err)
	}
	uncached := server.New(server.Config{Store: e.store, Log: e.log, Limits: testLimits()})
	if _, err := uncached.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = attestdv1.NewAttestationServiceClient(serve(t, uncached)).List(as(a["reader"]), &attestdv1.ListRequest{})
	wantCode(t, err, codes.Unauthenticated, "revoked")
	// Any change through this attestd (here, a new token) empties the cache: the revocation is seen.
	if _, err := e.tokens().CreateToken(as(a["admin"]), &attestdv1.CreateTokenRequest{Role: "reader"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, list(a["reader"]), codes.Unauthenticated, "revoked")
}
