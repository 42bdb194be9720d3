package sqlite_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestd/attestd/internal/store/sqlite"
)

// TestSnapshotCopiesCommittedRows: a snapshot taken while the store is open, its last writes still in the WAL,
// holds every committed row, and opens as a store after Migrate.
func TestSnapshotCopiesCommittedRows(t *testing.T) {
	ctx := t.Context()
	path := newDB(t)
	st := open(t, path)
	p, err := st.CreateProject(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := st.InsertAttestation(ctx, newAttestation(p.ID, fmt.Sprint("a", i), uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := sqlite.Snapshot(ctx, path, dst); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if err := sqlite.Migrate(ctx, dst); err != nil {
		t.Fatalf("Migrate(snapshot): %v", err)
	}
	cp := open(t, dst)
	got, err := cp.ScanByLogIndex(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("snapshot has %d attestations, want 3", len(got))
	}
	if q, err := cp.ProjectByName(ctx, "shop"); err != nil || q.ID != p.ID {
		t.Fatalf("snapshot project: %+v, %v", q, err)
	}
}

// TestSnapshotLeavesSourceUntouched: the database file, and every companion file that existed, are byte for
// byte the same after a snapshot; a reader in WAL mode may add the shared-memory index and an empty WAL.
func TestSnapshotLeavesSourceUntouched(t *testing.T) {
	ctx := t.Context()
	path := newDB(t)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateProject(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before := dirHashes(t, filepath.Dir(path))
	if err := sqlite.Snapshot(ctx, path, filepath.Join(t.TempDir(), "copy.db")); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	empty := sha256.Sum256(nil)
	for name, sum := range dirHashes(t, filepath.Dir(path)) {
		was, existed := before[name]
		switch {
		case existed && was != sum:
			t.Errorf("%s changed", name)
		case !existed && name == "attestd.db-wal" && sum != empty:
			t.Errorf("%s was created with content", name)
		case !existed && name != "attestd.db-wal" && name != "attestd.db-shm":
			t.Errorf("%s was created", name)
		}
	}
}

func TestSnapshotRefuses(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if err := sqlite.Snapshot(ctx, missing, filepath.Join(dir, "copy.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Snapshot of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Snapshot created the missing source: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "copy.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed Snapshot left its destination: %v", err)
	}
	path := newDB(t)
	dst := filepath.Join(dir, "taken.db")
	if err := os.WriteFile(dst, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Snapshot(ctx, path, dst); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Snapshot to an existing file: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "keep me" {
		t.Errorf("Snapshot overwrote an existing file: %q", b)
	}
}

func dirHashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}
