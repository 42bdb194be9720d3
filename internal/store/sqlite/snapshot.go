package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// Snapshot writes a consistent copy of the database at path to a new file dst, while other connections (a
// serving attestd) may be writing: SQLite's VACUUM INTO, run in one read transaction, copies the database as
// of that transaction's start, in WAL mode without holding up the writer. The database is opened read-only
// (mode=ro): Snapshot never writes to path or to an existing -wal file, and never creates path; like any reader
// of a database in WAL mode it may create the shared-memory index (-shm) and an empty -wal. dst must not
// exist; it is created with mode 0600 and is a plain SQLite file (rollback journal, not WAL), to be opened
// with Open after Migrate (which also brings a copy of an older schema up to date).
func Snapshot(ctx context.Context, path, dst string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("snapshot sqlite: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("snapshot sqlite: %w", err)
	}
	// VACUUM INTO refuses an existing file that is not empty; an empty one, made here with the mode we want
	// (the database holds token hashes and every envelope), it fills.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot sqlite %s: %w", abs, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot sqlite %s: %w", abs, err)
	}
	if err := vacuumInto(ctx, abs, dst); err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("snapshot sqlite %s: %w", abs, err)
	}
	return nil
}

// vacuumInto runs VACUUM INTO dst on a read-only connection to the database at abs.
func vacuumInto(ctx context.Context, abs, dst string) error {
	db, err := sql.Open("sqlite", readOnlyDSN(abs))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// readOnlyDSN is a URI file name that opens the file at abs (an absolute path) read-only. The read pool of
// Open uses query_only instead, which VACUUM INTO refuses.
func readOnlyDSN(abs string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", defaultBusyTimeout.Milliseconds()))
	return u.String() + "?" + q.Encode()
}
