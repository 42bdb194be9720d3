package tlog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTamperedFiles: someone with write access to the log directory edits it. Reads that authenticate against
// the signed checkpoint notice.
func TestTamperedFiles(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	l := openTestLog(t, dir, k)
	ctx := ctxTimeout(t, 30*time.Second)
	old := grow(t, l, "tamper", 0, 10)
	grow(t, l, "tamper", 10, 10)
	if err := l.Entries(ctx, 0, 20, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}

	t.Run("entry bundle", func(t *testing.T) {
		path := filepath.Join(dir, "tile", "entries", "000.p", "20")
		orig := edit(t, path, func(b []byte) { b[2+34*7] ^= 1 }) // one bit of entry 7
		defer os.WriteFile(path, orig, 0o644)
		if _, err := l.Entry(ctx, 7); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Entry of an edited entry = %v, want ErrCorrupt", err)
		}
		if err := l.Entries(ctx, 0, 20, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Entries over an edited bundle = %v, want ErrCorrupt", err)
		}
		if err := l.Entries(ctx, 5, 12, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Entries(5, 12) over an edited bundle = %v, want ErrCorrupt", err)
		}
	})

	t.Run("entry bundle and hash tile edited together", func(t *testing.T) {
		bundlePath := filepath.Join(dir, "tile", "entries", "000.p", "20")
		tilePath := filepath.Join(dir, "tile", "0", "000.p", "20")
		var forged []byte
		origBundle := edit(t, bundlePath, func(b []byte) {
			b[2+34*7] ^= 1
			forged = bytes.Clone(b[2+34*7 : 2+34*8])
		})
		defer os.WriteFile(bundlePath, origBundle, 0o644)
		origTile := edit(t, tilePath, func(b []byte) { copy(b[32*7:32*8], LeafHash(forged)) })
		defer os.WriteFile(tilePath, origTile, 0o644)
		if _, err := l.Entry(ctx, 7); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Entry with a consistent forgery in bundle and tile = %v, want ErrCorrupt", err)
		}
		if err := l.Entries(ctx, 0, 20, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Entries with a consistent forgery in bundle and tile = %v, want ErrCorrupt", err)
		}
	})

	t.Run("checkpoint rolled back", func(t *testing.T) {
		path := filepath.Join(dir, "checkpoint")
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(path, orig, 0o644)
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.Checkpoint(ctx); !errors.Is(err, ErrRollback) {
			t.Errorf("Checkpoint after the file was rolled back = %v, want ErrRollback", err)
		}
		if _, _, err := l.AwaitIntegration(ctx, 30); !errors.Is(err, ErrRollback) {
			t.Errorf("AwaitIntegration after the file was rolled back = %v, want ErrRollback", err)
		}
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, cp, err := l.Checkpoint(ctx); err != nil || cp.Size != 20 {
			t.Errorf("Checkpoint after the file was restored: %+v, %v", cp, err)
		}
	})

	t.Run("checkpoint forged", func(t *testing.T) {
		path := filepath.Join(dir, "checkpoint")
		orig := edit(t, path, func(b []byte) { b[bytes.IndexByte(b, '\n')+1] = '3' }) // size 20 -> 30
		defer os.WriteFile(path, orig, 0o644)
		if _, _, err := l.Checkpoint(ctx); !errors.Is(err, ErrInvalidCheckpoint) {
			t.Errorf("Checkpoint of an edited file = %v, want ErrInvalidCheckpoint", err)
		}
	})
}

// edit rewrites the file at path with change applied and returns the original content.
func edit(t *testing.T, path string, change func([]byte)) []byte {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(orig)
	change(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return orig
}
