package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/mod/sumdb/note"
)

var (
	// ErrRollback: a log offered a checkpoint smaller than one seen before. The log (or whoever stands between
	// it and the client) is hiding entries; refuse loudly and keep the evidence (RollbackError).
	ErrRollback = errors.New("checkpoint rollback")
	// ErrSplitView: a log offered a checkpoint that is not consistent with one seen before: two different trees
	// under one key. Refuse loudly and keep the evidence (SplitViewError); this is what transparency detects.
	ErrSplitView = errors.New("split view")
)

// RollbackError says which sizes disagree and carries both signed checkpoints as evidence.
// errors.Is(err, ErrRollback) holds for it.
type RollbackError struct {
	Origin        string
	KnownSize     uint64 // the size seen before
	Size          uint64 // the smaller size offered now
	KnownRaw, Raw []byte // both signed checkpoints
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("checkpoint rollback: log %q offered tree size %d, smaller than size %d seen before", e.Origin, e.Size, e.KnownSize)
}

// Is makes errors.Is(err, ErrRollback) true.
func (e *RollbackError) Is(target error) bool { return target == ErrRollback }

// SplitViewError says which sizes and roots disagree and carries both signed checkpoints and the failing proof
// as evidence. errors.Is(err, ErrSplitView) holds for it.
type SplitViewError struct {
	Origin        string
	KnownSize     uint64
	KnownRoot     []byte
	Size          uint64
	Root          []byte
	KnownRaw, Raw []byte   // both signed checkpoints
	Proof         [][]byte // the consistency proof that failed, if any
	Reason        error
}

func (e *SplitViewError) Error() string {
	return fmt.Sprintf("split view: log %q offered tree size %d with root %x, not consistent with size %d with root %x seen before: %v",
		e.Origin, e.Size, e.Root, e.KnownSize, e.KnownRoot, e.Reason)
}

// Is makes errors.Is(err, ErrSplitView) true.
func (e *SplitViewError) Is(target error) bool { return target == ErrSplitView }

func (e *SplitViewError) Unwrap() error { return e.Reason }

// CheckpointStore remembers, in Dir, the largest verified checkpoint of each log (by origin), so that a client
// notices when a log shows it a smaller tree (rollback) or a different one (split view). The CLI uses the
// user's config directory. One file per origin, named by the SHA-256 of the origin, holds the signed checkpoint
// as received; updates are serialised with a lock file and written atomically (temporary file, fsync, rename).
type CheckpointStore struct{ Dir string }

// Latest returns the remembered checkpoint of the log whose verifier key is given, verified with that key. If
// none is remembered the error wraps fs.ErrNotExist.
func (s CheckpointStore) Latest(verifierKey string) ([]byte, Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("%w: verifier key: %v", ErrInvalidCheckpoint, err)
	}
	return s.load(v)
}

// Update verifies raw with verifierKey and compares it with the remembered checkpoint of that log:
//   - nothing remembered: raw is remembered (trust on first use);
//   - smaller: a *RollbackError (ErrRollback);
//   - equal size: the roots must be equal, otherwise a *SplitViewError (ErrSplitView);
//   - larger: consistencyProof(knownSize, newSize) must prove the remembered tree a prefix of the new one,
//     otherwise a *SplitViewError; if the proof cannot be obtained, an error that is neither (decide nothing).
//
// On success the larger checkpoint is remembered and returned. A remembered checkpoint that no longer verifies
// with verifierKey (the log changed its key) is an error: the user must remove it knowingly.
func (s CheckpointStore) Update(raw []byte, verifierKey string, consistencyProof func(from, to uint64) ([][]byte, error)) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: verifier key: %v", ErrInvalidCheckpoint, err)
	}
	cp, err := verifyCheckpoint(raw, v)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint store: %w", err)
	}
	unlock, err := s.lock(cp.Origin)
	if err != nil {
		return Checkpoint{}, err
	}
	defer unlock()

	knownRaw, known, err := s.load(v)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return cp, s.store(cp.Origin, raw)
	case err != nil:
		return Checkpoint{}, err
	case cp.Size < known.Size:
		return Checkpoint{}, &RollbackError{Origin: cp.Origin, KnownSize: known.Size, Size: cp.Size, KnownRaw: knownRaw, Raw: raw}
	case cp.Size == known.Size:
		if !bytes.Equal(cp.Hash, known.Hash) {
			return Checkpoint{}, &SplitViewError{Origin: cp.Origin, KnownSize: known.Size, KnownRoot: known.Hash,
				Size: cp.Size, Root: cp.Hash, KnownRaw: knownRaw, Raw: raw, Reason: errors.New("same size, different root")}
		}
		return known, nil
	}
	var p [][]byte
	if known.Size > 0 {
		if consistencyProof == nil {
			return Checkpoint{}, errors.New("checkpoint store: a consistency proof is needed and no way to fetch one was given")
		}
		if p, err = consistencyProof(known.Size, cp.Size); err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint store: fetch consistency proof %d -> %d: %w", known.Size, cp.Size, err)
		}
	}
	if err := VerifyConsistency(known.Size, cp.Size, known.Hash, cp.Hash, p); err != nil {
		return Checkpoint{}, &SplitViewError{Origin: cp.Origin, KnownSize: known.Size, KnownRoot: known.Hash,
			Size: cp.Size, Root: cp.Hash, KnownRaw: knownRaw, Raw: raw, Proof: p, Reason: err}
	}
	return cp, s.store(cp.Origin, raw)
}

func (s CheckpointStore) path(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(s.Dir, hex.EncodeToString(sum[:16])+".checkpoint")
}

func (s CheckpointStore) load(v note.Verifier) ([]byte, Checkpoint, error) {
	path := s.path(v.Name())
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("checkpoint store: %w", err)
	}
	cp, err := verifyCheckpoint(raw, v)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("checkpoint store: remembered checkpoint %s does not verify with this key (if the log's key really changed, remove the file): %w", path, err)
	}
	return raw, cp, nil
}

func (s CheckpointStore) store(origin string, raw []byte) error {
	path := s.path(origin)
	tmp, err := os.CreateTemp(s.Dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint store: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeSyncClose(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("checkpoint store: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("checkpoint store: %w", err)
	}
	if err := syncDir(s.Dir); err != nil {
		return fmt.Errorf("checkpoint store: %w", err)
	}
	return nil
}

// lock serialises Updates of one origin across processes (two CI jobs on one machine), so that a slower
// Update cannot overwrite a larger checkpoint with a smaller one.
func (s CheckpointStore) lock(origin string) (func(), error) {
	f, err := os.OpenFile(s.path(origin)+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint store: lock: %w", err)
	}
	return func() { f.Close() }, nil
}
