package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/bundle/bundletest"
)

// offlineFixture writes, in a new current directory, the file app.deb, the bundle app.bundle about it (its
// package step attested with product digest product, sha256 hex) and the verifier key verifier.pub.
func offlineFixture(t *testing.T, content, product string) *bundletest.Fixture {
	t.Helper()
	t.Chdir(t.TempDir())
	f := bundletest.New(t, time.Now().Add(-time.Minute))
	f.Attest(t, f.Functionary, "package", map[string]string{"app.deb": product})
	for name, data := range map[string][]byte{
		"app.deb":      []byte(content),
		"app.bundle":   f.Seal(t, f.Bundle(t, "sha256:"+sha256Hex(content))),
		"verifier.pub": f.Verifier.PublicPEM(),
		"log.pub":      []byte(f.LogKey + "\n"),
	} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// unreachable are global flags that point attest at an address where nothing listens, without a token: an
// offline verification must need neither.
func unreachable(t *testing.T) []string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return []string{"--server", addr, "--plaintext"}
}

func TestVerifyOffline(t *testing.T) {
	offlineFixture(t, "deb", sha256Hex("deb"))
	args := append(unreachable(t), "verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub")
	out, errOut, code := attest(t, args...)
	if code != 0 || !strings.HasPrefix(out, "ALLOWED: file app.deb sha256:"+sha256Hex("deb")+"\nlayout release version 1 (policy release)\nstep package: ") ||
		!strings.Contains(errOut, "(offline, from bundle exported at") || !strings.Contains(errOut, "checkpoint size 2") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, _, code = attest(t, append(args, "--json", "--log-key", "log.pub", "--max-age", "1h")...)
	var d map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d["allowed"] != true || d["layoutName"] != "release" {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
}

func TestVerifyOfflineDenied(t *testing.T) {
	offlineFixture(t, "deb", sha256Hex("another deb"))
	out, errOut, code := attest(t, append(unreachable(t), "verify", "file", "app.deb", "--bundle", "app.bundle",
		"--verifier-key", "verifier.pub")...)
	if code != 1 || !strings.HasPrefix(out, "DENIED: file app.deb") || !strings.Contains(out, `but the product "app.deb" of the last step "package" has sha256:`) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestVerifyOfflineNoDecision: bad arguments, keys and bundles exit 2 with a message that says what is wrong.
func TestVerifyOfflineNoDecision(t *testing.T) {
	offlineFixture(t, "deb", sha256Hex("deb"))
	other := bundletest.New(t, time.Now())
	if err := os.WriteFile("other-log.pub", []byte(other.LogKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("other.deb", []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("other-verifier.pub", other.Verifier.PublicPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle"}, "--bundle needs --verifier-key"},
		{[]string{"verify", "file", "app.deb", "--verifier-key", "verifier.pub"}, "go with --bundle"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub", "--vsa", "x"}, "cannot go with --bundle"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub", "--max-age", "-1h"}, "negative"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "missing.pub"}, "verifier key"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "app.deb"}, "verifier key app.deb"},
		{[]string{"verify", "file", "app.deb", "--bundle", "missing.bundle", "--verifier-key", "verifier.pub"}, "bundle"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.deb", "--verifier-key", "verifier.pub"}, "malformed bundle"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "other-verifier.pub"}, "bundle signature does not verify"},
		{[]string{"verify", "file", "other.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub"}, "bundle is about another artifact"},
		{[]string{"verify", "package", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub"}, "bundle is about another artifact"},
		{[]string{"verify", "file", "app.deb", "--project", "other", "--bundle", "app.bundle", "--verifier-key", "verifier.pub"}, "from project"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub", "--log-key", "other-log.pub"}, "bundle names another log key"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub", "--max-age", "1s"}, "bundle too old"},
	} {
		_, errOut, code := attest(t, append(unreachable(t), tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("attest %s: exit %d, want 2 saying %q\n%s", strings.Join(tc.args, " "), code, tc.want, errOut)
		}
	}
}

// fakeExporter answers ExportBundle with a fixed bundle and keeps the request.
type fakeExporter struct {
	attestdv1.UnimplementedVerifyServiceServer
	bundle []byte
	mu     sync.Mutex
	last   *attestdv1.ExportBundleRequest
}

func (f *fakeExporter) ExportBundle(ctx context.Context, req *attestdv1.ExportBundleRequest) (*attestdv1.ExportBundleResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = req
	return &attestdv1.ExportBundleResponse{Bundle: f.bundle}, nil
}

func (f *fakeExporter) request() *attestdv1.ExportBundleRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func TestBundleExport(t *testing.T) {
	offlineFixture(t, "deb", sha256Hex("deb"))
	raw, err := os.ReadFile("app.bundle")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeExporter{bundle: raw}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	attestdv1.RegisterVerifyServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	srv := []string{"--server", lis.Addr().String(), "--plaintext", "--token", "good"}

	out, errOut, code := attest(t, append(srv, "bundle", "export", "--out", "out.bundle", "file", "./app.deb")...)
	if code != 0 || !strings.Contains(out, "wrote out.bundle:") || !strings.Contains(out, "1 attestations") ||
		!strings.Contains(out, "attestd's decision at export: DENIED file app.deb") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if r := f.request(); r.GetKind() != "file" || r.GetName() != "app.deb" || r.GetDigest() != "sha256:"+sha256Hex("deb") {
		t.Fatalf("sent %v", r)
	}
	if got, err := os.ReadFile("out.bundle"); err != nil || string(got) != string(raw) {
		t.Fatalf("written bundle: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(".", "out.bundle")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	digest := "sha256:" + sha256Hex("x")
	out, _, code = attest(t, append(srv, "--json", "bundle", "export", "--out", "pkg.bundle", "--project", "acme",
		"--kind", "package", "--name", "pkg:deb/acme/app", "--digest", digest)...)
	var sum map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &sum) != nil || sum["attestations"] != 1.0 {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	if r := f.request(); r.GetProject() != "acme" || r.GetKind() != "package" || r.GetName() != "pkg:deb/acme/app" || r.GetDigest() != digest {
		t.Fatalf("sent %v", r)
	}
	for _, args := range [][]string{
		{"bundle", "export", "file", "app.deb"},
		{"bundle", "export", "--out", "x", "--kind", "file", "--name", "app.deb"},
		{"bundle", "export", "--out", "x", "--kind", "file", "file", "app.deb"},
		{"bundle", "export", "--out", "x", "car", "app.deb"},
		{"bundle", "export", "--out", "x", "file", "missing.deb"},
		{"bundle", "export", "--out", "x", "package", "pkg:deb/acme/app"},
		{"bundle", "export", "--out", "x", "--kind", "file", "--name", "a", "--digest", "sha1:abc"},
		{"bundle", "export", "--out", "x", "file"},
	} {
		if _, errOut, code := attest(t, append(srv, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}
