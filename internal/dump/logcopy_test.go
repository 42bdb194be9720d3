package dump_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/audit"
	"github.com/attestd/attestd/internal/dump"
	"github.com/attestd/attestd/internal/tlog"
)

const testOrigin = "attestd.test/log"

// testLog is a real log in dir/log with its key in dir.
func openTestLog(t *testing.T, dir string) (*tlog.Log, string) {
	t.Helper()
	signer, vkey, err := tlog.LoadOrCreateKey(dir, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := tlog.Open(context.Background(), tlog.Config{Dir: filepath.Join(dir, "log"), Signer: signer, VerifierKey: vkey,
		BatchMaxAge: 5 * time.Millisecond, CheckpointInterval: tlog.MinCheckpointInterval, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return lg, vkey
}

// appendN appends distinct entries, concurrently (so that they share batches), until the log has n leaves,
// and waits for a checkpoint of n.
func appendN(t *testing.T, lg *tlog.Log, from, n uint64) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := from; i < n; i++ {
		wg.Go(func() {
			e := make([]byte, 32)
			binary.BigEndian.PutUint64(e, i)
			if _, err := lg.Append(ctx, e); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	if size, err := lg.IntegratedSize(ctx); err != nil || size != n {
		t.Fatalf("log size %d, %v; want %d", size, err, n)
	}
	if _, _, err := lg.AwaitIntegration(ctx, n-1); err != nil {
		t.Fatal(err)
	}
}

// leaves reads the first n leaves of the log in dir from its files.
func leaves(t *testing.T, dir string, n uint64) [][]byte {
	t.Helper()
	var out [][]byte
	if err := (audit.Files{Dir: dir}).Entries(t.Context(), 0, n, func(_ uint64, e []byte) error {
		out = append(out, bytes.Clone(e))
		return nil
	}); err != nil {
		t.Fatalf("read the leaves of %s: %v", dir, err)
	}
	return out
}

func copyLog(t *testing.T, logDir, vkey string) (map[string][]byte, dump.LogInfo, error) {
	t.Helper()
	files := map[string][]byte{}
	info, err := dump.CopyLog(t.Context(), logDir, vkey, func(name string, data []byte) error {
		if _, dup := files[name]; dup {
			t.Errorf("%s copied twice", name)
		}
		files[name] = bytes.Clone(data)
		return nil
	})
	return files, info, err
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCopyLogOfOneSize: a copy holds the files of one tree size, and when Tessera has replaced a right-edge
// partial tile by the full one since that size (and deleted the partial, as its garbage collection does), the
// partial is cut from the full tile. The copy opens as a log, of that size, and takes new entries.
func TestCopyLogOfOneSize(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	lg, vkey := openTestLog(t, dir)
	appendN(t, lg, 0, 300)
	oldCheckpoint, err := os.ReadFile(filepath.Join(logDir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	oldState, err := os.ReadFile(filepath.Join(logDir, ".state", "treeState"))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, lg, 300, 600)
	if err := lg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The directory as a copy that read the checkpoint and tree state of size 300 finds it later.
	for name, data := range map[string][]byte{"checkpoint": oldCheckpoint, ".state/treeState": oldState} {
		if err := os.WriteFile(filepath.Join(logDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, gone := range []string{"tile/entries/001.p", "tile/0/001.p"} {
		if err := os.RemoveAll(filepath.Join(logDir, gone)); err != nil {
			t.Fatal(err)
		}
	}

	files, info, err := copyLog(t, logDir, vkey)
	if err != nil {
		t.Fatalf("CopyLog: %v", err)
	}
	want := []string{".state/treeState", ".state/version", "checkpoint", "tile/0/000", "tile/0/001.p/44",
		"tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/44"}
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Fatalf("copied %v, want %v", got, want)
	}
	if info.TreeSize != 300 || info.CheckpointSize != 300 || info.Origin != testOrigin || info.Files != len(want) {
		t.Errorf("LogInfo = %+v", info)
	}
	full, err := os.ReadFile(filepath.Join(logDir, "tile/entries/001"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(full, files["tile/entries/001.p/44"]) || len(files["tile/entries/001.p/44"]) != 44*34 {
		t.Errorf("the partial bundle is not the first 44 entries of the full one")
	}

	copyDir := t.TempDir()
	writeFiles(t, filepath.Join(copyDir, "log"), files)
	for _, name := range []string{tlog.KeyFile, tlog.PubFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := leaves(t, filepath.Join(copyDir, "log"), 300), leaves(t, logDir, 300); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatal("the copy's leaves differ from the log's")
	}
	copied, _ := openTestLog(t, copyDir)
	if size, err := copied.IntegratedSize(t.Context()); err != nil || size != 300 {
		t.Fatalf("the copy opens with size %d, %v; want 300", size, err)
	}
	appendN(t, copied, 300, 301)
	if err := copied.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCopyLogCheckpointBehind: when the tree state is ahead of the published checkpoint, the copy holds the
// tree of the tree state's size and the right edge of the checkpoint's, so that the checkpoint's leaves can
// be read from it.
func TestCopyLogCheckpointBehind(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	lg, vkey := openTestLog(t, dir)
	appendN(t, lg, 0, 300)
	oldCheckpoint, err := os.ReadFile(filepath.Join(logDir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, lg, 300, 600)
	if err := lg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "checkpoint"), oldCheckpoint, 0o644); err != nil {
		t.Fatal(err)
	}
	files, info, err := copyLog(t, logDir, vkey)
	if err != nil {
		t.Fatalf("CopyLog: %v", err)
	}
	if info.TreeSize != 600 || info.CheckpointSize != 300 {
		t.Fatalf("LogInfo = %+v, want tree 600, checkpoint 300", info)
	}
	for _, name := range []string{"tile/entries/001.p/44", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/002.p/88", "tile/1/000.p/2"} {
		if _, ok := files[name]; !ok {
			t.Errorf("%s not copied", name)
		}
	}
	copyDir := t.TempDir()
	writeFiles(t, copyDir, files)
	rep, err := audit.Run(t.Context(), audit.Config{Store: newSQLite(t), Log: audit.Files{Dir: copyDir}, VerifierKey: vkey,
		StateFile: filepath.Join(t.TempDir(), "state")})
	if err != nil || rep.TreeSize != 300 || rep.Leaves != 300 {
		t.Fatalf("audit of the copy: %+v, %v", rep, err)
	}
	for _, f := range rep.Findings {
		if f.Kind != "leaf-without-row" { // the store is empty: only missing rows may be reported
			t.Errorf("audit of the copy: %+v", f)
		}
	}
}

// TestCopyLogRefusesDamage: a tile that does not hold its bundle's hashes, and a checkpoint of another key,
// are errors, not backups.
func TestCopyLogRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	lg, vkey := openTestLog(t, dir)
	appendN(t, lg, 0, 10)
	if err := lg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := copyLog(t, logDir, strings.Replace(vkey, testOrigin, "other.test/log", 1)); err == nil {
		t.Error("CopyLog with another key succeeded")
	}
	tile := filepath.Join(logDir, "tile/0/000.p/10")
	data, err := os.ReadFile(tile)
	if err != nil {
		t.Fatal(err)
	}
	data[5] ^= 1
	if err := os.WriteFile(tile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := copyLog(t, logDir, vkey); err == nil || !strings.Contains(err.Error(), "does not hold the hashes") {
		t.Errorf("CopyLog of a damaged tile: %v", err)
	}
}
