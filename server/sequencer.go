package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// Log is the transparency log as the server uses it; *tlog.Log implements it.
type Log interface {
	Append(ctx context.Context, entry []byte) (uint64, error)
	IntegratedSize(ctx context.Context) (uint64, error)
	Checkpoint(ctx context.Context) ([]byte, tlog.Checkpoint, error)
	AwaitIntegration(ctx context.Context, index uint64) ([]byte, tlog.Checkpoint, error)
	InclusionProof(ctx context.Context, index, treeSize uint64) ([][]byte, error)
	InclusionProofs(ctx context.Context, indices []uint64, treeSize uint64) ([][][]byte, error)
	ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error)
	Entry(ctx context.Context, index uint64) ([]byte, error)
	VerifierKey() string
}

// sequencer hands out log indices for new attestations and keeps what the reconciler needs after a crash: the
// watermark, below which every leaf is settled (it has its row, or is recorded as an orphan).
//
// The write path is leaf first, row second. A leaf whose row did not commit is an orphan: it stays claimable
// here (and in the database, once recorded) so that a retry of the same submission reuses it instead of
// appending a second leaf for one envelope.
type sequencer struct {
	log Log

	mu       sync.Mutex
	next     uint64            // one past the largest index Append has returned (or the size at start)
	tickets  map[uint64]int    // appends in progress, by the lower bound of the index they will get
	stuck    map[uint64]bool   // lower bounds of appends that failed: their leaf may exist all the same
	inflight map[uint64]bool   // indices returned and not yet settled
	orphans  map[string]uint64 // entry -> index of leaves without rows, claimable by a retry

	feed *leafFeed // the rows settled, in order (see leafFeed)
}

func newSequencer(log Log, size uint64, orphans map[string]uint64) *sequencer {
	if orphans == nil {
		orphans = map[string]uint64{}
	}
	return &sequencer{log: log, next: size, tickets: map[uint64]int{}, stuck: map[uint64]bool{}, inflight: map[uint64]bool{}, orphans: orphans,
		feed: newLeafFeed()}
}

// sequence returns the log index for entry: an orphan leaf with the same entry if there is one, otherwise a
// new leaf. The caller must call settle exactly once when the row is committed or the leaf recorded as orphan.
func (q *sequencer) sequence(ctx context.Context, entry []byte) (uint64, error) {
	q.mu.Lock()
	if idx, ok := q.orphans[string(entry)]; ok {
		delete(q.orphans, string(entry))
		q.inflight[idx] = true
		q.mu.Unlock()
		return idx, nil
	}
	// Tessera sequences in order: an Add issued after another Add returned index k gets an index above k.
	lb := q.next
	q.tickets[lb]++
	q.mu.Unlock()

	idx, err := q.log.Append(ctx, entry)

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tickets[lb]--; q.tickets[lb] == 0 {
		delete(q.tickets, lb)
	}
	if err != nil {
		// The log may have sequenced the entry all the same (a timeout, say): hold the watermark below it until
		// the next start-up's reconciliation finds the leaf and records it as an orphan.
		q.stuck[lb] = true
		return 0, fmt.Errorf("append to log: %w", err)
	}
	if idx+1 > q.next {
		q.next = idx + 1
	}
	q.inflight[idx] = true
	return idx, nil
}

// settle marks index as settled: its row committed, or it was recorded as an orphan in the database.
func (q *sequencer) settle(index uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inflight, index)
}

// settleRow settles index, whose attestation row a committed, and puts the row in the feed.
func (q *sequencer) settleRow(index uint64, a store.Attestation) {
	q.feed.add(q.feed.entryOf(a))
	q.settle(index)
}

// orphan makes index claimable again by a retry of entry (its row did not commit). Call settle as well once
// the orphan is recorded in the database; until then it holds the watermark down.
func (q *sequencer) orphan(entry []byte, index uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.orphans[string(entry)] = index
}

// watermark is the size below which every leaf is settled.
func (q *sequencer) watermark() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.next
	for lb := range q.tickets {
		w = min(w, lb)
	}
	for lb := range q.stuck {
		w = min(w, lb)
	}
	for idx := range q.inflight {
		w = min(w, idx)
	}
	return w
}
