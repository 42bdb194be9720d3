package tlog

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "attestd.test/log"

type testKey struct {
	signer note.Signer
	vkey   string
}

func newTestKey(t testing.TB, origin string) testKey {
	t.Helper()
	s, v, err := LoadOrCreateKey(t.TempDir(), origin)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{s, v}
}

func testConfig(dir string, k testKey) Config {
	return Config{
		Dir:                dir,
		Signer:             k.signer,
		VerifierKey:        k.vkey,
		BatchMaxAge:        10 * time.Millisecond,
		CheckpointInterval: MinCheckpointInterval,
		Logger:             slog.New(slog.DiscardHandler),
	}
}

// openTestLog opens a log in dir and closes it at the end of the test.
func openTestLog(t testing.TB, dir string, k testKey, edit ...func(*Config)) *Log {
	t.Helper()
	cfg := testConfig(dir, k)
	for _, e := range edit {
		e(&cfg)
	}
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testEntry is a distinct entry per (tag, i): the shape of a real one (32 bytes).
func testEntry(tag string, i int) []byte {
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(tag), uint64(i)))
	return h[:]
}

// appendConcurrently appends entries from workers goroutines and returns the index of each entry.
func appendConcurrently(t testing.TB, l *Log, entries [][]byte, workers int) []uint64 {
	t.Helper()
	ctx := ctxTimeout(t, 60*time.Second)
	idx := make([]uint64, len(entries))
	errs := make(chan error, len(entries))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				n, err := l.Append(ctx, entries[i])
				if err != nil {
					errs <- fmt.Errorf("append %d: %w", i, err)
					continue
				}
				idx[i] = n
			}
		})
	}
	for i := range entries {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return idx
}

// leavesInOrder returns the reference leaf hashes of entries placed at their indices.
func leavesInOrder(t testing.TB, entries [][]byte, idx []uint64) [][]byte {
	t.Helper()
	leaves := make([][]byte, len(entries))
	for i, n := range idx {
		if n >= uint64(len(entries)) || leaves[n] != nil {
			t.Fatalf("index %d of entry %d is out of range or taken twice", n, i)
		}
		leaves[n] = refLeafHash(entries[i])
	}
	return leaves
}

// treeState reads Tessera's private record of the integrated tree (what a restart resumes from).
func treeState(t testing.TB, dir string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, ".state", "treeState"))
	if err != nil {
		t.Fatal(err)
	}
	var ts struct{ Size uint64 }
	if err := json.Unmarshal(raw, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Size
}
