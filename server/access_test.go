package server_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

func TestProjectsAreIsolated(t *testing.T) {
	e := newEnv(t, testLimits())
	a := e.project("alpha")
	b := e.project("beta")
	s := newSigner(t)
	e.addKey(a["admin"], s)
	env := envelope(inTotoPayloadType, statement("build", "out.txt"), s)
	resp, err := e.atts().Submit(as(a["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetReceipt().GetId()

	// beta's tokens see nothing of alpha, and learn nothing of its existence.
	_, err = e.atts().Get(as(b["reader"]), &attestdv1.GetRequest{Id: id})
	wantCode(t, err, codes.NotFound)
	_, err = e.atts().Get(as(b["reader"]), &attestdv1.GetRequest{Project: "alpha", Id: id})
	wantCode(t, err, codes.NotFound, "project")
	_, errMissing := e.atts().Get(as(b["reader"]), &attestdv1.GetRequest{Project: "no-such-project", Id: id})
	wantCode(t, errMissing, codes.NotFound, "project")
	list, err := e.atts().List(as(b["admin"]), &attestdv1.ListRequest{SubjectDigest: "sha256:" + sha("out.txt")})
	if err != nil || len(list.GetAttestations()) != 0 {
		t.Fatalf("beta lists %v, %v", list.GetAttestations(), err)
	}
	_, err = e.keys().ListKeys(as(b["admin"]), &attestdv1.ListKeysRequest{Project: "alpha"})
	wantCode(t, err, codes.NotFound)
	_, err = e.keys().RevokeKey(as(b["admin"]), &attestdv1.RevokeKeyRequest{KeyId: s.id})
	wantCode(t, err, codes.NotFound)
	projs, err := e.projects().ListProjects(as(b["reader"]), &attestdv1.ListProjectsRequest{})
	if err != nil || len(projs.GetProjects()) != 1 || projs.GetProjects()[0].GetName() != "beta" {
		t.Fatalf("beta's reader lists projects %v %v", projs.GetProjects(), err)
	}
	// beta's key is not alpha's: the same envelope is refused in beta.
	_, err = e.atts().Submit(as(b["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	wantCode(t, err, codes.PermissionDenied)
	// Registered in beta too, the same bytes make an independent attestation there.
	e.addKey(b["admin"], s)
	resp, err = e.atts().Submit(as(b["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil || !resp.GetReceipt().GetCreated() || resp.GetReceipt().GetProject() != "beta" {
		t.Fatalf("beta submit: %v %v", resp.GetReceipt(), err)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t, testLimits())
	a := e.project("alpha")
	ctx := as(a["admin"])

	// Project admins manage their own project's tokens, nothing more.
	created, err := e.tokens().CreateToken(ctx, &attestdv1.CreateTokenRequest{Role: "attestor", Steps: []string{"test", "build"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := created.GetToken().GetSteps(); len(got) != 2 || got[0] != "build" {
		t.Fatalf("steps %v", got)
	}
	_, err = e.tokens().CreateToken(ctx, &attestdv1.CreateTokenRequest{Role: "server-admin"})
	wantCode(t, err, codes.PermissionDenied, "server-admin")
	_, err = e.tokens().CreateToken(ctx, &attestdv1.CreateTokenRequest{Role: "root"})
	wantCode(t, err, codes.InvalidArgument, "role")
	_, err = e.tokens().CreateToken(ctx, &attestdv1.CreateTokenRequest{Role: "reader", Steps: []string{"x"}})
	wantCode(t, err, codes.InvalidArgument, "steps")
	_, err = e.tokens().CreateToken(as(a["reader"]), &attestdv1.CreateTokenRequest{Role: "reader"})
	wantCode(t, err, codes.PermissionDenied, "reader")
	_, err = e.projects().CreateProject(ctx, &attestdv1.CreateProjectRequest{Name: "gamma"})
	wantCode(t, err, codes.PermissionDenied)
	_, err = e.projects().CreateProject(as(e.admin), &attestdv1.CreateProjectRequest{Name: "Bad Name"})
	wantCode(t, err, codes.InvalidArgument, "project name")
	_, err = e.projects().CreateProject(as(e.admin), &attestdv1.CreateProjectRequest{Name: "alpha"})
	wantCode(t, err, codes.AlreadyExists)

	// A revoked token is UNAUTHENTICATED from then on.
	secret := created.GetSecret()
	if _, err := e.keys().ListKeys(as(secret), &attestdv1.ListKeysRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens().RevokeToken(ctx, &attestdv1.RevokeTokenRequest{Id: created.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = e.keys().ListKeys(as(secret), &attestdv1.ListKeysRequest{})
	wantCode(t, err, codes.Unauthenticated, "revoked")

	list, err := e.tokens().ListTokens(ctx, &attestdv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, tk := range list.GetTokens() {
		if tk.GetRevokeTime() != nil {
			revoked++
		}
	}
	if len(list.GetTokens()) != 5 || revoked != 1 {
		t.Fatalf("tokens %v", list.GetTokens())
	}

	// The last active server-admin token cannot be revoked: nothing could make another.
	admins, err := e.tokens().ListTokens(as(e.admin), &attestdv1.ListTokensRequest{})
	if err != nil || len(admins.GetTokens()) != 1 {
		t.Fatalf("server-admin tokens: %v %v", admins, err)
	}
	_, err = e.tokens().RevokeToken(as(e.admin), &attestdv1.RevokeTokenRequest{Id: admins.GetTokens()[0].GetId()})
	wantCode(t, err, codes.FailedPrecondition, "last active server-admin")
	second, err := e.tokens().CreateToken(as(e.admin), &attestdv1.CreateTokenRequest{Role: "server-admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens().RevokeToken(as(second.GetSecret()), &attestdv1.RevokeTokenRequest{Id: admins.GetTokens()[0].GetId()}); err != nil {
		t.Fatalf("revoking one of two server-admin tokens: %v", err)
	}

	// No token, or a malformed header.
	_, err = e.keys().ListKeys(context.Background(), &attestdv1.ListKeysRequest{})
	wantCode(t, err, codes.Unauthenticated, "missing")
	_, err = e.keys().ListKeys(as(""), &attestdv1.ListKeysRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

func TestKeys(t *testing.T) {
	e := newEnv(t, testLimits())
	a := e.project("alpha")
	s := newSigner(t)
	resp, err := e.keys().AddKey(as(a["admin"]), &attestdv1.AddKeyRequest{PublicKeyPem: s.pem, Description: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetKey().GetKeyId() != s.id || resp.GetKey().GetScheme() != "ed25519" {
		t.Fatalf("key %v", resp.GetKey())
	}
	_, err = e.keys().AddKey(as(a["admin"]), &attestdv1.AddKeyRequest{PublicKeyPem: s.pem})
	wantCode(t, err, codes.AlreadyExists, s.id)
	_, err = e.keys().AddKey(as(a["attestor"]), &attestdv1.AddKeyRequest{PublicKeyPem: newSigner(t).pem})
	wantCode(t, err, codes.PermissionDenied)
	_, err = e.keys().AddKey(as(a["admin"]), &attestdv1.AddKeyRequest{PublicKeyPem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.keys().RevokeKey(as(a["admin"]), &attestdv1.RevokeKeyRequest{KeyId: "feed"})
	wantCode(t, err, codes.NotFound)
	rk, err := e.keys().RevokeKey(as(a["admin"]), &attestdv1.RevokeKeyRequest{KeyId: s.id})
	if err != nil || rk.GetKey().GetRevokeTime() == nil {
		t.Fatalf("revoke: %v %v", rk, err)
	}
	list, err := e.keys().ListKeys(as(a["reader"]), &attestdv1.ListKeysRequest{})
	if err != nil || len(list.GetKeys()) != 1 || list.GetKeys()[0].GetRevokeTime() == nil {
		t.Fatalf("list: %v %v", list, err)
	}
}
