package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVerify: a two-step supply chain recorded with attest run, a layout made with layout new and sign, a
// policy, then attest verify file allows the product and, once the file is tampered with, denies it (exit 1);
// on each backend.
func TestVerify(t *testing.T) { onEachBackend(t, verifyJourney) }

func verifyJourney(t *testing.T, db backend) {
	d, _, pa := startShopOn(t, db)
	dir := pa.dir
	verifier := recordDebChain(t, d, pa)

	out := verifier.ok("--plaintext", "verify", "file", "--vsa", "app.vsa.json", "app.deb")
	if !strings.Contains(out, "ALLOWED") || !strings.Contains(out, "layout release version 1") {
		t.Fatalf("verify file app.deb:\n%s", out)
	}
	// The VSA checks offline with the key attestd verifier-key prints.
	attestdBin, _ := binaries(t)
	vkey, err := exec.Command(attestdBin, "verifier-key", "--data-dir", d.dataDir).Output()
	if err != nil {
		t.Fatalf("attestd verifier-key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "verifier.pub"), vkey, 0o644); err != nil {
		t.Fatal(err)
	}
	deb, err := os.ReadFile(filepath.Join(dir, "app.deb"))
	if err != nil {
		t.Fatal(err)
	}
	debDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(deb))
	offline := &cli{t: t, d: d, dir: dir}
	if out := offline.ok("verify", "vsa", "--digest", debDigest, "--verifier-key", "verifier.pub", "--name", "app.deb",
		"--max-age", "1h", "app.vsa.json"); !strings.Contains(out, "PASSED") {
		t.Fatalf("attest verify vsa:\n%s", out)
	}

	if err := os.WriteFile(filepath.Join(dir, "app.deb"), []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := verifier.run("--plaintext", "verify", "file", "app.deb")
	if r.code != 1 || !strings.Contains(r.stdout, "DENIED") ||
		!strings.Contains(r.stdout, `but the product "app.deb" of the last step "package" has sha256:`) {
		t.Fatalf("verify tampered app.deb: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("denied:\n%s", r.stdout)
	if r := offline.run("verify", "vsa", "--digest", fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("tampered\n"))),
		"--verifier-key", "verifier.pub", "app.vsa.json"); r.code != 1 || !strings.Contains(r.stderr, "no subject has digest") {
		t.Fatalf("attest verify vsa for the tampered file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Recorded: the project admin lists both decisions, newest first.
	list := pa.ok("--plaintext", "decisions")
	if i, j := strings.Index(list, "denied"), strings.Index(list, "allowed"); i < 0 || j < 0 || i > j {
		t.Fatalf("attest decisions:\n%s", list)
	}
}

// addRules sets the expected materials and products of the steps of the layout JSON at path.
func addRules(t *testing.T, path string, rules map[string][2][][]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l map[string]any
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	for _, s := range l["steps"].([]any) {
		step := s.(map[string]any)
		r := rules[step["name"].(string)]
		step["expected_materials"], step["expected_products"] = r[0], r[1]
	}
	if b, err = json.MarshalIndent(l, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordDebChain records build -> app.tar -> package -> app.deb in pa's directory with a CI key, pushes the
// layout "release" over the two steps (signed by an owner key) and the policy "debs" binding *.deb files to it,
// and returns a CLI holding a verifier token of the project.
func recordDebChain(t *testing.T, d *daemon, pa *cli) (verifier *cli) {
	t.Helper()
	dir := pa.dir
	runner := &cli{t: t, d: d, dir: dir}
	runner.token = strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "attestor"))
	verifier = &cli{t: t, d: d, dir: dir}
	verifier.token = strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "verifier"))

	pa.ok("keygen", "--out", "owner.pem")
	pa.ok("keygen", "--out", "ci.pem")
	pa.ok("--plaintext", "key", "add", "--pub", "owner.pem.pub", "--owner")
	pa.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")

	runner.ok("--plaintext", "run", "--wait", "--step", "build", "--key", "ci.pem", "--products", "app.tar", "--",
		"sh", "-c", "echo app > app.tar")
	runner.ok("--plaintext", "run", "--wait", "--step", "package", "--key", "ci.pem", "--materials", "app.tar",
		"--products", "app.deb", "--", "sh", "-c", "cat app.tar > app.deb && echo deb >> app.deb")

	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	pa.ok("layout", "new", "--step", "build:ci.pem.pub", "--step", "package:ci.pem.pub", "--expires", expires,
		"--out", "release.json")
	addRules(t, filepath.Join(dir, "release.json"), map[string][2][][]string{
		"build": {{{"DISALLOW", "*"}}, {{"CREATE", "app.tar"}, {"DISALLOW", "*"}}},
		"package": {{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
			{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}},
	})
	pa.ok("layout", "sign", "--key", "owner.pem", "--in", "release.json", "--out", "release.dsse")
	pa.ok("--plaintext", "layout", "push", "--name", "release", "release.dsse")
	pa.ok("--plaintext", "policy", "set", "--name", "debs", "--kind", "file", "--match", "*.deb", "--layout", "release")
	return verifier
}
