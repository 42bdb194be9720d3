package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/dump"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/store/sqlite"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/server"
)

// The commands that copy an installation: migrate-data, backup and restore. The copying itself is package
// dump's; these open the databases, pick the files and report.

// usageError is a mistake in the command line (exit code 2); every other error is a failure (exit code 1).
type usageError struct{ error }

// exitCode prints err for the command name and returns its exit code.
func exitCode(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "attestd %s: %v\n", name, err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// runMigrateData copies the database of one installation into another, empty one: attestd migrate-data --from
// sqlite:PATH --to postgres://...
func runMigrateData(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the database to copy: sqlite:PATH or a PostgreSQL URL (read only)")
	to := fs.String("to", "", "the database to copy into, empty (migrated here if need be): a PostgreSQL URL or sqlite:PATH")
	tmpDir := fs.String("tmp-dir", os.TempDir(), "where an SQLite source's snapshot is kept while it is copied")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return exitCode(stderr, "migrate-data", migrateData(ctx, *from, *to, *tmpDir, fs.Args(), stdout))
}

func migrateData(ctx context.Context, from, to, tmpDir string, rest []string, stdout io.Writer) error {
	switch {
	case len(rest) > 0:
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))}
	case from == "" || to == "":
		return usageError{errors.New("--from and --to are required")}
	case from == to:
		return usageError{errors.New("--from and --to name the same database")}
	}
	src, err := (&Config{DatabaseURL: from}).database()
	if err != nil {
		return usageError{fmt.Errorf("--from: %w", err)}
	}
	dst, err := (&Config{DatabaseURL: to}).database()
	if err != nil {
		return usageError{fmt.Errorf("--to: %w", err)}
	}
	if src.Backend == backendSQLite && dst.Backend == backendSQLite && sameFile(src.Path, dst.Path) {
		return usageError{errors.New("--from and --to name the same database")}
	}
	source, closeSource, err := openSnapshot(ctx, src, tmpDir)
	if err != nil {
		return err
	}
	defer closeSource()
	target, err := openTarget(ctx, dst)
	if err != nil {
		return err
	}
	defer target.Close()
	rep, err := dump.Copy(ctx, source, target)
	var mismatch *dump.MismatchError
	if err != nil && !errors.As(err, &mismatch) {
		return err
	}
	fmt.Fprintf(stdout, "copied %s database %s to %s database %s\n", src.Backend, src.Where(), dst.Backend, dst.Where())
	printCounts(stdout, rep.Source)
	if rep.Stats.Unlogged > 0 {
		fmt.Fprintf(stdout, "note: %d attestation rows without a log index were left out (attestd audit reports them "+
			"as row-without-leaf; reads never show them)\n", rep.Stats.Unlogged)
	}
	if mismatch != nil {
		for _, d := range mismatch.Differences {
			fmt.Fprintf(stdout, "MISMATCH %s\n", d)
		}
		return errors.New("the target does not hold what was copied: do not use it")
	}
	fmt.Fprintln(stdout, "verified: the target holds the same rows as the source (counts and contents)")
	return nil
}

// printCounts prints the records of each kind; the watermark is a value, not rows.
func printCounts(w io.Writer, counts map[string]dump.Count) {
	names := map[string]string{dump.KindBootstrap: "bootstrap", dump.KindPolicy: "policies", dump.KindOrphan: "orphan leaves"}
	for _, kind := range dump.Kinds {
		if kind == dump.KindWatermark {
			continue
		}
		name := names[kind]
		if name == "" {
			name = kind + "s"
		}
		fmt.Fprintf(w, "  %-14s %8d\n", name, counts[kind].Records)
	}
}

// sameFile reports whether two paths name one file (or, when either is missing, the same path).
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil {
		absA, _ := filepath.Abs(a)
		absB, _ := filepath.Abs(b)
		return absA == absB
	}
	return os.SameFile(fa, fb)
}

// openSnapshot opens the database db for reading a whole installation from it. An SQLite database is copied
// first (sqlite.Snapshot, read-only, consistent while attestd writes) into a directory of tmpDir, which the
// returned function removes; a PostgreSQL database is opened as it is (see dump.Export for why an export of a
// database in use is consistent).
func openSnapshot(ctx context.Context, db database, tmpDir string) (store.Store, func(), error) {
	if db.Backend == backendPostgres {
		if err := postgres.CheckSchema(ctx, db.URL); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", db.Where(), err)
		}
		st, err := postgres.Open(ctx, db.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", db.Where(), err)
		}
		return st, st.Close, nil
	}
	dir, err := os.MkdirTemp(tmpDir, ".attestd-snapshot-*")
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, sqliteFile)
	if err := sqlite.Snapshot(ctx, db.Path, path); err != nil {
		cleanup()
		return nil, nil, err
	}
	if err := sqlite.Migrate(ctx, path); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("snapshot of %s: %w", db.Path, err)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("snapshot of %s: %w", db.Path, err)
	}
	return st, func() { st.Close(); cleanup() }, nil
}

// openTarget migrates the database db (creating an SQLite file) and opens it; it must be empty.
func openTarget(ctx context.Context, db database) (store.Store, error) {
	if err := migrateDatabase(ctx, db); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", db.Where(), err)
	}
	st, err := openStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", db.Where(), err)
	}
	if err := dump.CheckEmpty(ctx, st); err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", db.Where(), err)
	}
	return st, nil
}

// runBackup writes a backup of the database and the log, while attestd may be serving.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, cfg, envErrs := newFlagSet("backup", getenv, stderr)
	out := fs.String("out", "", "the backup file to write (a .tar.gz; must not exist)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := finishConfig(cfg, fs, *envErrs); err != nil {
		return exitCode(stderr, "backup", usageError{err})
	}
	if *out == "" {
		return exitCode(stderr, "backup", usageError{errors.New("--out is required")})
	}
	return exitCode(stderr, "backup", backup(ctx, cfg, *out, stdout))
}

func backup(ctx context.Context, cfg *Config, out string, stdout io.Writer) error {
	db, err := cfg.database()
	if err != nil {
		return usageError{err}
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s exists: refusing to overwrite it", out)
	}
	dir := filepath.Dir(out)
	started := time.Now()
	st, closeStore, err := openSnapshot(ctx, db, dir)
	if err != nil {
		return err
	}
	defer closeStore()
	f, err := os.CreateTemp(dir, ".attestd-backup-*.partial") // mode 0600: the backup holds the log's key
	if err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	defer os.Remove(f.Name())
	m, err := dump.Backup(ctx, dump.BackupConfig{Store: st, Backend: db.Backend, DataDir: cfg.DataDir,
		LogDir: cfg.LogDir, TempDir: dir, Version: version, Started: started}, f)
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("write the backup: %w", err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write the backup: %w", cerr)
	}
	if err != nil {
		return err
	}
	// A link, unlike a rename, never replaces a file that appeared meanwhile.
	if err := os.Link(f.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := syncDirOf(out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(stdout, "backup of %s database %s written to %s\n", db.Backend, db.Where(), out)
	printCounts(stdout, m.Database.Records)
	fmt.Fprintf(stdout, "  log: %d leaves (checkpoint of %d), %d files\n", m.Log.TreeSize, m.Log.CheckpointSize, m.Log.Files)
	if m.Database.Unlogged > 0 {
		fmt.Fprintf(stdout, "note: %d attestation rows without a log index were left out\n", m.Database.Unlogged)
	}
	return nil
}

func syncDirOf(p string) error {
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// runRestore restores a backup into an empty data directory and an empty database, then reconciles the log
// with the database as attestd serve does at start.
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, cfg, envErrs := newFlagSet("restore", getenv, stderr)
	in := fs.String("in", "", "the backup file to restore")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := finishConfig(cfg, fs, *envErrs); err != nil {
		return exitCode(stderr, "restore", usageError{err})
	}
	if *in == "" {
		return exitCode(stderr, "restore", usageError{errors.New("--in is required")})
	}
	return exitCode(stderr, "restore", restore(ctx, cfg, *in, stdout))
}

func restore(ctx context.Context, cfg *Config, in string, stdout io.Writer) error {
	db, err := cfg.database()
	if err != nil {
		return usageError{err}
	}
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("read the backup: %w", err)
	}
	defer f.Close()
	m, err := dump.Check(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	for _, dir := range []string{cfg.DataDir, cfg.LogDir} {
		if err := checkNoFiles(dir); err != nil {
			return err
		}
	}
	if db.Backend == backendSQLite {
		if _, err := os.Lstat(db.Path); err == nil {
			return fmt.Errorf("the database file %s exists: refusing to overwrite it", db.Path)
		}
	}
	target, err := openTarget(ctx, db)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read the backup: %w", err)
	}
	if err := dump.Restore(ctx, f, m, dump.RestoreConfig{Store: target, DataDir: cfg.DataDir, LogDir: cfg.LogDir}); err != nil {
		return err
	}
	rep, err := reconcileRestored(ctx, cfg, target)
	if err != nil {
		return fmt.Errorf("the backup was restored, but the log could not be reconciled with it: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s (backup of a %s database, taken %s) into %s and %s database %s\n", in,
		m.Backend, m.StartedAt.Format(time.RFC3339), cfg.DataDir, db.Backend, db.Where())
	printCounts(stdout, m.Database.Records)
	fmt.Fprintf(stdout, "  log: %d leaves; %d appended after the database was copied, recorded as orphans\n",
		rep.LogSize, rep.NewOrphans)
	if rep.Mismatches > 0 {
		return fmt.Errorf("%d leaves disagree with their rows: run attestd audit", rep.Mismatches)
	}
	return nil
}

// checkNoFiles refuses a directory that holds any file (empty directories are fine, a missing one too).
func checkNoFiles(dir string) error {
	found := ""
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check that %s is empty: %w", dir, err)
	}
	if found != "" {
		return fmt.Errorf("%s is not empty (%s): refusing to restore over it", dir, found)
	}
	return nil
}

// reconcileRestored opens the restored log and runs attestd's start-up reconciliation on it, as attestd serve
// would, so that the leaves appended after the database was exported are recorded as orphans (and an audit is
// clean at once), and the checkpoint covers every leaf.
func reconcileRestored(ctx context.Context, cfg *Config, st store.Store) (server.ReconcileReport, error) {
	pub, err := os.ReadFile(filepath.Join(cfg.DataDir, tlog.PubFile))
	if err != nil {
		return server.ReconcileReport{}, err
	}
	c := *cfg
	c.LogOrigin, _, _ = strings.Cut(strings.TrimSpace(string(pub)), "+")
	logger := slog.New(slog.DiscardHandler)
	lg, err := openLog(ctx, &c, logger)
	if err != nil {
		return server.ReconcileReport{}, err
	}
	rep, err := server.New(server.Config{Store: st, Log: lg, Logger: logger}).Reconcile(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if cerr := lg.Close(cctx); err == nil {
		err = cerr
	}
	return rep, err
}
