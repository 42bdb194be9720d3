package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// streamAheadSeconds is how far ahead of a soak's schedule its envelopes are signed, and maxStreamMemory bounds
// the envelopes held ahead: a soak's memory does not grow with its length.
const (
	streamAheadSeconds = 2
	maxStreamMemory    = 256 << 20
)

// errStreamEnded: every envelope of the run was handed out (an operation beyond the run's count).
var errStreamEnded = errors.New("no envelope left: the run's count is used up")

// envelopeStream signs the envelopes of a run on background goroutines while the run goes on, at most ahead
// envelopes ahead of the operations that take them. A soak uses it instead of signing every envelope before
// the clock starts, which bounded a soak by the memory its envelopes take (10 minutes at 1,500/s of 4 KiB is
// 3.7 GB). Every envelope is still distinct (envelope i of the maker), and each is handed out once.
type envelopeStream struct {
	ch     chan []byte
	done   chan struct{} // closed when every worker has stopped
	cancel context.CancelFunc
	wg     sync.WaitGroup
	waits  atomic.Int64 // operations that found no envelope ready and waited for one

	errOnce sync.Once
	err     error // the first signing error; read after ch is closed
}

// startStream starts workers goroutines signing envelopes 0 to n-1 of m, at most ahead of them waiting to be
// taken. Stop it with stop.
func startStream(ctx context.Context, m *maker, n int64, ahead, workers int) *envelopeStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &envelopeStream{ch: make(chan []byte, max(ahead, 1)), done: make(chan struct{}), cancel: cancel}
	var next atomic.Int64
	for range max(workers, 1) {
		s.wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				env, err := m.envelope(ctx, i)
				if err != nil {
					s.errOnce.Do(func() { s.err = err })
					cancel()
					return
				}
				select {
				case s.ch <- env:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		s.wg.Wait()
		close(s.done)
		close(s.ch)
	}()
	return s
}

// fill waits until the stream holds as many envelopes as it may, or has signed all it will: the clock of a run
// starts with its first seconds signed.
func (s *envelopeStream) fill(ctx context.Context, n int64) error {
	want := min(int64(cap(s.ch)), n)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for int64(len(s.ch)) < want {
		select {
		case <-s.done:
			if s.err != nil {
				return fmt.Errorf("signing envelopes: %w", s.err)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// next returns the next envelope, waiting for it to be signed if none is ready (counted in waits).
func (s *envelopeStream) next(ctx context.Context) ([]byte, error) {
	select {
	case env, ok := <-s.ch:
		return s.got(env, ok)
	default:
	}
	s.waits.Add(1)
	select {
	case env, ok := <-s.ch:
		return s.got(env, ok)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *envelopeStream) got(env []byte, ok bool) ([]byte, error) {
	if ok {
		return env, nil
	}
	if s.err != nil {
		return nil, fmt.Errorf("signing envelopes: %w", s.err)
	}
	return nil, errStreamEnded
}

// stop ends the signing and waits for the workers.
func (s *envelopeStream) stop() {
	s.cancel()
	s.wg.Wait()
}
