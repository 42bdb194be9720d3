// Package rekortest points tests at the real Rekor that scripts/rekor.sh runs on loopback.
package rekortest

import (
	"os"
	"testing"
)

// The environment of the tests against a real Rekor (bash scripts/rekor.sh up).
const (
	EnvURL     = "ATTESTD_REKOR_URL"     // http://127.0.0.1:PORT
	EnvRequire = "ATTESTD_REQUIRE_REKOR" // "1": a missing Rekor fails the tests instead of skipping them
)

// URL returns the URL of the real Rekor, or skips t when there is none; under ATTESTD_REQUIRE_REKOR=1 (as in
// CI) it fails t instead.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s is not set: run bash scripts/rekor.sh up", EnvRequire, EnvURL)
		}
		t.Skipf("%s is not set: run bash scripts/rekor.sh up to test against a real Rekor", EnvURL)
	}
	return u
}
