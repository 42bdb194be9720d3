package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOfflineBundle: a supply chain recorded with attest run; attest bundle export writes the bundles of an
// allowed and of a denied artifact; then, with attestd stopped, attest verify file --bundle gives the answers
// and the output that the online verification gave (exit 0, then 1), and refuses (exit 2) a bundle about
// another artifact, one older than --max-age, and a bundle without --verifier-key.
func TestOfflineBundle(t *testing.T) {
	d, _, pa := startShop(t)
	dir := pa.dir
	verifier := recordDebChain(t, d, pa)
	if err := os.WriteFile(filepath.Join(dir, "other.deb"), []byte("not built here\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	allowed := verifier.ok("--plaintext", "verify", "file", "app.deb")
	denied := verifier.run("--plaintext", "verify", "file", "other.deb")
	if denied.code != 1 {
		t.Fatalf("online verify of other.deb: exit %d\n%s%s", denied.code, denied.stdout, denied.stderr)
	}
	out := verifier.ok("--plaintext", "bundle", "export", "--out", "app.bundle", "file", "app.deb")
	if !strings.Contains(out, "wrote app.bundle") || !strings.Contains(out, "ALLOWED file app.deb") {
		t.Fatalf("bundle export app.deb:\n%s", out)
	}
	if out := verifier.ok("--plaintext", "bundle", "export", "--out", "other.bundle", "file", "other.deb"); !strings.Contains(out, "DENIED") {
		t.Fatalf("bundle export other.deb:\n%s", out)
	}
	attestdBin, _ := binaries(t)
	vkey, err := exec.Command(attestdBin, "verifier-key", "--data-dir", d.dataDir).Output()
	if err != nil {
		t.Fatalf("attestd verifier-key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "verifier.pub"), vkey, 0o644); err != nil {
		t.Fatal(err)
	}

	// attestd is gone: nothing listens at its address any more.
	if code := d.stop(t); code != 0 {
		t.Fatalf("attestd stop: exit %d", code)
	}
	offline := &cli{t: t, d: d, dir: dir, token: verifier.token}
	r := offline.run("verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub")
	if r.code != 0 || r.stdout != allowed || !strings.Contains(r.stderr, "(offline, from bundle exported at") {
		t.Fatalf("offline verify app.deb: exit %d\nstdout:\n%s\nonline stdout:\n%s\nstderr: %s", r.code, r.stdout, allowed, r.stderr)
	}
	t.Logf("offline:\n%s%s", r.stdout, r.stderr)
	r = offline.run("verify", "file", "other.deb", "--bundle", "other.bundle", "--verifier-key", "verifier.pub")
	if r.code != 1 || r.stdout != denied.stdout {
		t.Fatalf("offline verify other.deb: exit %d\nstdout:\n%s\nonline stdout:\n%s\nstderr: %s", r.code, r.stdout, denied.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "file", "other.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub"}, "bundle is about another artifact"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "verifier.pub", "--max-age", "1ms"}, "bundle too old"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle", "--verifier-key", "owner.pem.pub"}, "bundle signature does not verify"},
		{[]string{"verify", "file", "app.deb", "--bundle", "app.bundle"}, "--bundle needs --verifier-key"},
	} {
		if r := offline.run(tc.args...); r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("attest %s: exit %d, want 2 saying %q\n%s%s", strings.Join(tc.args, " "), r.code, tc.want, r.stdout, r.stderr)
		}
	}
}
