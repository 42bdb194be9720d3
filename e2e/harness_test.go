package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for tampering with rows
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for tampering with rows

	"github.com/attestd/attestd/internal/store/dbtest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds attestd and attest once per test process.
func binaries(t *testing.T) (attestd, attest string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "attestd-e2e-bin")
		if buildErr != nil {
			return
		}
		for _, name := range []string{"attestd", "attest"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "../cmd/"+name)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "attestd"), filepath.Join(binDir, "attest")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// backend is a database that attestd runs on. The user journeys run once on each (see onEachBackend); tests
// of crashes and kills, which are slow, run on PostgreSQL alone.
type backend struct {
	name string
	// newDatabase returns the --database-url of a fresh database that only t uses.
	newDatabase func(t *testing.T) string
	// sqlDriver and sqlDSN open the database at a --database-url with database/sql, for tests that change
	// rows behind attestd's back.
	sqlDriver string
	sqlDSN    func(url string) string
}

// postgresBackend is a fresh database on the PostgreSQL server of package dbtest: the test is skipped when
// the server cannot be reached, and fails instead with ATTESTD_REQUIRE_DB=1.
var postgresBackend = backend{
	name:        "postgres",
	newDatabase: func(t *testing.T) string { return dbtest.New(t) },
	sqlDriver:   "pgx",
	sqlDSN:      func(url string) string { return url },
}

// sqliteBackend is a new SQLite file (sqlite:PATH) outside the data directory, so that a test can restart
// attestd on the same database with another data directory, as on PostgreSQL. attestd serve creates the
// file; TestNothingElseInstalled covers the default, <data-dir>/attestd.db.
var sqliteBackend = backend{
	name:        "sqlite",
	newDatabase: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "attestd.db") },
	sqlDriver:   "sqlite",
	sqlDSN: func(url string) string {
		return strings.TrimPrefix(url, "sqlite:") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	},
}

func backends() []backend { return []backend{postgresBackend, sqliteBackend} }

// onEachBackend runs test once per backend, as subtests named after the backends ("postgres", "sqlite"), so
// that -run 'TestVerify/sqlite' picks one.
func onEachBackend(t *testing.T, test func(t *testing.T, db backend)) {
	t.Helper()
	for _, db := range backends() {
		t.Run(db.name, func(t *testing.T) { test(t, db) })
	}
}

// openSQL connects to the database at url (a --database-url of b) with database/sql until the test ends.
func (b backend) openSQL(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open(b.sqlDriver, b.sqlDSN(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("connect to the %s database: %v", b.name, err)
	}
	return db
}

// commandEnv is the environment of the attestd and attest processes: the test's own, without the ATTESTD_
// variables (each is a flag of attestd, and a developer's shell may set some, such as ATTESTD_DATABASE_URL or
// ATTESTD_LOG_FORMAT), plus extra.
func commandEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATTESTD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// daemon is a running attestd process.
type daemon struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	dataDir  string
	logs     *syncBuffer
	exited   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startDaemon starts attestd serve on dbURL with a fresh data dir and waits until it serves. An empty dbURL
// gives no --database-url at all: attestd's embedded default, <data-dir>/attestd.db.
func startDaemon(t *testing.T, dbURL string, env ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, dbURL, t.TempDir(), env...)
}

// startDaemonIn starts attestd serve with dataDir (kept across restarts) and waits until it serves.
func startDaemonIn(t *testing.T, dbURL, dataDir string, env ...string) *daemon {
	t.Helper()
	attestd, _ := binaries(t)
	d := &daemon{dataDir: dataDir, logs: &syncBuffer{}, exited: make(chan error, 1)}
	args := []string{"serve", "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--data-dir", d.dataDir, "--health-interval", "200ms",
		"--checkpoint-interval", "100ms", "--log-batch-age", "10ms", "--watermark-interval", "200ms"}
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	d.cmd = exec.Command(attestd, args...)
	d.cmd.Env = commandEnv(env...)
	pr, pw := io.Pipe()
	d.cmd.Stderr = io.MultiWriter(d.logs, pw)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("attestd logs:\n%s", d.logs.String())
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				GRPC string `json:"grpc"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "attestd serving" {
				d.grpcAddr, d.httpAddr = line.GRPC, line.HTTP
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case err := <-d.exited:
		t.Fatalf("attestd exited before serving: %v\n%s", err, d.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("attestd did not start:\n%s", d.logs.String())
	}
	return d
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("attestd did not die after SIGKILL")
	}
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("attestd did not stop after SIGTERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *daemon) adminToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// result is what one attest command did.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs attest in dir against d with token.
type cli struct {
	t     *testing.T
	d     *daemon
	dir   string
	token string
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	_, attest := binaries(c.t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, attest, args...)
	cmd.Dir = c.dir
	cmd.Env = commandEnv("ATTEST_SERVER="+c.d.grpcAddr, "ATTEST_TOKEN="+c.token,
		"ATTEST_CONFIG_DIR="+filepath.Join(c.dir, ".attest-config"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.t.Fatalf("attest %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs attest and fails the test unless it exits 0; it returns stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("attest %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// startShop is startShopOn PostgreSQL, for the tests that run on PostgreSQL alone.
func startShop(t *testing.T) (d *daemon, admin, shopAdmin *cli) {
	t.Helper()
	return startShopOn(t, postgresBackend)
}

// startShopOn starts attestd on a fresh database of db with the project "shop", and returns the daemon, a CLI
// holding the server-admin token and one holding a shop admin token, both working in one temporary directory.
func startShopOn(t *testing.T, db backend) (d *daemon, admin, shopAdmin *cli) {
	t.Helper()
	d = startDaemon(t, db.newDatabase(t))
	dir := t.TempDir()
	admin = &cli{t: t, d: d, dir: dir, token: d.adminToken(t)}
	admin.ok("--plaintext", "project", "create", "shop")
	shopAdmin = &cli{t: t, d: d, dir: dir}
	shopAdmin.token = strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", "shop", "--role", "admin"))
	return d, admin, shopAdmin
}
