package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/dump"
	"github.com/attestd/attestd/internal/dump/dumptest"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/store/sqlite"
)

// sqliteInstallation builds a populated installation on the embedded SQLite database of a new data directory
// and returns the directory, the database file and what it holds. The store is closed again.
func sqliteInstallation(t *testing.T) (string, string, dumptest.Installation) {
	t.Helper()
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, sqliteFile)
	if err := sqlite.Migrate(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	in := dumptest.Populate(t, st, dataDir)
	st.Close()
	return dataDir, path, in
}

func openPostgres(t *testing.T, url string) store.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestMigrateDataSQLiteToPostgres moves an installation from SQLite to PostgreSQL: every row arrives, with
// its log index; attestd audit of the new database against the same log is clean; attestd serves from it
// with the old tokens and does not bootstrap again; the SQLite file is untouched.
func TestMigrateDataSQLiteToPostgres(t *testing.T) {
	dataDir, path, in := sqliteInstallation(t)
	sum := fileSum(t, path)
	pg := dbtest.New(t)

	out := mustRun(t, "migrate-data", "--from", "sqlite:"+path, "--to", pg, "--tmp-dir", t.TempDir())
	for _, line := range []string{
		"copied sqlite database " + path + " to postgres database",
		"verified: the target holds the same rows as the source",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("migrate-data output lacks %q:\n%s", line, out)
		}
	}
	want := map[string]int{"bootstrap": 1, "projects": 3, "tokens": 7, "keys": 4, "layouts": 7, "policies": 2,
		"decisions": 5, "attestations": len(in.Attestations), "orphan leaves": 1}
	if got := counts(out); !maps.Equal(got, want) {
		t.Errorf("migrate-data counted %v, want %v", got, want)
	}
	if fileSum(t, path) != sum {
		t.Error("migrate-data changed the source database file")
	}

	audit := mustRun(t, "audit", "--database-url", pg, "--data-dir", dataDir, "--state", filepath.Join(t.TempDir(), "state"))
	if !strings.Contains(audit, "clean: the database and the log agree") || !strings.Contains(audit, fmt.Sprintf("note: leaf %d:", in.OrphanIndex)) {
		t.Errorf("audit of the new database:\n%s", audit)
	}
	dumptest.Compare(t, openSQLite(t, path), openPostgres(t, pg))

	// attestd serves the new database and the old log: the tokens authenticate, reads find the attestations,
	// and no second bootstrap token is made.
	d := startDaemon(t, "--database-url", pg, "--data-dir", dataDir, "--log-origin", dumptest.Origin)
	ctx := context.Background()
	reader := d.dial(t, in.Secrets[dumptest.ShopReader])
	atts, err := reader.ListAll(ctx, &attestdv1.ListRequest{}, 0)
	if err != nil {
		t.Fatalf("List with the shop reader token: %v", err)
	}
	var shopRows int
	for _, a := range in.Attestations {
		if a.ProjectID == in.Attestations[0].ProjectID { // the first is shop's
			shopRows++
		}
	}
	if len(atts) != shopRows {
		t.Errorf("List: %d attestations, want %d", len(atts), shopRows)
	}
	first := in.Attestations[0]
	got, err := reader.Attestations.Get(ctx, &attestdv1.GetRequest{Id: first.ID})
	if err != nil || string(got.GetAttestation().GetEnvelope()) != string(first.Envelope) || got.GetAttestation().GetReceipt().GetLogIndex() != *first.LogIndex {
		t.Errorf("Get %s: %v, %v", first.ID, got, err)
	}
	projects, err := d.dial(t, in.Secrets[dumptest.BootstrapToken]).Projects.ListProjects(ctx, &attestdv1.ListProjectsRequest{})
	if err != nil || len(projects.GetProjects()) != 3 {
		t.Errorf("ListProjects with the bootstrap token: %v, %v", projects, err)
	}
	if _, err := d.dial(t, in.Secrets["t-shop-old"]).Projects.ListProjects(ctx, &attestdv1.ListProjectsRequest{}); err == nil {
		t.Error("a revoked token authenticated after the migration")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "admin.token")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("attestd serve bootstrapped the migrated database again: admin.token: %v", err)
	}
}

// counts parses the "  <kind> <n>" lines that migrate-data, backup and restore print.
func counts(out string) map[string]int {
	m := map[string]int{}
	for _, match := range regexp.MustCompile(`(?m)^  ([a-z ]+?) +(\d+)$`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(match[2])
		m[match[1]] = n
	}
	return m
}

// TestMigrateDataRefusesNonEmptyTarget: a target that holds a project (or was served once) is refused with
// a message that says so, and nothing changes on either side.
func TestMigrateDataRefusesNonEmptyTarget(t *testing.T) {
	_, path, _ := sqliteInstallation(t)
	sum := fileSum(t, path)
	pg := dbtest.New(t)
	target := openPostgres(t, pg)
	if _, err := target.CreateProject(t.Context(), "already-here"); err != nil {
		t.Fatal(err)
	}
	before, err := dump.TallyOf(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := attestdRun(t, "migrate-data", "--from", "sqlite:"+path, "--to", pg, "--tmp-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "the target database is not empty: it holds 1 project") || out != "" {
		t.Fatalf("migrate-data into a database with a project: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	after, err := dump.TallyOf(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := dump.Diff(after, before); len(diff) > 0 {
		t.Errorf("the refused target changed: %v", diff)
	}
	if fileSum(t, path) != sum {
		t.Error("the source changed")
	}

	// A database that attestd served once holds its bootstrap token: refused too.
	served := dbtest.New(t)
	d := startDaemon(t, "--database-url", served, "--data-dir", t.TempDir())
	d.stop()
	code, _, errs = attestdRun(t, "migrate-data", "--from", "sqlite:"+path, "--to", served, "--tmp-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "a bootstrap (attestd serve ran on it)") {
		t.Errorf("migrate-data into a served database: exit %d, %s", code, errs)
	}
}

func TestMigrateDataUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate-data"}, "--from and --to are required"},
		{[]string{"migrate-data", "--from", "sqlite:/x"}, "--from and --to are required"},
		{[]string{"migrate-data", "--from", "sqlite:/x", "--to", "sqlite:/x"}, "name the same database"},
		{[]string{"migrate-data", "--from", "sqlite:", "--to", "postgres://h/db"}, "needs the path"},
		{[]string{"migrate-data", "--from", "sqlite:/x", "--to", "postgres://h/db", "extra"}, "unexpected arguments: extra"},
		{[]string{"migrate-data", "--bogus"}, "flag provided but not defined"},
	} {
		code, _, errs := attestdRun(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("attestd %s: exit %d, %q; want exit 2 saying %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
	code, _, errs := attestdRun(t, "migrate-data", "--from", "sqlite:"+filepath.Join(t.TempDir(), "missing.db"), "--to", "sqlite:"+filepath.Join(t.TempDir(), "new.db"))
	if code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("migrate-data from a missing file: exit %d, %s", code, errs)
	}
}

// dumpCompare compares two SQLite installations row by row (see dumptest.Compare).
func dumpCompare(t *testing.T, src, dst string) {
	t.Helper()
	dumptest.Compare(t, openSQLite(t, src), openSQLite(t, dst))
}
