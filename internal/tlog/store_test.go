package tlog

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// grow appends n entries tagged tag and returns the checkpoint that covers them.
func grow(t *testing.T, l *Log, tag string, from, n int) []byte {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	entries := make([][]byte, n)
	for i := range entries {
		entries[i] = testEntry(tag, from+i)
	}
	idx := appendConcurrently(t, l, entries, 1) // in order, so that two logs given the same entries agree
	raw, _, err := l.AwaitIntegration(ctx, maxIndex(idx))
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the checkpoint that covers exactly what was appended (a batch may be published in parts).
	for {
		var cp Checkpoint
		raw, cp, err = l.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size == uint64(from+n) {
			return raw
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func maxIndex(idx []uint64) uint64 {
	var m uint64
	for _, i := range idx {
		m = max(m, i)
	}
	return m
}

func proofsFrom(l *Log) func(from, to uint64) ([][]byte, error) {
	return func(from, to uint64) ([][]byte, error) {
		return l.ConsistencyProof(context.Background(), from, to)
	}
}

func TestCheckpointStore(t *testing.T) {
	k := newTestKey(t, testOrigin)
	honest := openTestLog(t, t.TempDir(), k)
	// A second log under the same key, sharing the first 5 entries and then diverging: a genuine split view.
	forked := openTestLog(t, t.TempDir(), k)

	store := CheckpointStore{Dir: filepath.Join(t.TempDir(), "config", "attest")}
	if _, _, err := store.Latest(k.vkey); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Latest on an empty store = %v, want fs.ErrNotExist", err)
	}

	h5 := grow(t, honest, "shared", 0, 5)
	f5 := grow(t, forked, "shared", 0, 5)
	if !bytes.Equal(h5, f5) {
		t.Fatal("same entries, same key: the checkpoints should be identical")
	}
	if cp, err := store.Update(h5, k.vkey, nil); err != nil || cp.Size != 5 {
		t.Fatalf("first checkpoint (trust on first use): %+v, %v", cp, err)
	}
	h12 := grow(t, honest, "honest", 5, 7)
	f12 := grow(t, forked, "forked", 5, 7)
	if cp, err := store.Update(h12, k.vkey, proofsFrom(honest)); err != nil || cp.Size != 12 {
		t.Fatalf("growth 5 -> 12: %+v, %v", cp, err)
	}

	// Same size, different root.
	_, err := store.Update(f12, k.vkey, proofsFrom(forked))
	var sv *SplitViewError
	if !errors.Is(err, ErrSplitView) || !errors.As(err, &sv) || sv.KnownSize != 12 || sv.Size != 12 || !bytes.Equal(sv.Raw, f12) || !bytes.Equal(sv.KnownRaw, h12) {
		t.Fatalf("forked checkpoint of equal size: %v", err)
	}
	// Larger, but its log's own consistency proof does not lead back to the remembered root.
	f20 := grow(t, forked, "forked", 12, 8)
	_, err = store.Update(f20, k.vkey, proofsFrom(forked))
	if !errors.Is(err, ErrSplitView) || !errors.As(err, &sv) || sv.KnownSize != 12 || sv.Size != 20 || len(sv.Proof) == 0 {
		t.Fatalf("forked checkpoint of larger size: %v", err)
	}
	if !errors.Is(err, ErrInvalidProof) {
		t.Errorf("split view should carry the failing proof's error: %v", err)
	}
	// A proof that cannot be fetched decides nothing.
	if _, err := store.Update(f20, k.vkey, func(uint64, uint64) ([][]byte, error) { return nil, errors.New("offline") }); err == nil || errors.Is(err, ErrSplitView) {
		t.Errorf("unavailable proof: %v", err)
	}
	// Rollback to the honest log's earlier checkpoint.
	_, err = store.Update(h5, k.vkey, proofsFrom(honest))
	var rb *RollbackError
	if !errors.Is(err, ErrRollback) || !errors.As(err, &rb) || rb.KnownSize != 12 || rb.Size != 5 {
		t.Fatalf("rollback: %v", err)
	}
	for _, want := range []string{"12", "5", testOrigin} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("rollback error %q does not mention %q", err, want)
		}
	}
	// The refusals changed nothing; honest growth still works, and re-offering the same checkpoint is fine.
	if raw, cp, err := store.Latest(k.vkey); err != nil || cp.Size != 12 || !bytes.Equal(raw, h12) {
		t.Fatalf("after refusals the store holds %+v, %v", cp, err)
	}
	if _, err := store.Update(h12, k.vkey, proofsFrom(honest)); err != nil {
		t.Fatalf("same checkpoint again: %v", err)
	}
	h30 := grow(t, honest, "honest", 12, 18)
	if cp, err := store.Update(h30, k.vkey, proofsFrom(honest)); err != nil || cp.Size != 30 {
		t.Fatalf("growth 12 -> 30: %+v, %v", cp, err)
	}

	// A checkpoint that does not verify is refused before anything else.
	other := newTestKey(t, testOrigin)
	if _, err := store.Update(h30, other.vkey, nil); !errors.Is(err, ErrInvalidCheckpoint) {
		t.Errorf("checkpoint under the wrong key: %v", err)
	}
	// The log changed its key (same origin): the remembered checkpoint no longer verifies; say so.
	o := openTestLog(t, t.TempDir(), other)
	if _, err := store.Update(grow(t, o, "new key", 0, 1), other.vkey, proofsFrom(o)); err == nil {
		t.Error("a remembered checkpoint signed by another key was silently replaced")
	}

	entries, err := os.ReadDir(store.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, _ := e.Info(); info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", e.Name(), info.Mode())
		}
		if bytes.Contains([]byte(e.Name()), []byte(".tmp-")) {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
