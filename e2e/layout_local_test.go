package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestLayoutMadeByAttest: a layout written by attest layout new and signed by attest layout sign, in both
// formats, is accepted by layout push with the real binaries; signed by a key that is not an owner's, refused;
// on each backend.
func TestLayoutMadeByAttest(t *testing.T) { onEachBackend(t, layoutMadeByAttest) }

func layoutMadeByAttest(t *testing.T, db backend) {
	_, _, pa := startShopOn(t, db)

	pa.ok("keygen", "--out", "owner.pem", "--type", "ecdsa-p384")
	pa.ok("keygen", "--out", "build.pem")
	pa.ok("keygen", "--out", "test.pem", "--type", "ecdsa-p256")
	ownerID := strings.TrimSpace(pa.ok("--plaintext", "key", "add", "--pub", "owner.pem.pub", "--owner"))
	if shown := pa.ok("key", "show", "--pub", "owner.pem.pub"); !strings.Contains(shown, `"keyid": "`+ownerID+`"`) {
		t.Fatalf("key show does not print the registered key id %s:\n%s", ownerID, shown)
	}

	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	pa.ok("layout", "new", "--step", "build:build.pem.pub", "--step", "test:build.pem.pub,test.pem.pub:2",
		"--expires", expires, "--out", "release.json")
	pa.ok("layout", "sign", "--key", "owner.pem", "--in", "release.json", "--out", "release.dsse")
	pa.ok("layout", "sign", "--key", "owner.pem", "--in", "release.json", "--out", "release.mb", "--format", "metablock")
	pa.ok("layout", "sign", "--key", "build.pem", "--in", "release.json", "--out", "release.bad")

	if out := pa.ok("--plaintext", "layout", "push", "--name", "release", "release.dsse"); !strings.Contains(out, "version 1") ||
		!strings.Contains(out, ownerID) {
		t.Fatalf("push the DSSE layout: %s", out)
	}
	if out := pa.ok("--plaintext", "layout", "push", "--name", "release", "release.mb"); !strings.Contains(out, "version 2") {
		t.Fatalf("push the metablock layout: %s", out)
	}
	r := pa.run("--plaintext", "layout", "push", "--name", "release", "release.bad")
	if r.code != 1 || !strings.Contains(r.stderr, "not signed by a layout-owner key") {
		t.Fatalf("layout signed by a functionary key: exit %d\n%s", r.code, r.stderr)
	}
}
