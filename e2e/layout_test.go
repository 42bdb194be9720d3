package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
)

// writeSignedLayout writes a one-step layout for the functionary public key fnPub, signed with the owner
// private key ownerPriv as in-toto-golang signs it, to dir/out.
func writeSignedLayout(t *testing.T, dir, ownerPriv, fnPub, readme, out string) {
	t.Helper()
	var owner, fn in_toto.Key
	if err := owner.LoadKeyDefaults(filepath.Join(dir, ownerPriv)); err != nil {
		t.Fatal(err)
	}
	if err := fn.LoadKeyDefaults(filepath.Join(dir, fnPub)); err != nil {
		t.Fatal(err)
	}
	step := in_toto.Step{Type: "step", Threshold: 1, PubKeys: []string{fn.KeyID}, ExpectedCommand: []string{"make"}}
	step.Name, step.ExpectedProducts = "build", [][]string{{"CREATE", "app.tar"}, {"DISALLOW", "*"}}
	l := in_toto.Layout{Type: "layout", Readme: readme, Keys: map[string]in_toto.Key{fn.KeyID: fn}, Steps: []in_toto.Step{step},
		Expires: time.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema)}
	mb := in_toto.Metablock{Signed: l}
	if err := mb.Sign(owner); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, out), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLayouts: owner keys, then layout push, list and get with the real binaries; a functionary key cannot
// sign a layout and a superseded layout cannot be pushed again; on each backend.
func TestLayouts(t *testing.T) { onEachBackend(t, layouts) }

func layouts(t *testing.T, db backend) {
	_, _, pa := startShopOn(t, db)
	dir := pa.dir

	pa.ok("keygen", "--out", "owner.pem")
	pa.ok("keygen", "--out", "ci.pem")
	ownerID := strings.TrimSpace(pa.ok("--plaintext", "key", "add", "--pub", "owner.pem.pub", "--owner"))
	ciID := strings.TrimSpace(pa.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub"))
	keys := pa.ok("--plaintext", "key", "list")
	if !strings.Contains(keys, "OWNER") {
		t.Fatalf("key list has no OWNER column:\n%s", keys)
	}
	for _, line := range strings.Split(keys, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && (f[0] == ownerID && f[2] != "yes" || f[0] == ciID && f[2] != "no") {
			t.Fatalf("key list:\n%s", keys)
		}
	}

	writeSignedLayout(t, dir, "owner.pem", "ci.pem.pub", "one", "v1.layout")
	writeSignedLayout(t, dir, "owner.pem", "ci.pem.pub", "two", "v2.layout")
	writeSignedLayout(t, dir, "ci.pem", "ci.pem.pub", "bad", "bad.layout")

	if out := pa.ok("--plaintext", "layout", "push", "--name", "release", "v1.layout"); !strings.Contains(out, "version 1") {
		t.Fatalf("push v1: %s", out)
	}
	if out := pa.ok("--plaintext", "layout", "push", "v2.layout", "--name", "release"); !strings.Contains(out, "version 2") {
		t.Fatalf("push v2: %s", out)
	}
	r := pa.run("--plaintext", "layout", "push", "--name", "release", "v1.layout")
	if r.code != 1 || !strings.Contains(r.stderr, "FailedPrecondition") && !strings.Contains(r.stderr, "FAILED_PRECONDITION") ||
		!strings.Contains(r.stderr, "already pushed as version 1") {
		t.Fatalf("replayed layout: exit %d\n%s", r.code, r.stderr)
	}
	r = pa.run("--plaintext", "layout", "push", "--name", "release", "bad.layout")
	if r.code != 1 || !strings.Contains(r.stderr, "not signed by a layout-owner key") {
		t.Fatalf("layout signed by a functionary: exit %d\n%s", r.code, r.stderr)
	}

	list := pa.ok("--plaintext", "layout", "list", "--name", "release")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "release") || strings.Fields(lines[1])[1] != "2" ||
		strings.Fields(lines[1])[2] != "yes" || strings.Fields(lines[2])[1] != "1" || !strings.Contains(lines[2], ownerID) {
		t.Fatalf("layout list:\n%s", list)
	}
	pa.ok("--plaintext", "layout", "get", "--name", "release", "--version", "1", "--out", "got.layout")
	want, _ := os.ReadFile(filepath.Join(dir, "v1.layout"))
	if got, _ := os.ReadFile(filepath.Join(dir, "got.layout")); !bytes.Equal(got, want) {
		t.Fatal("layout get --version 1 did not return the pushed bytes")
	}
	want, _ = os.ReadFile(filepath.Join(dir, "v2.layout"))
	if got := pa.ok("--plaintext", "layout", "get", "--name", "release"); got != string(want) {
		t.Fatal("layout get did not print the active layout's bytes")
	}
}
