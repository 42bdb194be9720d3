package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// fakeVerifier answers Verify: allowed for the digest in allow, denied with a reason otherwise, and
// UNAVAILABLE-like refusals for the digest in refuse.
type fakeVerifier struct {
	attestdv1.UnimplementedVerifyServiceServer
	mu     sync.Mutex
	last   *attestdv1.VerifyRequest
	allow  string
	refuse string
}

func (f *fakeVerifier) Verify(ctx context.Context, req *attestdv1.VerifyRequest) (*attestdv1.VerifyResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.last = req
	f.mu.Unlock()
	d := &attestdv1.Decision{LayoutName: "release", LayoutVersion: 3, PolicyName: "all", DecidedAt: fakeTime,
		Steps: []*attestdv1.DecisionStep{{Name: "build", AttestationIds: []string{"b1"}}, {Name: "package"}}}
	switch req.GetDigest() {
	case f.allow:
		d.Allowed = true
		d.Steps[1].AttestationIds = []string{"p1"}
	case f.refuse:
		return nil, status.Error(codes.ResourceExhausted, "too many candidate attestations")
	default:
		d.Steps[1].Reasons = []string{`step "package" has no attestation`}
		d.Reasons = d.Steps[1].Reasons
	}
	return &attestdv1.VerifyResponse{Decision: d}, nil
}

func (f *fakeVerifier) request() *attestdv1.VerifyRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func startFakeVerifier(t *testing.T, f *fakeVerifier) []string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	attestdv1.RegisterVerifyServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return []string{"--server", lis.Addr().String(), "--plaintext", "--token", "good"}
}

func TestVerifyFileExitCodes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll(filepath.Join(dir, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dist", "app.tar"), []byte("app"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeVerifier{allow: "sha256:" + sha256Hex("app"), refuse: "sha256:" + sha256Hex("refused")}
	srv := startFakeVerifier(t, f)

	out, errOut, code := attest(t, append(srv, "verify", "file", "./dist/app.tar")...)
	if code != 0 || !strings.Contains(out, "ALLOWED") || !strings.Contains(out, "layout release version 3") ||
		!strings.Contains(out, "step build: b1") {
		t.Fatalf("allowed: code %d\n%s%s", code, out, errOut)
	}
	if r := f.request(); r.GetKind() != "file" || r.GetName() != "dist/app.tar" || r.GetDigest() != f.allow {
		t.Fatalf("sent %v", r)
	}

	if err := os.WriteFile(filepath.Join(dir, "dist", "app.tar"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = attest(t, append(srv, "verify", "file", "--name", "release/app.tar", "dist/app.tar")...)
	if code != 1 || !strings.Contains(out, "DENIED") || !strings.Contains(out, `- step "package" has no attestation`) {
		t.Fatalf("denied: code %d\n%s", code, out)
	}
	if f.request().GetName() != "release/app.tar" {
		t.Fatalf("--name not sent: %v", f.request())
	}

	out, _, code = attest(t, append(srv, "--json", "verify", "file", "dist/app.tar")...)
	var d map[string]any
	if code != 1 || json.Unmarshal([]byte(out), &d) != nil || d["layoutName"] != "release" {
		t.Fatalf("--json: code %d\n%s", code, out)
	}

	for _, args := range [][]string{
		{"verify", "file", "missing.tar"},
		{"verify", "file", "../app.tar"},
		{"verify", "file", "/etc/hostname"},
		{"verify", "package", "pkg:deb/acme/app"},
		{"verify", "package", "pkg:deb/acme/app", "--digest", "sha1:abc"},
		{"verify", "package", "dist/app.tar", "--digest", f.allow},
		{"verify", "image", "Not A Ref"},
	} {
		if _, errOut, code := attest(t, append(srv, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	// A refusal by the server is no decision: exit 2.
	if _, errOut, code := attest(t, append(srv, "verify", "package", "pkg:deb/acme/app@1.0", "--digest", f.refuse)...); code != 2 ||
		!strings.Contains(errOut, "RESOURCE_EXHAUSTED") {
		t.Fatalf("refused: exit %d, %s", code, errOut)
	}
	if r := f.request(); r.GetKind() != "package" || r.GetName() != "pkg:deb/acme/app@1.0" {
		t.Fatalf("sent %v", r)
	}
	if _, _, code := attest(t, append(srv, "verify", "package", "dist/app.tar")...); code != 1 || f.request().GetName() != "app.tar" {
		t.Fatalf("package file: exit %d, sent %v", code, f.request())
	}
}

// TestVerifyImageResolution resolves tags through a real registry (go-containerregistry's, on loopback) and
// through an OCI layout on disk.
func TestVerifyImageResolution(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(host + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}

	repo, digest, err := resolveImage(t.Context(), host+"/team/app:v1", "")
	if err != nil || repo != host+"/team/app" || digest != want.String() {
		t.Fatalf("registry: %q %q %v, want %s", repo, digest, err, want)
	}
	if _, _, err := resolveImage(t.Context(), host+"/team/app:nope", ""); err == nil {
		t.Fatal("an unknown tag resolved")
	}
	other := "sha256:" + sha256Hex("other")
	if repo, digest, err := resolveImage(t.Context(), host+"/team/app@"+other, ""); err != nil || digest != other || repo != host+"/team/app" {
		t.Fatalf("digest ref: %q %q %v", repo, digest, err)
	}

	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	repo, digest, err = resolveImage(t.Context(), "registry.example.com/team/app:v1", dir)
	if err != nil || repo != "registry.example.com/team/app" || digest != want.String() {
		t.Fatalf("OCI layout: %q %q %v", repo, digest, err)
	}
	if _, _, err := resolveImage(t.Context(), "registry.example.com/team/app:v2", dir); err == nil {
		t.Fatal("an unknown tag resolved in the OCI layout")
	}

	// Through the command: the repository and the resolved digest reach attestd.
	f := &fakeVerifier{allow: want.String()}
	srv := startFakeVerifier(t, f)
	out, errOut, code := attest(t, append(srv, "verify", "image", host+"/team/app:v1")...)
	if code != 0 || f.request().GetName() != host+"/team/app" || f.request().GetKind() != "image" {
		t.Fatalf("verify image: exit %d, sent %v\n%s%s", code, f.request(), out, errOut)
	}
	if _, _, code := attest(t, append(srv, "verify", "image", "--oci-layout", dir, "registry.example.com/team/app:v1")...); code != 0 ||
		f.request().GetName() != "registry.example.com/team/app" {
		t.Fatalf("verify image --oci-layout: exit %d, sent %v", code, f.request())
	}
}
