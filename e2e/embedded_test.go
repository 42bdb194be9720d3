package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNothingElseInstalled is the README's set-up and five minutes with nothing but the two binaries: attestd
// serve with a data directory and no --database-url (and no ATTESTD_DATABASE_URL: the harness passes no
// ATTESTD_ variable of its own environment on) keeps everything in <data-dir>/attestd.db. The walkthrough's
// record and query work, a restart finds the attestation again, and attestd audit with the data directory
// alone finds the database and the log in agreement.
func TestNothingElseInstalled(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "attestd-data") // attestd creates it
	d := startDaemonIn(t, "", dataDir)
	dbFile := filepath.Join(dataDir, "attestd.db")
	if backend, where := databaseLogLine(t, d); backend != "sqlite" || where != dbFile {
		t.Fatalf("attestd serve without --database-url uses the %s database %q, want sqlite %q", backend, where, dbFile)
	}
	if fi, err := os.Stat(dbFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want a file of mode 0600", dbFile, fi, err)
	}

	dir := t.TempDir()
	admin := &cli{t: t, d: d, dir: dir, token: d.adminToken(t)}
	attestdBin, _ := binaries(t)
	logKey := exec.Command(attestdBin, "log-key", "--data-dir", dataDir)
	logKey.Env = commandEnv()
	vkey, err := logKey.Output()
	if err != nil {
		t.Fatalf("attestd log-key: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.pub"), vkey, 0o644); err != nil {
		t.Fatal(err)
	}
	admin.ok("--plaintext", "log", "pin", "--log-key", "log.pub")
	admin.ok("--plaintext", "project", "create", "shop")
	shopAdmin := &cli{t: t, d: d, dir: dir}
	shopAdmin.token = strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", "shop", "--role", "admin"))
	shopAdmin.ok("keygen", "--out", "ci.pem")
	shopAdmin.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")
	runner := &cli{t: t, d: d, dir: dir}
	runner.token = strings.TrimSpace(shopAdmin.ok("--plaintext", "token", "create", "--role", "attestor", "--steps", "build,test"))

	r := runner.run("--plaintext", "run", "--wait", "--step", "build", "--key", "ci.pem", "--products", "out.txt", "--",
		"sh", "-c", "echo hi > out.txt")
	if r.code != 0 || !strings.Contains(r.stderr, "verified in log attestd.local/log at size 1") {
		t.Fatalf("attest run --wait: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	id := fileSHA(t, filepath.Join(dir, "build.intoto.json"))
	digest := "sha256:" + fileSHA(t, filepath.Join(dir, "out.txt"))
	// The pinned key makes get verify each attestation in the log: the row's last column (LOG) says so.
	out := shopAdmin.ok("--plaintext", "get", "--digest", digest)
	if !slices.ContainsFunc(strings.Split(out, "\n"), func(line string) bool {
		f := strings.Fields(line)
		return slices.Contains(f, id) && f[len(f)-1] == "verified"
	}) {
		t.Fatalf("attest get --digest %s does not show attestation %s verified in the log:\n%s", digest, id, out)
	}
	if out := shopAdmin.ok("--plaintext", "get", "--digest", digest, "--json"); strings.Count(out, id) != 1 {
		t.Fatalf("attest get --json shows attestation %s %d times, want once:\n%s", id, strings.Count(out, id), out)
	}

	// The audit reads the log's files and the database file beside the serving attestd.
	if out, code := runAudit(t, "", dataDir); code != 0 || !strings.Contains(out, "1 leaves") ||
		!strings.Contains(out, "1 rows") || !strings.Contains(out, "clean") {
		t.Fatalf("attestd audit --data-dir beside attestd serve: exit %d\n%s", code, out)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("attestd exited %d after SIGTERM", code)
	}

	// A restart on the data directory alone finds the attestation, and creates no second admin token.
	token, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	d = startDaemonIn(t, "", dataDir)
	if got, err := os.ReadFile(filepath.Join(dataDir, "admin.token")); err != nil || string(got) != string(token) {
		t.Fatalf("admin.token after a restart: %q %v, want it unchanged", got, err)
	}
	shopAdmin.d = d
	if out := shopAdmin.ok("--plaintext", "get", "--digest", digest, "--json"); strings.Count(out, id) != 1 {
		t.Fatalf("after a restart attest get --json shows attestation %s %d times, want once:\n%s", id, strings.Count(out, id), out)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("attestd exited %d after SIGTERM", code)
	}
	if out, code := runAudit(t, "", dataDir); code != 0 || !strings.Contains(out, "clean") {
		t.Fatalf("attestd audit --data-dir: exit %d\n%s", code, out)
	}
}

// databaseLogLine returns the backend and place of the database that attestd's "database" log line names.
func databaseLogLine(t *testing.T, d *daemon) (backend, where string) {
	t.Helper()
	for _, raw := range strings.Split(d.logs.String(), "\n") {
		var line struct {
			Msg     string `json:"msg"`
			Backend string `json:"backend"`
			Where   string `json:"where"`
		}
		if json.Unmarshal([]byte(raw), &line) == nil && line.Msg == "database" {
			return line.Backend, line.Where
		}
	}
	t.Fatalf("attestd logged no \"database\" line:\n%s", d.logs.String())
	return "", ""
}
