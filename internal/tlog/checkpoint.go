package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// pollInterval is how often the Log re-reads the published checkpoint while someone waits in
// AwaitIntegration. Tessera publishes at most once per CheckpointInterval, so this bounds the added latency.
const pollInterval = 10 * time.Millisecond

// checkpointWatch holds the latest checkpoint this Log has read from disk and verified.
type checkpointWatch struct {
	refreshMu sync.Mutex // serialises refresh: read, verify, compare, store

	mu      sync.Mutex // guards the fields below
	raw     []byte
	cp      Checkpoint
	err     error         // integrity error of the last refresh, if any
	changed chan struct{} // closed and replaced whenever raw or err changes

	waiters     atomic.Int32
	watcherDone chan struct{}
}

func (w *checkpointWatch) init() {
	w.changed = make(chan struct{})
	w.watcherDone = make(chan struct{})
}

func (w *checkpointWatch) snapshot() ([]byte, Checkpoint, error, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.raw, w.cp, w.err, w.changed
}

func (w *checkpointWatch) set(raw []byte, cp Checkpoint, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.raw, w.cp = raw, cp
	}
	w.err = err
	close(w.changed)
	w.changed = make(chan struct{})
}

// Checkpoint returns the latest published checkpoint, as raw signed note bytes and parsed, verified with the
// log's own verifier. It also checks the log against itself: a checkpoint smaller than one this Log has seen
// before is an ErrRollback, and one that is not consistent with it an ErrSplitView (both wrapped), which on a
// local disk means someone rewrote the log's files.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, Checkpoint, error) {
	raw, cp, err := l.refresh(ctx)
	return bytes.Clone(raw), cp.clone(), err
}

func (c Checkpoint) clone() Checkpoint {
	c.Hash = bytes.Clone(c.Hash)
	return c
}

func (l *Log) refresh(ctx context.Context) ([]byte, Checkpoint, error) {
	w := &l.cp
	w.refreshMu.Lock()
	defer w.refreshMu.Unlock()
	prevRaw, prev, prevErr, _ := w.snapshot()

	raw, err := l.reader.ReadCheckpoint(ctx)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("tlog: read checkpoint: %w", err)
	}
	if prevRaw != nil && bytes.Equal(raw, prevRaw) {
		if prevErr != nil {
			w.set(prevRaw, prev, nil)
		}
		return prevRaw, prev, nil
	}
	cp, err := l.checkNext(ctx, raw, prevRaw, prev)
	if err != nil {
		w.set(nil, Checkpoint{}, err)
		return nil, Checkpoint{}, err
	}
	w.set(raw, cp, nil)
	return raw, cp, nil
}

// checkNext verifies raw and checks that it extends prev (nil prevRaw: nothing seen yet).
func (l *Log) checkNext(ctx context.Context, raw, prevRaw []byte, prev Checkpoint) (Checkpoint, error) {
	cp, err := verifyCheckpoint(raw, l.verifier)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tlog: published checkpoint: %w", err)
	}
	if prevRaw == nil {
		return cp, nil
	}
	switch {
	case cp.Size < prev.Size:
		return Checkpoint{}, fmt.Errorf("tlog: published checkpoint: %w", &RollbackError{
			Origin: l.origin, KnownSize: prev.Size, Size: cp.Size, KnownRaw: prevRaw, Raw: raw})
	case cp.Size == prev.Size && !bytes.Equal(cp.Hash, prev.Hash):
		return Checkpoint{}, fmt.Errorf("tlog: published checkpoint: %w", &SplitViewError{
			Origin: l.origin, KnownSize: prev.Size, KnownRoot: prev.Hash, Size: cp.Size, Root: cp.Hash,
			KnownRaw: prevRaw, Raw: raw, Reason: errors.New("same size, different root")})
	case cp.Size > prev.Size && prev.Size > 0:
		p, err := l.consistencyProof(ctx, prev.Size, cp.Size, cp.Size)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("tlog: consistency of published checkpoints %d and %d: %w", prev.Size, cp.Size, err)
		}
		if err := VerifyConsistency(prev.Size, cp.Size, prev.Hash, cp.Hash, p); err != nil {
			return Checkpoint{}, fmt.Errorf("tlog: published checkpoint: %w", &SplitViewError{
				Origin: l.origin, KnownSize: prev.Size, KnownRoot: prev.Hash, Size: cp.Size, Root: cp.Hash,
				KnownRaw: prevRaw, Raw: raw, Proof: p, Reason: err})
		}
	}
	return cp, nil
}

// AwaitIntegration blocks until a published checkpoint covers index (its size is larger than index) and returns
// it, raw and parsed, as Checkpoint does. It returns early when ctx ends, when the Log is closed, or when the
// published checkpoint fails verification.
func (l *Log) AwaitIntegration(ctx context.Context, index uint64) ([]byte, Checkpoint, error) {
	w := &l.cp
	w.waiters.Add(1)
	defer w.waiters.Add(-1)
	if raw, cp, err := l.refresh(ctx); err == nil && cp.Size > index {
		return bytes.Clone(raw), cp.clone(), nil
	}
	for {
		raw, cp, err, changed := w.snapshot()
		switch {
		case err != nil:
			return nil, Checkpoint{}, err
		case raw != nil && cp.Size > index:
			return bytes.Clone(raw), cp.clone(), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, Checkpoint{}, fmt.Errorf("tlog: await integration of index %d (published size %d): %w", index, cp.Size, ctx.Err())
		case <-l.done:
			return nil, Checkpoint{}, fmt.Errorf("tlog: await integration of index %d: %w", index, ErrClosed)
		}
	}
}

// watch re-reads the published checkpoint every pollInterval while anyone waits in AwaitIntegration.
func (l *Log) watch() {
	defer close(l.cp.watcherDone)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var lastErr string // log each distinct failure once, not every poll
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		if l.cp.waiters.Load() == 0 {
			continue
		}
		_, _, err := l.refresh(l.ctx)
		switch {
		case err == nil:
			lastErr = ""
		case l.ctx.Err() == nil && err.Error() != lastErr:
			lastErr = err.Error()
			l.logger.LogAttrs(l.ctx, levelFor(err), "transparency log checkpoint", errAttr(err))
		}
	}
}

// levelFor logs integrity failures as errors and everything else (a file being replaced, a slow disk) as a
// warning.
func levelFor(err error) slog.Level {
	for _, target := range []error{ErrInvalidCheckpoint, ErrInvalidProof, ErrRollback, ErrSplitView, ErrCorrupt} {
		if errors.Is(err, target) {
			return slog.LevelError
		}
	}
	return slog.LevelWarn
}

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }
