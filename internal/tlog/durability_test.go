package tlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The child process: TestChild does nothing unless the parent test started it with TLOG_CHILD set.
//
//	TLOG_CHILD=append   open the log in TLOG_DIR with the key in TLOG_KEYDIR, append from 16 goroutines and
//	                    print "ack <index> <entry hex>" for every acknowledged append, until killed
//	TLOG_CHILD=holdlock take Tessera's sequencing lock (fcntl, as Tessera does) and print "locked", until killed
func TestChild(t *testing.T) {
	switch os.Getenv("TLOG_CHILD") {
	case "":
		t.Skip("helper process for the crash tests")
	case "append":
		childAppend(t)
	case "holdlock":
		f, err := os.OpenFile(filepath.Join(os.Getenv("TLOG_DIR"), ".state", "treeState.lock"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
		if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
			t.Fatal(err)
		}
		fmt.Println("locked")
		select {}
	}
}

func childAppend(t *testing.T) {
	signer, vkey, err := LoadOrCreateKey(os.Getenv("TLOG_KEYDIR"), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), testConfig(os.Getenv("TLOG_DIR"), testKey{signer, vkey}))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	for w := range 16 {
		go func() {
			for i := 0; ; i++ {
				e := testEntry(fmt.Sprintf("crash-%d", w), i)
				n, err := l.Append(context.Background(), e)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					continue
				}
				mu.Lock()
				fmt.Printf("ack %d %x\n", n, e)
				mu.Unlock()
			}
		}()
	}
	select {}
}

func startChild(t *testing.T, mode, dir, keyDir string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TLOG_CHILD="+mode, "TLOG_DIR="+dir, "TLOG_KEYDIR="+keyDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(stdout)
}

// TestCrash kills an appending process with SIGKILL and reopens its log: every acknowledged entry is there at
// its index, the log verifies, and appends continue at the next index.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	keyDir, dir := t.TempDir(), t.TempDir()
	k, vkey, err := LoadOrCreateKey(keyDir, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		cmd, out := startChild(t, "append", dir, keyDir)
		acked := map[uint64][]byte{}
		for len(acked) < 300 && out.Scan() {
			var n uint64
			var h string
			if _, err := fmt.Sscanf(out.Text(), "ack %d %s", &n, &h); err != nil {
				continue
			}
			e, _ := hex.DecodeString(h)
			if prev, dup := acked[n]; dup && !bytes.Equal(prev, e) {
				t.Fatalf("index %d acknowledged for two entries", n)
			}
			acked[n] = e
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for out.Scan() { // acknowledgements already written before the kill count too
			var n uint64
			var h string
			if _, err := fmt.Sscanf(out.Text(), "ack %d %s", &n, &h); err == nil {
				acked[n], _ = hex.DecodeString(h)
			}
		}
		cmd.Wait()
		if len(acked) < 300 {
			t.Fatalf("round %d: the child acknowledged only %d entries", round, len(acked))
		}

		size := treeState(t, dir) // what Tessera had durably integrated when killed
		l := openTestLog(t, dir, testKey{k, vkey})
		ctx := ctxTimeout(t, 30*time.Second)
		if got, err := l.IntegratedSize(ctx); err != nil || got != size {
			t.Fatalf("round %d: IntegratedSize after restart = %d, %v; want %d", round, got, err, size)
		}
		if _, cp, err := l.AwaitIntegration(ctx, size-1); err != nil || cp.Size != size {
			t.Fatalf("round %d: after restart the checkpoint is %+v, %v; want size %d", round, cp, err, size)
		}
		for n, e := range acked {
			if n >= size {
				t.Fatalf("round %d: acknowledged index %d is beyond the durable tree size %d", round, n, size)
			}
			got, err := l.Entry(ctx, n)
			if err != nil || !bytes.Equal(got, e) {
				t.Fatalf("round %d: acknowledged entry %d: got %x, %v; want %x", round, n, got, err, e)
			}
		}
		if err := l.Entries(ctx, 0, size, func(uint64, []byte) error { return nil }); err != nil {
			t.Fatalf("round %d: the log does not verify after the crash: %v", round, err)
		}
		n, err := l.Append(ctx, testEntry(fmt.Sprintf("after-crash-%d", round), 0))
		if err != nil || n != size {
			t.Fatalf("round %d: append after restart got %d, %v; want index %d", round, n, err, size)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReopen closes a log and opens it again: entries stay, appends continue, checkpoints stay consistent.
func TestReopen(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	ctx := ctxTimeout(t, 30*time.Second)
	entries := make([][]byte, 300)
	for i := range entries {
		entries[i] = testEntry("reopen", i)
	}
	cfg := testConfig(dir, k)
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := appendConcurrently(t, l, entries[:290], 16)
	if err := l.Close(ctx); err != nil { // Close publishes a checkpoint covering every acknowledged entry
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := VerifyCheckpoint(before, k.vkey); err != nil || cp.Size != 290 {
		t.Fatalf("checkpoint after Close: %+v, %v", cp, err)
	}

	l = openTestLog(t, dir, k)
	for i, e := range entries[:290] {
		if got, err := l.Entry(ctx, idx[i]); err != nil || !bytes.Equal(got, e) {
			t.Fatalf("entry %d after reopen: %x, %v", idx[i], got, err)
		}
	}
	n, err := l.Append(ctx, entries[290])
	if err != nil || n != 290 {
		t.Fatalf("first append after reopen: %d, %v; want 290", n, err)
	}
	store := CheckpointStore{Dir: t.TempDir()}
	if _, err := store.Update(before, k.vkey, nil); err != nil {
		t.Fatal(err)
	}
	raw, _, err := l.AwaitIntegration(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(raw, k.vkey, proofsFrom(l)); err != nil {
		t.Fatalf("checkpoints across the restart are not consistent: %v", err)
	}
}

// TestUnwritable: when the log directory cannot be written, Append fails (within its deadline, with Tessera's
// error), and works again once the directory is repaired.
func TestUnwritable(t *testing.T) {
	breakers := map[string]func(t *testing.T, dir string) (repair func()){
		// Tiles go under tile/: make it a file.
		"tile directory replaced by a file": func(t *testing.T, dir string) func() {
			tile := filepath.Join(dir, "tile")
			if err := os.Rename(tile, tile+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tile, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return func() {
				os.Remove(tile)
				os.Rename(tile+".moved", tile)
			}
		},
		// Every directory read-only: chmod 0500, or, as root (whom chmod does not stop), the immutable attribute.
		"read-only directories": func(t *testing.T, dir string) func() {
			var dirs []string
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			set, unset := func(d string) error { return os.Chmod(d, 0o500) }, func(d string) error { return os.Chmod(d, 0o755) }
			if os.Geteuid() == 0 {
				chattr, err := exec.LookPath("chattr")
				if err != nil {
					t.Skip("running as root without chattr: no way to make a directory read-only (the other case covers this)")
				}
				set = func(d string) error { return exec.Command(chattr, "+i", d).Run() }
				unset = func(d string) error { return exec.Command(chattr, "-i", d).Run() }
			}
			repair := func() {
				for _, d := range dirs {
					unset(d)
				}
			}
			t.Cleanup(repair)
			for _, d := range dirs {
				if err := set(d); err != nil {
					repair()
					t.Skipf("cannot make %s read-only here: %v", d, err)
				}
			}
			return repair
		},
	}
	for name, breakDir := range breakers {
		t.Run(name, func(t *testing.T) {
			k := newTestKey(t, testOrigin)
			dir := t.TempDir()
			l := openTestLog(t, dir, k)
			ctx := ctxTimeout(t, 30*time.Second)
			if _, err := l.Append(ctx, testEntry("ok", 0)); err != nil {
				t.Fatal(err)
			}
			repair := breakDir(t, dir)
			deadline, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := l.Append(deadline, testEntry("broken", 0))
			if err == nil {
				repair()
				t.Fatal("Append succeeded on an unwritable log directory")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Append ran into its deadline instead of reporting the write error: %v", err)
			}
			t.Logf("Append failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			repair()
			n, err := l.Append(ctx, testEntry("repaired", 0))
			if err != nil || n != 1 {
				t.Fatalf("after repair: %d, %v; want index 1", n, err)
			}
			if _, _, err := l.AwaitIntegration(ctx, n); err != nil {
				t.Fatal(err)
			}
			if err := l.Entries(ctx, 0, n+1, func(uint64, []byte) error { return nil }); err != nil {
				t.Fatalf("the log does not verify after the repair: %v", err)
			}
		})
	}
}

// TestStuckSequencer: when Tessera cannot make progress (another process holds its lock), Append returns at
// its ctx deadline, further appends past MaxOutstanding are pushed back, and everything completes once the
// lock is released.
func TestStuckSequencer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	l := openTestLog(t, dir, k, func(c *Config) { c.MaxOutstanding = 1 })
	cmd, out := startChild(t, "holdlock", dir, "")
	if !out.Scan() || out.Text() != "locked" {
		t.Fatalf("child did not take the lock: %q", out.Text())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.Append(ctx, testEntry("stuck", 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append with a stuck sequencer = %v, want the ctx deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Append took %v to honour a 300ms deadline", d)
	}
	if _, err := l.Append(context.Background(), testEntry("more", 0)); !errors.Is(err, ErrPushback) {
		t.Fatalf("Append past MaxOutstanding = %v, want ErrPushback", err)
	}

	cmd.Process.Kill()
	cmd.Wait()
	ctx2 := ctxTimeout(t, 20*time.Second)
	// The abandoned append completes now; until it does, a client applying back-pressure retries.
	n, err := l.Append(ctx2, testEntry("stuck", 0))
	for errors.Is(err, ErrPushback) && ctx2.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		n, err = l.Append(ctx2, testEntry("stuck", 0))
	}
	// Same entry, same leaf: the in-memory antispam returns the abandoned append's index.
	if err != nil || n != 0 {
		t.Fatalf("retrying the abandoned entry: %d, %v; want index 0", n, err)
	}
	// The abandoned append may still hold its slot for a moment after its index is known (MaxOutstanding is 1):
	// a pushback then is back-pressure, to be retried, not a failure.
	n, err = l.Append(ctx2, testEntry("more", 0))
	for errors.Is(err, ErrPushback) && ctx2.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		n, err = l.Append(ctx2, testEntry("more", 0))
	}
	if err != nil || n != 1 {
		t.Fatalf("after the lock is released: %d, %v; want index 1", n, err)
	}
}

// TestOpenRefusesStaleState: a log whose Tessera state is missing or older than its published checkpoint is
// not opened, since Tessera would overwrite published entries and publish a smaller tree.
func TestOpenRefusesStaleState(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	ctx := ctxTimeout(t, 30*time.Second)
	l, err := Open(ctx, testConfig(dir, k))
	if err != nil {
		t.Fatal(err)
	}
	appendConcurrently(t, l, [][]byte{testEntry("stale", 0), testEntry("stale", 1)}, 1)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, ".state", "treeState")
	oldState, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	l, err = Open(ctx, testConfig(dir, k))
	if err != nil {
		t.Fatal(err)
	}
	appendConcurrently(t, l, [][]byte{testEntry("stale", 2)}, 1)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	published, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))

	newState, _ := os.ReadFile(statePath)
	os.WriteFile(statePath, oldState, 0o644) // restored from an older backup
	if _, err := Open(ctx, testConfig(dir, k)); err == nil {
		t.Fatal("opened a log whose tree state is behind its checkpoint")
	}
	os.Rename(filepath.Join(dir, ".state"), filepath.Join(dir, ".state-lost"))
	if _, err := Open(ctx, testConfig(dir, k)); err == nil {
		t.Fatal("opened a log whose tree state is missing")
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "checkpoint")); !bytes.Equal(now, published) {
		t.Fatal("a refused Open changed the published checkpoint")
	}
	os.RemoveAll(filepath.Join(dir, ".state"))
	os.Rename(filepath.Join(dir, ".state-lost"), filepath.Join(dir, ".state"))
	os.WriteFile(statePath, newState, 0o644)
	l = openTestLog(t, dir, k)
	if _, cp, err := l.Checkpoint(ctx); err != nil || cp.Size != 3 {
		t.Fatalf("after repair: %+v, %v", cp, err)
	}
}
