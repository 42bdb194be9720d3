package tlog

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPartialFilesRemoved: once bundles are full, the partial bundles and tiles written on the way are
// removed, more than one pass's worth of them (Tessera removes at most 101 bundles' partial files per pass),
// within seconds, with attestd's default interval: a log under sustained load does not keep them. With
// Tessera's default of one pass a minute, 243 directories were left at the deadline.
func TestPartialFilesRemoved(t *testing.T) {
	const n = 120*256 + 17 // 120 full bundles and a partial one
	dir := t.TempDir()
	l := openTestLog(t, dir, newTestKey(t, testOrigin), func(c *Config) { c.BatchMaxSize = 64 }) // GC: the default
	entries := make([][]byte, n)
	for i := range entries {
		entries[i] = testEntry("gc", i)
	}
	idx := appendConcurrently(t, l, entries, 128)
	ctx := ctxTimeout(t, 60*time.Second)
	if _, _, err := l.AwaitIntegration(ctx, maxIndex(idx)); err != nil {
		t.Fatal(err)
	}
	partials := func() (dirs []string) {
		if err := filepath.WalkDir(filepath.Join(dir, "tile"), func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a pass while the walk ran
			}
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasSuffix(d.Name(), ".p") {
				dirs = append(dirs, strings.TrimPrefix(p, dir))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return dirs
	}
	// What may stay: the partial versions of the last, partial bundle and of the tile of each level above it.
	const mayStay = 3
	deadline := time.Now().Add(45 * time.Second)
	for {
		left := partials()
		if len(left) <= mayStay {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d directories of partial files left 45 s after %d entries were integrated, want at most %d: %v",
				len(left), n, mayStay, left[:min(len(left), 10)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
