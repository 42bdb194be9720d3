package tlog

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestConcurrentAppends: many writers get unique, contiguous indices; every checkpoint the log publishes
// meanwhile is at least as large as the one before and consistent with it; the final root and every inclusion
// proof agree with the reference RFC 6962 implementation.
func TestConcurrentAppends(t *testing.T) {
	const n = 1500
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, t.TempDir(), k)
	ctx := ctxTimeout(t, 60*time.Second)

	type seen struct {
		raw []byte
		cp  Checkpoint
	}
	var (
		observed []seen
		stop     = make(chan struct{})
		watcher  sync.WaitGroup
	)
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			raw, cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Errorf("Checkpoint: %v", err)
				return
			}
			if len(observed) == 0 || cp.Size != observed[len(observed)-1].cp.Size {
				observed = append(observed, seen{raw, cp})
			}
		}
	})

	entries := make([][]byte, n)
	for i := range entries {
		entries[i] = testEntry("concurrent", i)
	}
	// Three waves, each waited for, so that the watcher sees at least three published checkpoints.
	var idx []uint64
	var final Checkpoint
	for w := range 3 {
		wave := appendConcurrently(t, l, entries[w*n/3:(w+1)*n/3], 64)
		idx = append(idx, wave...)
		_, cp, err := l.AwaitIntegration(ctx, maxIndex(idx))
		if err != nil {
			t.Fatal(err)
		}
		final = cp
	}
	close(stop)
	watcher.Wait()

	sorted := slices.Clone(idx)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != uint64(i) {
			t.Fatalf("indices are not 0..%d: position %d holds %d", n-1, i, v)
		}
	}
	if final.Size != n {
		t.Fatalf("final checkpoint size %d, want %d", final.Size, n)
	}
	leaves := leavesInOrder(t, entries, idx)
	if got, want := final.Hash, refMTH(leaves); !bytes.Equal(got, want) {
		t.Fatalf("checkpoint root %x, reference root %x", got, want)
	}

	// Monotonic, consistent checkpoints, each one's root matching the reference root of its prefix.
	if len(observed) == 0 || observed[len(observed)-1].cp.Size != final.Size {
		observed = append(observed, seen{nil, final})
	}
	for i, o := range observed {
		if got, want := o.cp.Hash, refMTH(leaves[:o.cp.Size]); !bytes.Equal(got, want) {
			t.Fatalf("checkpoint %d (size %d): root %x, reference %x", i, o.cp.Size, got, want)
		}
		if i == 0 {
			continue
		}
		prev := observed[i-1].cp
		if o.cp.Size < prev.Size {
			t.Fatalf("checkpoint size went from %d to %d", prev.Size, o.cp.Size)
		}
		p, err := l.ConsistencyProof(ctx, prev.Size, o.cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyConsistency(prev.Size, o.cp.Size, prev.Hash, o.cp.Hash, p); err != nil {
			t.Fatal(err)
		}
		if prev.Size > 0 && !refVerifyConsistency(prev.Size, o.cp.Size, prev.Hash, o.cp.Hash, p) {
			t.Fatalf("reference rejects consistency proof %d -> %d", prev.Size, o.cp.Size)
		}
		if prev.Size > 0 && !equalHashes(p, refProof(int(prev.Size), leaves[:o.cp.Size])) {
			t.Fatalf("consistency proof %d -> %d differs from the reference", prev.Size, o.cp.Size)
		}
	}
	for _, r := range [][2]uint64{{100, 1000}, {1, 257}, {256, 1499}} {
		p, err := l.ConsistencyProof(ctx, r[0], r[1])
		if err != nil || !refVerifyConsistency(r[0], r[1], refMTH(leaves[:r[0]]), refMTH(leaves[:r[1]]), p) {
			t.Fatalf("consistency proof %d -> %d: %v", r[0], r[1], err)
		}
	}
	if len(observed) < 3 {
		t.Errorf("saw only %d checkpoints while appending; want several", len(observed))
	}

	// Every inclusion proof, in the final tree, in one published intermediate tree and in trees of sizes that
	// were probably never a batch boundary (no partial tile of their own on disk).
	sizes := []uint64{final.Size, 1000, 257}
	if mid := observed[len(observed)/2].cp; mid.Size > 0 && mid.Size < final.Size {
		sizes = append(sizes, mid.Size)
	}
	for _, size := range sizes {
		root := refMTH(leaves[:size])
		for i := range size {
			p, err := l.InclusionProof(ctx, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if !refVerifyInclusion(i, size, leaves[i], p, root) {
				t.Fatalf("reference rejects inclusion proof of %d in %d", i, size)
			}
			if !equalHashes(p, refPath(int(i), leaves[:size])) {
				t.Fatalf("inclusion proof of %d in %d differs from the reference path", i, size)
			}
			if err := VerifyInclusion(leaves[i], i, size, p, root); err != nil {
				t.Fatal(err)
			}
		}
		// The same proofs in one call, in any order, repeated indices too.
		indices := []uint64{size - 1, 0, size / 2, 0, 255 % size, 256 % size}
		batch, err := l.InclusionProofs(ctx, indices, size)
		if err != nil || len(batch) != len(indices) {
			t.Fatalf("InclusionProofs in %d: %d proofs, %v", size, len(batch), err)
		}
		for k, i := range indices {
			if !equalHashes(batch[k], refPath(int(i), leaves[:size])) {
				t.Fatalf("InclusionProofs: the proof of %d in %d differs from the reference path", i, size)
			}
		}
	}
	if _, err := l.InclusionProofs(ctx, []uint64{0, n}, n); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("InclusionProofs of an index beyond the tree = %v, want ErrOutOfRange", err)
	}
	if _, err := l.InclusionProofs(ctx, []uint64{0}, n+1); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("InclusionProofs beyond the checkpoint = %v, want ErrOutOfRange", err)
	}

	// Entries streams the log back in order and authenticates it; Entry reads one.
	var got [][]byte
	if err := l.Entries(ctx, 0, n, func(i uint64, e []byte) error {
		if i != uint64(len(got)) {
			t.Fatalf("Entries gave index %d after %d entries", i, len(got))
		}
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if !bytes.Equal(refLeafHash(e), leaves[i]) {
			t.Fatalf("Entries: entry %d differs", i)
		}
	}
	for _, r := range [][2]uint64{{1, 2}, {255, 257}, {300, 1000}, {511, n}, {n, n}} {
		var count uint64
		if err := l.Entries(ctx, r[0], r[1], func(i uint64, e []byte) error {
			if i != r[0]+count || !bytes.Equal(refLeafHash(e), leaves[i]) {
				t.Fatalf("Entries(%d, %d): bad entry at %d", r[0], r[1], i)
			}
			count++
			return nil
		}); err != nil {
			t.Fatalf("Entries(%d, %d): %v", r[0], r[1], err)
		}
		if count != r[1]-r[0] {
			t.Fatalf("Entries(%d, %d) gave %d entries", r[0], r[1], count)
		}
	}
	for _, i := range []uint64{0, 255, 256, n - 1} {
		e, err := l.Entry(ctx, i)
		if err != nil || !bytes.Equal(refLeafHash(e), leaves[i]) {
			t.Fatalf("Entry(%d) = %x, %v", i, e, err)
		}
	}
	if _, err := l.Entry(ctx, n); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Entry(size) = %v, want ErrOutOfRange", err)
	}
	if _, err := l.InclusionProof(ctx, 0, n+1); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("InclusionProof beyond the checkpoint = %v, want ErrOutOfRange", err)
	}
	if _, err := l.ConsistencyProof(ctx, 10, n+1); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("ConsistencyProof beyond the checkpoint = %v, want ErrOutOfRange", err)
	}
	if err := l.Entries(ctx, 0, n+1, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Entries beyond the checkpoint = %v, want ErrOutOfRange", err)
	}
}

func equalHashes(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// TestDuplicateAppend: the same entry from 10 goroutines, and again later, is one leaf.
func TestDuplicateAppend(t *testing.T) {
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, t.TempDir(), k)
	ctx := ctxTimeout(t, 30*time.Second)

	first := appendConcurrently(t, l, [][]byte{testEntry("before", 0)}, 1)[0]
	dup := testEntry("dup", 0)
	entries := make([][]byte, 10)
	for i := range entries {
		entries[i] = dup
	}
	idx := appendConcurrently(t, l, entries, 10)
	for _, i := range idx {
		if i != idx[0] {
			t.Fatalf("the same entry got indices %v", idx)
		}
	}
	if idx[0] != first+1 {
		t.Fatalf("duplicate got index %d, want %d", idx[0], first+1)
	}
	again, err := l.Append(ctx, dup)
	if err != nil || again != idx[0] {
		t.Fatalf("appending it again later: %d, %v; want %d", again, err, idx[0])
	}
	next, err := l.Append(ctx, testEntry("after", 0))
	if err != nil || next != idx[0]+1 {
		t.Fatalf("next entry: %d, %v; want %d (one leaf for the duplicate)", next, err, idx[0]+1)
	}
	_, cp, err := l.AwaitIntegration(ctx, next)
	if err != nil || cp.Size != next+1 {
		t.Fatalf("checkpoint %+v, %v; want size %d", cp, err, next+1)
	}
}

func TestAppendRefusals(t *testing.T) {
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, t.TempDir(), k)
	if _, err := l.Append(context.Background(), make([]byte, MaxEntrySize+1)); err == nil {
		t.Error("an entry over 64 KiB was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, testEntry("cancelled", 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled ctx = %v", err)
	}
	if _, _, err := l.AwaitIntegration(ctx, 1<<40); !errors.Is(err, context.Canceled) {
		t.Errorf("AwaitIntegration with a cancelled ctx = %v", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), testEntry("closed", 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}

// TestOpenRefusals: one Log per directory; a log is only reopened with its own key.
func TestOpenRefusals(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	l := openTestLog(t, dir, k)
	if _, err := Open(context.Background(), testConfig(dir, k)); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
	if _, err := l.Append(ctxTimeout(t, 10*time.Second), testEntry("x", 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	other := newTestKey(t, testOrigin)
	if _, err := Open(context.Background(), testConfig(dir, other)); err == nil {
		t.Error("opened the log with another key of the same origin")
	}
	withoutKey := testConfig(dir, other)
	withoutKey.VerifierKey = ""
	if _, err := Open(context.Background(), withoutKey); err == nil {
		t.Error("opened the log with another key of the same origin (no verifier key given)")
	}
	renamed := newTestKey(t, "attestd.test/other")
	if _, err := Open(context.Background(), testConfig(dir, renamed)); err == nil {
		t.Error("opened the log with a key of another origin")
	}
	mismatched := testConfig(t.TempDir(), k)
	mismatched.VerifierKey = other.vkey
	if _, err := Open(context.Background(), mismatched); err == nil {
		t.Error("opened a log whose signer and verifier key do not match")
	}
	slow := testConfig(t.TempDir(), k)
	slow.CheckpointInterval = 50 * time.Millisecond
	if _, err := Open(context.Background(), slow); err == nil {
		t.Error("accepted a checkpoint interval below Tessera's minimum")
	}
	// After the failed attempts the directory is still usable.
	l = openTestLog(t, dir, k)
	if _, cp, err := l.Checkpoint(context.Background()); err != nil || cp.Size != 1 {
		t.Fatalf("reopened: %+v, %v", cp, err)
	}
}

// TestOpenWithoutVerifierKey: the verifier key is optional; the Log then checks its checkpoints by signing
// again (Ed25519 note signatures are deterministic).
func TestOpenWithoutVerifierKey(t *testing.T) {
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, t.TempDir(), k, func(c *Config) { c.VerifierKey = "" })
	ctx := ctxTimeout(t, 20*time.Second)
	n, err := l.Append(ctx, testEntry("no vkey", 0))
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := l.AwaitIntegration(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCheckpoint(raw, k.vkey); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Entry(ctx, n); err != nil {
		t.Fatal(err)
	}
	if l.VerifierKey() != "" {
		t.Errorf("VerifierKey() = %q without one configured", l.VerifierKey())
	}
	if size, err := l.IntegratedSize(ctx); err != nil || size != 1 {
		t.Fatalf("IntegratedSize = %d, %v", size, err)
	}
	// The fallback verifier accepts this signer's signatures only.
	other := newTestKey(t, testOrigin)
	forged := signedNote(t, other, string(raw[:bytes.Index(raw, []byte("\n\n"))+1]))
	if _, err := verifyCheckpoint(forged, l.Verifier()); err == nil {
		t.Fatal("the re-signing verifier accepted another key's checkpoint")
	}
}
