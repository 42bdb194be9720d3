// Package dbtest gives tests a fresh PostgreSQL database of their own, migrated and empty, in tens of
// milliseconds:
//
//	func TestSomething(t *testing.T) {
//		st, err := postgres.Open(t.Context(), dbtest.New(t))
//		...
//	}
//
// The server is the one at $ATTESTD_TEST_DATABASE_URL (a postgres:// URL of a role that may create
// databases; default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). Once per process, dbtest
// migrates a template database named after a hash of the migration files, attestd_tpl_<hash>; every New
// clones it (CREATE DATABASE ... TEMPLATE) into attestd_test_<random>, dropped again when the test ends. An
// advisory lock keeps parallel `go test` processes from building the same template twice; a template is
// built under another name and renamed when complete, so that a crash never leaves half of one. Databases
// left behind by a killed test are recognizable by their name prefix.
//
// If the server cannot be reached the test is skipped, with the reason, unless ATTESTD_REQUIRE_DB=1, which
// makes it fail: CI sets it so that a missing database cannot pass silently.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/migrations"
)

// Environment variables that configure dbtest.
const (
	EnvURL     = "ATTESTD_TEST_DATABASE_URL"
	EnvRequire = "ATTESTD_REQUIRE_DB"
)

// DefaultURL is the server used when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const (
	testPrefix     = "attestd_test_"
	templatePrefix = "attestd_tpl_"
	// templateLockID is the advisory lock held while a template is checked and built.
	templateLockID = 0x61747465737464 // "attestd"
	opTimeout      = 2 * time.Minute
)

// server is what every New of this process shares, set up by the first one.
var server struct {
	once     sync.Once
	skip     string // why the server cannot be reached; tests are skipped (or fail) with it
	err      error  // the server answered but the template could not be made
	base     *url.URL
	admin    *pgxpool.Pool
	template string
}

// New returns the URL of a new database, migrated and empty, that only this test uses. It is dropped when
// the test and its subtests are over, after the cleanups registered later (such as closing a store) ran.
func New(t testing.TB) string {
	t.Helper()
	admin, base := connect(t)
	name := testPrefix + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	err := withRetry(ctx, func() error {
		_, err := admin.Exec(ctx, `CREATE DATABASE `+quote(name)+` TEMPLATE `+quote(server.template))
		return err
	})
	if err != nil {
		t.Fatalf("dbtest: create database %s from %s: %v", name, server.template, err)
	}
	t.Cleanup(func() { drop(t, admin, name) })
	return databaseURL(base, name)
}

// NewEmpty returns the URL of a new database without any table, not even goose's, for tests of the
// migrations themselves. It is dropped like the databases of New.
func NewEmpty(t testing.TB) string {
	t.Helper()
	admin, base := connect(t)
	name := testPrefix + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+quote(name)+` TEMPLATE template0`); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, admin, name) })
	return databaseURL(base, name)
}

// connect sets up the shared state once, and skips or fails t if that did not work.
func connect(t testing.TB) (*pgxpool.Pool, *url.URL) {
	t.Helper()
	server.once.Do(setup)
	switch {
	case server.skip != "" && os.Getenv(EnvRequire) == "1":
		t.Fatalf("dbtest: %s (%s=1 makes the database mandatory)", server.skip, EnvRequire)
	case server.skip != "":
		t.Skipf("dbtest: %s; set %s to a server, or %s=1 to fail instead of skipping",
			server.skip, EnvURL, EnvRequire)
	case server.err != nil:
		t.Fatalf("dbtest: %v", server.err)
	}
	return server.admin, server.base
}

func setup() {
	raw := os.Getenv(EnvURL)
	if raw == "" {
		raw = DefaultURL
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		server.err = fmt.Errorf("%s must be a postgres:// URL, got %q", EnvURL, raw)
		return
	}
	server.base = base
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()

	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		server.err = fmt.Errorf("parse %s: %w", EnvURL, err)
		return
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		server.skip = fmt.Sprintf("PostgreSQL at %s is not reachable: %v", base.Redacted(), err)
		return
	}
	server.admin = admin // shared until the process exits

	hash, err := MigrationsHash()
	if err != nil {
		server.err = err
		return
	}
	server.template = templatePrefix + hash
	if err := ensureTemplate(ctx, admin, base, server.template); err != nil {
		server.err = fmt.Errorf("template database %s: %w", server.template, err)
	}
}

// MigrationsHash names the schema: a hash of the names and contents of the migration files (16 hex digits).
// Test databases and other caches built from the migrations are named by it.
func MigrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.Postgres, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Postgres, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ensureTemplate builds the template database name unless it exists, holding the advisory lock so that
// concurrent processes build it once. It is migrated under a temporary name and renamed when complete.
func ensureTemplate(ctx context.Context, admin *pgxpool.Pool, base *url.URL, name string) error {
	conn, err := admin.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(templateLockID)); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		// A session lock outlives errors: release it on a context of its own, or close the connection.
		unlockCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock($1)`, int64(templateLockID)); err != nil {
			conn.Hijack().Close(unlockCtx)
		}
	}()

	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	if err != nil || exists {
		return err
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+quote(building)+` WITH (FORCE)`); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+quote(building)+` TEMPLATE template0`); err != nil {
		return err
	}
	if err := postgres.Migrate(ctx, databaseURL(base, building)); err != nil {
		return err
	}
	// Migrate has closed its connections, but their server processes may take a moment to go away.
	return withRetry(ctx, func() error {
		_, err := conn.Exec(ctx, `ALTER DATABASE `+quote(building)+` RENAME TO `+quote(name))
		return err
	})
}

// withRetry runs f until it does not fail with "object in use" (a database that still has a session
// ending), or ctx is done.
func withRetry(ctx context.Context, f func() error) error {
	for {
		err := f()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func drop(t testing.TB, admin *pgxpool.Pool, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+quote(name)+` WITH (FORCE)`); err != nil {
		t.Errorf("dbtest: drop database %s: %v", name, err)
	}
}

func databaseURL(base *url.URL, name string) string {
	u := *base
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func quote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}
