package server

import (
	"context"
	"errors"
	"testing"
)

// countingLog hands out consecutive indices, or fails when told to: enough to check the sequencer's
// arithmetic, which the end-to-end kill test exercises with the real log.
type countingLog struct {
	Log
	next uint64
	fail bool
}

func (l *countingLog) Append(context.Context, []byte) (uint64, error) {
	if l.fail {
		return 0, errors.New("log down")
	}
	l.next++
	return l.next - 1, nil
}

func TestSequencerWatermark(t *testing.T) {
	ctx := context.Background()
	lg := &countingLog{next: 10}
	q := newSequencer(lg, 10, map[string]uint64{"orphan": 4})
	if w := q.watermark(); w != 10 {
		t.Fatalf("fresh watermark %d, want 10", w)
	}
	a, _ := q.sequence(ctx, []byte("a"))
	b, _ := q.sequence(ctx, []byte("b"))
	if a != 10 || b != 11 || q.watermark() != 10 {
		t.Fatalf("indices %d %d, watermark %d: an unsettled leaf holds the watermark", a, b, q.watermark())
	}
	q.settle(a)
	if w := q.watermark(); w != 11 {
		t.Fatalf("watermark %d, want 11 (leaf 11 unsettled)", w)
	}
	q.settle(b)
	if w := q.watermark(); w != 12 {
		t.Fatalf("watermark %d, want 12", w)
	}
	// A retry claims the orphan instead of appending.
	if idx, _ := q.sequence(ctx, []byte("orphan")); idx != 4 || lg.next != 12 {
		t.Fatalf("orphan claim gave %d (log at %d)", idx, lg.next)
	}
	q.settle(4)
	// A failed append may have been sequenced anyway: the watermark stays below it for good.
	lg.fail = true
	if _, err := q.sequence(ctx, []byte("c")); err == nil {
		t.Fatal("no error from a failing log")
	}
	lg.fail = false
	d, _ := q.sequence(ctx, []byte("d"))
	q.settle(d)
	if w := q.watermark(); w != 12 {
		t.Fatalf("watermark %d after a failed append at 12, want 12", w)
	}
	// A row that did not commit: the leaf becomes claimable, and holds the watermark until recorded.
	e, _ := q.sequence(ctx, []byte("e"))
	q.orphan([]byte("e"), e)
	if idx, _ := q.sequence(ctx, []byte("e")); idx != e {
		t.Fatalf("retry of e got %d, want its orphan %d", idx, e)
	}
}
