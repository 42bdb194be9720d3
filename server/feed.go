package server

import (
	"hash/maphash"
	"sync"

	"github.com/attestd/attestd/internal/store"
)

// Bounds of the leaf feed: the settlements it remembers, and the digests they hold in all (8 bytes each). A
// kept gathering older than what the feed remembers is gathered again.
const (
	feedMaxEntries = 4096
	feedMaxDigests = 1 << 20
)

// leafFeed is the sequencer's record of the rows that became visible, in the order they were settled: for
// each, its project and the digests of its subjects and materials, hashed. A kept gathering remembers the
// feed's position before it read anything; a row it could not see settles after that position, so reading
// the feed from there tells, without a database read, whether any row since could change it. A row settled
// under a leaf that an earlier request left orphaned is in the feed like any other, whatever its log index.
//
// Digests are hashed to 64 bits with a seed of this process: a collision can only make a kept gathering look
// stale, never fresh.
type leafFeed struct {
	seed maphash.Seed

	mu      sync.Mutex
	next    uint64      // position of the next settlement
	entries []feedEntry // entries[off:] are the last settlements, oldest first, the last one at position next-1
	off     int         // entries[:off] are forgotten; they go when the array is next copied
	digests int         // len(subjects)+len(materials) over entries[off:]
	dead    int         // the same over entries[:off]
}

// feedEntry is one settled attestation row: its project, its step (as indexed) and its digests, hashed.
type feedEntry struct {
	project             int64
	step                string
	subjects, materials []uint64
}

func newLeafFeed() *leafFeed {
	return &leafFeed{seed: maphash.MakeSeed()}
}

// digestHash hashes one digest with the feed's seed.
func (f *leafFeed) digestHash(d store.Digest) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(d.Algorithm)
	h.WriteByte(0)
	h.WriteString(d.Value)
	return h.Sum64()
}

// artifactHashes hashes the digests of arts.
func (f *leafFeed) artifactHashes(arts []store.Artifact) []uint64 {
	out := make([]uint64, 0, len(arts))
	for _, a := range arts {
		out = append(out, f.digestHash(store.Digest{Algorithm: a.Algorithm, Value: a.Digest}))
	}
	return out
}

// entryOf is the feed entry of an attestation row.
func (f *leafFeed) entryOf(a store.Attestation) feedEntry {
	return feedEntry{project: a.ProjectID, step: a.Step, subjects: f.artifactHashes(a.Subjects), materials: f.artifactHashes(a.Materials)}
}

// add appends e, forgetting the oldest entries beyond the bounds. Forgotten entries are left in place and the
// array is copied only once they are as many as feedMaxEntries (or hold as many digests as feedMaxDigests): an add costs O(1) on average rather than a
// copy of the whole feed (which was a sixth of Submit's CPU at 1,000 submissions a second). The entries are
// never written over, so the slices that since returned stay as they were.
func (f *leafFeed) add(e feedEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, e)
	f.digests += len(e.subjects) + len(e.materials)
	f.next++
	for len(f.entries)-f.off > feedMaxEntries || (f.digests > feedMaxDigests && len(f.entries)-f.off > 1) {
		n := len(f.entries[f.off].subjects) + len(f.entries[f.off].materials)
		f.digests -= n
		f.dead += n
		f.off++
	}
	// The forgotten entries hold memory until the copy: at most as much as the bounds allow the live ones.
	if f.off >= feedMaxEntries || (f.off > 0 && f.dead > feedMaxDigests) {
		live := make([]feedEntry, len(f.entries)-f.off, 2*feedMaxEntries)
		copy(live, f.entries[f.off:])
		f.entries, f.off, f.dead = live, 0, 0
	}
}

// position is where the next settlement will be.
func (f *leafFeed) position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

// since returns the entries settled at from and after, and the position after them; false when the feed no
// longer remembers all of them.
func (f *leafFeed) since(from uint64) ([]feedEntry, uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := f.entries[f.off:]
	first := f.next - uint64(len(live))
	if from < first || from > f.next {
		return nil, 0, false
	}
	return live[from-first : len(live) : len(live)], f.next, true
}
