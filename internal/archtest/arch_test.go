package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/attestd/attestd/"

func TestImportDirection(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"attestation", []string{"server", "api/", "internal/", "attestor", "verifier", "cmd/", "google.golang.org/grpc"}},
		{"verifier", []string{"server", "api/", "internal/", "attestor", "cmd/", "google.golang.org/grpc"}},
		{"attestor", []string{"server", "internal/store", "verifier", "cmd/"}},
		{"internal/store/...", []string{"server", "api/", "google.golang.org/grpc", "cmd/"}},
		{"internal/tlog", []string{"server", "api/", "internal/store", "google.golang.org/grpc", "cmd/"}},
		{"internal/dump/...", []string{"server", "api/", "google.golang.org/grpc", "cmd/"}},
		{"internal/rekor", []string{"server", "api/", "internal/store", "internal/tlog", "attestor", "verifier", "cmd/", "google.golang.org/grpc"}},
		{"server", []string{"cmd/"}},
		// Offline bundles are read by the CLI with no attestd: nothing of the server or its database.
		// (It reads api/ messages, whose package pulls in grpc; it never dials.)
		{"bundle", []string{"server", "internal/store", "attestor", "cmd/"}},
		{"server/web", []string{"api/", "internal/", "attestation", "verifier", "cmd/", "google.golang.org/grpc"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "./../../"+r.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", r.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				target := f
				if !strings.Contains(f, ".") {
					target = module + f
				}
				if strings.HasPrefix(dep, target) {
					t.Errorf("%s imports %s, which DESIGN.md forbids", r.pkg, dep)
				}
			}
		}
	}
}
