package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/attestd/attestd/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
)

// receipt is what a submitter was told: the attestation and its leaf.
type receipt struct {
	id    string
	index uint64
}

// submitter submits new attestations through a serving attestd, one after the other, until stopped.
type submitter struct {
	mu     sync.Mutex
	acked  []receipt
	notify chan struct{} // receives after every acknowledged submission
	stop   chan struct{}
	done   chan struct{}
}

func startSubmitter(t *testing.T, c *attestor.Client, signer *attestor.Signer) *submitter {
	s := &submitter{notify: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for n := 0; ; n++ {
			select {
			case <-s.stop:
				return
			default:
			}
			env, err := signedEnvelope(signer, n)
			if err != nil {
				t.Errorf("sign %d: %v", n, err)
				return
			}
			r, err := c.Submit(context.Background(), "shop", env)
			if err != nil {
				t.Errorf("Submit %d: %v", n, err)
				return
			}
			s.mu.Lock()
			s.acked = append(s.acked, receipt{r.GetId(), r.GetLogIndex()})
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

// waitFor returns once at least n submissions were acknowledged.
func (s *submitter) waitFor(t *testing.T, n int) {
	t.Helper()
	for {
		if len(s.receipts()) >= n {
			return
		}
		select {
		case <-s.notify:
		case <-s.done:
			t.Fatalf("the submitter stopped after %d submissions", len(s.receipts()))
		}
	}
}

func (s *submitter) receipts() []receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acked)
}

func (s *submitter) halt() []receipt {
	close(s.stop)
	<-s.done
	return s.receipts()
}

// TestBackupWhileWriting takes a backup while attestations are being submitted, restores it into a new data
// directory and database, and finds: attestd audit clean; every attestation acknowledged before the backup
// began, at its log index; every other leaf of the restored log either a row or an orphan that a retry of
// the same envelope claims at its original index; and attestd serving from the restored installation.
func TestBackupWhileWriting(t *testing.T) {
	for _, backend := range []struct {
		name  string
		newDB func(t *testing.T) string // the --database-url of a new database; "" is the embedded one
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return dbtest.New(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			ctx := context.Background()
			dataDir := t.TempDir()
			dbURL := backend.newDB(t)
			d := startDaemon(t, "--data-dir", dataDir, "--database-url", dbURL)
			admin := d.dial(t, adminSecret(t, dataDir))
			attestorSecret, signer := shop(t, admin)
			sub := startSubmitter(t, d.dial(t, attestorSecret), signer)
			sub.waitFor(t, 10)
			before := sub.receipts()
			out := filepath.Join(t.TempDir(), "attestd.tar.gz")
			backupOut := mustRun(t, "backup", "--out", out, "--data-dir", dataDir, "--database-url", dbURL)
			sub.waitFor(t, len(sub.receipts())+5)
			all := sub.halt()
			d.stop()
			if !strings.Contains(backupOut, "backup of "+backend.name+" database") {
				t.Errorf("backup printed:\n%s", backupOut)
			}
			if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("backup file: %v, %v", fi, err)
			}

			restored := filepath.Join(t.TempDir(), "restored")
			restoredURL := backend.newDB(t)
			restoreOut := mustRun(t, "restore", "--in", out, "--data-dir", restored, "--database-url", restoredURL)
			if !strings.Contains(restoreOut, "restored "+out) {
				t.Errorf("restore printed:\n%s", restoreOut)
			}
			audit := mustRun(t, "audit", "--data-dir", restored, "--database-url", restoredURL)
			if !strings.Contains(audit, "clean: the database and the log agree") {
				t.Fatalf("audit of the restored installation:\n%s", audit)
			}
			db, err := (&Config{DatabaseURL: restoredURL, DataDir: restored}).database()
			if err != nil {
				t.Fatal(err)
			}
			st, err := openStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			p, err := st.ProjectByName(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			orphans := map[uint64]bool{}
			ol, err := st.ListOrphanLeaves(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range ol {
				orphans[o.LogIndex] = true
			}
			logSize, err := st.LogWatermark(ctx) // reconciled by restore: the restored log's size
			if err != nil {
				t.Fatal(err)
			}
			var rows, lost []receipt
			for i, r := range all {
				a, err := st.GetAttestation(ctx, p.ID, r.id)
				switch {
				case err == nil && *a.LogIndex == r.index:
					rows = append(rows, r)
				case err == nil:
					t.Errorf("attestation %s restored at leaf %d, acknowledged at %d", r.id, *a.LogIndex, r.index)
				case !errors.Is(err, store.ErrNotFound):
					t.Fatal(err)
				case i < len(before):
					t.Errorf("attestation %s, acknowledged before the backup began, is not restored", r.id)
				case r.index < logSize && !orphans[r.index]:
					t.Errorf("leaf %d of the restored log has neither its row nor an orphan record", r.index)
				case r.index < logSize:
					lost = append(lost, r)
				}
			}
			st.Close()
			t.Logf("%d acknowledged: %d before the backup; restored %d rows, %d orphan leaves, log of %d",
				len(all), len(before), len(rows), len(lost), logSize)

			// The restored installation serves: a new submission gets the next leaf, and a retry of an envelope
			// whose leaf is an orphan claims it.
			d2 := startDaemon(t, "--data-dir", restored, "--database-url", restoredURL)
			c := d2.dial(t, attestorSecret)
			r, err := c.Submit(ctx, "shop", envelope(t, signer, 1_000_000))
			if err != nil || r.GetLogIndex() < logSize || !r.GetCreated() {
				t.Fatalf("Submit to the restored installation: %v, %v (log of %d)", r, err, logSize)
			}
			for i, a := range all {
				if !slices.Contains(lost, a) {
					continue
				}
				r, err := c.Submit(ctx, "shop", envelope(t, signer, i))
				if err != nil || r.GetLogIndex() != a.index {
					t.Errorf("retry of %s: %v, %v; want its orphan leaf %d", a.id, r, err, a.index)
				}
			}
			list, err := d2.dial(t, adminSecret(t, dataDir)).Attestations.List(ctx, &attestdv1.ListRequest{Project: "shop", PageSize: 1})
			if err != nil || len(list.GetAttestations()) != 1 {
				t.Errorf("List with the old admin token: %v, %v", list, err)
			}
			d2.stop()
			if audit := mustRun(t, "audit", "--data-dir", restored, "--database-url", restoredURL); !strings.Contains(audit, "clean") {
				t.Errorf("audit after serving the restored installation:\n%s", audit)
			}
		})
	}
}

// TestBackupRestoreRefusals: backup and restore never overwrite anything, and a refused restore, or one of a
// damaged backup, writes nothing.
func TestBackupRestoreRefusals(t *testing.T) {
	dataDir, _, in := sqliteInstallation(t)
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	mustRun(t, "backup", "--out", out, "--data-dir", dataDir)

	if code, _, errs := attestdRun(t, "backup", "--data-dir", dataDir); code != 2 || !strings.Contains(errs, "--out is required") {
		t.Errorf("backup without --out: exit %d, %s", code, errs)
	}
	taken := filepath.Join(t.TempDir(), "taken")
	if err := os.WriteFile(taken, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := attestdRun(t, "backup", "--out", taken, "--data-dir", dataDir); code != 1 || !strings.Contains(errs, "refusing to overwrite") {
		t.Errorf("backup over a file: exit %d, %s", code, errs)
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep" {
		t.Error("backup overwrote a file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(taken)); len(entries) != 1 {
		t.Errorf("a refused backup left files: %v", entries)
	}

	if code, _, errs := attestdRun(t, "restore", "--data-dir", t.TempDir()); code != 2 || !strings.Contains(errs, "--in is required") {
		t.Errorf("restore without --in: exit %d, %s", code, errs)
	}
	// Into a data directory that holds a file.
	busy := t.TempDir()
	if err := os.WriteFile(filepath.Join(busy, "notes"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := attestdRun(t, "restore", "--in", out, "--data-dir", busy); code != 1 || !strings.Contains(errs, "is not empty") {
		t.Errorf("restore into a data directory with a file: exit %d, %s", code, errs)
	}
	if entries, _ := os.ReadDir(busy); len(entries) != 1 {
		t.Errorf("a refused restore wrote into the data directory: %v", entries)
	}
	// Into a PostgreSQL database that holds a project.
	pg := dbtest.New(t)
	if _, err := openPostgres(t, pg).CreateProject(t.Context(), "here"); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "data")
	if code, _, errs := attestdRun(t, "restore", "--in", out, "--data-dir", fresh, "--database-url", pg); code != 1 || !strings.Contains(errs, "not empty") {
		t.Errorf("restore into a database with a project: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore made the data directory: %v", err)
	}
	// A damaged backup.
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar.gz")
	if err := os.WriteFile(cut, raw[:len(raw)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := attestdRun(t, "restore", "--in", cut, "--data-dir", fresh); code != 1 || !strings.Contains(errs, "cut.tar.gz") {
		t.Errorf("restore of a truncated backup: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a restore of a damaged backup made the data directory: %v", err)
	}

	// The backup restores into SQLite with the same rows, and audits clean.
	restoreOut := mustRun(t, "restore", "--in", out, "--data-dir", fresh)
	if got := counts(restoreOut); got["attestations"] != len(in.Attestations) || got["orphan leaves"] != 1 {
		t.Errorf("restore counted %v", got)
	}
	if audit := mustRun(t, "audit", "--data-dir", fresh); !strings.Contains(audit, "clean") {
		t.Errorf("audit of the restored backup:\n%s", audit)
	}
	dumpCompare(t, filepath.Join(dataDir, sqliteFile), filepath.Join(fresh, sqliteFile))
}

// TestCommandsRefuseAnOlderSchema: backup does not migrate; on a database one migration behind it says what to
// do rather than fail on a missing column (audit opens the database the same way, after the log's files).
func TestCommandsRefuseAnOlderSchema(t *testing.T) {
	pg := dbtest.New(t)
	cfg, err := pgx.ParseConfig(pg)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := p.GetVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), want-1); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	for _, args := range [][]string{
		{"backup", "--out", filepath.Join(t.TempDir(), "b.tar.gz"), "--data-dir", dataDir, "--database-url", pg},
	} {
		code, _, errs := attestdRun(t, args...)
		if code == 0 || !strings.Contains(errs, fmt.Sprintf("schema is at version %d, this attestd needs %d: run attestd migrate", want-1, want)) {
			t.Errorf("%s on an older schema: exit %d, %s", args[0], code, errs)
		}
	}
}
