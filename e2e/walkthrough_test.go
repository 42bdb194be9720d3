package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/tlog"
)

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestWalkthrough is the README's five minutes, command by command, on each backend.
func TestWalkthrough(t *testing.T) { onEachBackend(t, walkthrough) }

func walkthrough(t *testing.T, db backend) {
	d := startDaemon(t, db.newDatabase(t))
	dir := t.TempDir()
	admin := &cli{t: t, d: d, dir: dir, token: d.adminToken(t)}

	resp, err := http.Get("http://" + d.httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}

	admin.ok("--plaintext", "project", "create", "shop")
	projectAdmin := &cli{t: t, d: d, dir: dir}
	projectAdmin.token = strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", "shop", "--role", "admin"))
	if projectAdmin.token == "" || strings.Contains(projectAdmin.token, " ") {
		t.Fatalf("token create printed %q, want the secret alone", projectAdmin.token)
	}
	projectAdmin.ok("keygen", "--out", "ci.pem")
	if fi, err := os.Stat(filepath.Join(dir, "ci.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ci.pem: %v %v", fi, err)
	}
	projectAdmin.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")
	runner := &cli{t: t, d: d, dir: dir}
	runner.token = strings.TrimSpace(projectAdmin.ok("--plaintext", "token", "create", "--role", "attestor", "--steps", "build,test"))

	runner.ok("--plaintext", "run", "--step", "build", "--key", "ci.pem", "--products", "out.txt", "--", "sh", "-c", "echo hi > out.txt")
	envelopePath := filepath.Join(dir, "build.intoto.json")
	id := fileSHA(t, envelopePath)
	digest := fileSHA(t, filepath.Join(dir, "out.txt"))

	out := projectAdmin.ok("--plaintext", "get", "--digest", "sha256:"+digest, "--json")
	if !strings.Contains(out, id) {
		t.Fatalf("attest get --json does not show attestation %s:\n%s", id, out)
	}
	// Resubmitting the file returns the same id and stores nothing new.
	out = runner.ok("--plaintext", "submit", "build.intoto.json")
	if !strings.Contains(out, id) {
		t.Fatalf("resubmission printed %q, want id %s", out, id)
	}
	out = projectAdmin.ok("--plaintext", "get", "--digest", "sha256:"+digest, "--json")
	if strings.Count(out, id) != 1 {
		t.Fatalf("after resubmission the attestation is listed %d times:\n%s", strings.Count(out, id), out)
	}

	// The log: the key from attestd log-key verifies the checkpoint served over HTTP, and the CLI verifies the
	// inclusion proof of the envelope file against it.
	attestdBin, _ := binaries(t)
	keyOut, err := exec.Command(attestdBin, "log-key", "--data-dir", d.dataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(string(keyOut))
	// The log publishes checkpoints on its own schedule (every 200 ms by default): a client that wants the one
	// covering its leaf asks again, as this does, for a few seconds at most.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cpResp, err := http.Get("http://" + d.httpAddr + "/log/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		cpRaw, _ := io.ReadAll(cpResp.Body)
		cpResp.Body.Close()
		cp, err := tlog.VerifyCheckpoint(cpRaw, vkey)
		if err != nil {
			t.Fatalf("/log/checkpoint with the key from attestd log-key: %v\n%s", err, cpRaw)
		}
		if cp.Size >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/log/checkpoint still covers no leaf after 10 s:\n%s", cpRaw)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "log.pub"), []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = runner.ok("--plaintext", "--log-key", "log.pub", "submit", "--wait", "build.intoto.json")
	if !strings.Contains(out, "verified in log") {
		t.Fatalf("submit --wait did not verify the inclusion proof:\n%s", out)
	}
	out = projectAdmin.ok("--plaintext", "--log-key", "log.pub", "log", "verify")
	if !strings.Contains(out, "consistent") && !strings.Contains(out, "remembered") {
		t.Fatalf("attest log verify: %s", out)
	}

	// The runner may not record a step its token does not allow; nothing new appears.
	r := runner.run("--plaintext", "run", "--step", "deploy", "--key", "ci.pem", "--products", "out.txt", "--", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "PermissionDenied") && !strings.Contains(r.stderr, "PERMISSION_DENIED") {
		t.Fatalf("deploy step: exit %d, stderr %q", r.code, r.stderr)
	}

	// A second project sees nothing of the first.
	admin.ok("--plaintext", "project", "create", "other")
	other := &cli{t: t, d: d, dir: dir}
	other.token = strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", "other", "--role", "reader"))
	out = other.ok("--plaintext", "get", "--digest", "sha256:"+digest, "--json")
	if strings.Contains(out, id) {
		t.Fatalf("project other sees shop's attestation:\n%s", out)
	}
	r = other.run("--plaintext", "get", "--project", "shop", "--digest", "sha256:"+digest)
	if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "not found") {
		t.Fatalf("other reading shop: exit %d, stderr %q", r.code, r.stderr)
	}

	if code := d.stop(t); code != 0 {
		t.Fatalf("attestd exited %d after SIGTERM", code)
	}
}

// TestBootstrapTokenFromEnvironment: ATTESTD_BOOTSTRAP_TOKEN becomes the server-admin token, no file is written,
// and a restart on the same database does not bootstrap again; on each backend.
func TestBootstrapTokenFromEnvironment(t *testing.T) { onEachBackend(t, bootstrapFromEnvironment) }

func bootstrapFromEnvironment(t *testing.T, db backend) {
	url := db.newDatabase(t)
	d := startDaemon(t, url, "ATTESTD_BOOTSTRAP_TOKEN=attd_bootstrap-secret-for-tests")
	if _, err := os.Stat(filepath.Join(d.dataDir, "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("admin.token written although ATTESTD_BOOTSTRAP_TOKEN was set: %v", err)
	}
	c := &cli{t: t, d: d, dir: t.TempDir(), token: "attd_bootstrap-secret-for-tests"}
	c.ok("--plaintext", "project", "create", "p1")
	if code := d.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	d2 := startDaemon(t, url)
	if _, err := os.Stat(filepath.Join(d2.dataDir, "admin.token")); !os.IsNotExist(err) {
		t.Fatalf("second start bootstrapped again: %v", err)
	}
	c.d = d2
	c.ok("--plaintext", "project", "create", "p2")
	bad := &cli{t: t, d: d2, dir: c.dir, token: "attd_wrong"}
	if r := bad.run("--plaintext", "project", "list"); r.code == 0 {
		t.Fatalf("unknown token accepted: %+v", r)
	}
}
