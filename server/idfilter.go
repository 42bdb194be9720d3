package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// The sizes of idFilter. A part holds filterBitsPerKey bits for each key of its capacity and sets
// filterHashes bits in one 512-bit block per key: 0.19% false "maybe" answers when full (measured; an
// unblocked filter would answer fewer falsely, for eight cache lines read per key instead of one).
const (
	filterBitsPerKey = 16
	filterHashes     = 8
	filterBlockBits  = 512
	// filterFirstKeys is the first part's capacity (2 MiB); each further part holds twice the one before.
	filterFirstKeys = 1 << 20
	// filterMaxBytes bounds the filter's memory: parts of 2 to 64 MiB, 63 million keys in all. Past that the
	// last part goes on filling and says "maybe" more and more often, which costs queries, never answers.
	filterMaxBytes = 128 << 20
)

// idFilter is a Bloom filter over the (project, id) pairs of the stored attestations. Submit asks the database
// whether an envelope is stored already (dedup) only when the filter says it may be: a new envelope, the
// common case, costs no query.
//
// A "no" must be right, so the filter says "maybe" to everything until load has read the key of every row, and
// record adds each new key before its row is inserted (a row of this process is in the filter before a query
// could find it). A row that another process writes after the load is not in the filter: a duplicate of it
// is then appended to the log again, and record turns the second leaf into an orphan, as when two identical
// submissions race. attestd runs one writer per database (the log sequencer); attestd restore and migrate-data
// fill an empty database that attestd then starts on.
//
// It grows as a scalable Bloom filter does: when its last part has taken its capacity of keys, a part of twice
// the capacity follows it, up to maxBytes in all. A key is looked up in every part. Keys are never removed (rows
// are not deleted); a key whose insert failed stays, and only costs a query.
type idFilter struct {
	firstKeys int64
	maxBytes  int64

	mu     sync.Mutex                    // serializes growth
	parts  atomic.Pointer[[]*filterPart] // oldest first; the last takes new keys
	loaded atomic.Bool                   // every stored row's key is in the filter

	scanned int64 // the Seq up to which load has read the rows' keys; only load uses it
}

// filterPart is one Bloom filter of the chain: blocks of filterBlockBits bits, set atomically.
type filterPart struct {
	words    []atomic.Uint64
	blocks   uint64 // a power of two
	capacity int64
	keys     atomic.Int64
}

func newIDFilter(firstKeys, maxBytes int64) *idFilter {
	f := &idFilter{firstKeys: firstKeys, maxBytes: maxBytes}
	f.parts.Store(&[]*filterPart{newFilterPart(firstKeys)})
	return f
}

// partBlocks is the number of blocks of a part for at least keys keys: a power of two.
func partBlocks(keys int64) uint64 {
	blocks := uint64(1)
	for blocks*filterBlockBits < uint64(max(keys, 1))*filterBitsPerKey {
		blocks <<= 1
	}
	return blocks
}

// newFilterPart makes a part for at least keys keys.
func newFilterPart(keys int64) *filterPart {
	blocks := partBlocks(keys)
	return &filterPart{
		words:    make([]atomic.Uint64, blocks*filterBlockBits/64),
		blocks:   blocks,
		capacity: int64(blocks * filterBlockBits / filterBitsPerKey),
	}
}

func (p *filterPart) size() int64 { return int64(len(p.words)) * 8 }

// filterKey derives the hashes of (projectID, id) from the id itself, which is a sha256 in hex (Submit computes
// it from the envelope, so a client cannot choose it); ok is false for an id that is not 64 hex digits.
func filterKey(projectID int64, id string) (h1, h2 uint64, ok bool) {
	if len(id) != 64 {
		return 0, 0, false
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(id[:32])); err != nil {
		return 0, 0, false
	}
	h1 = binary.LittleEndian.Uint64(b[:8]) ^ uint64(projectID)*0x9e3779b97f4a7c15
	h2 = binary.LittleEndian.Uint64(b[8:])
	return h1, h2, true
}

// bits calls set for the filterHashes bits of the key in p: one block chosen by h1, the bits within it by h2.
func (p *filterPart) bits(h1, h2 uint64, set func(word *atomic.Uint64, bit uint64) bool) bool {
	base := (h1 & (p.blocks - 1)) * (filterBlockBits / 64)
	step := (h1>>32 | 1)
	for i := range uint64(filterHashes) {
		bit := (h2 + i*step) % filterBlockBits
		if !set(&p.words[base+bit/64], 1<<(bit%64)) {
			return false
		}
	}
	return true
}

func (p *filterPart) add(h1, h2 uint64) {
	p.bits(h1, h2, func(w *atomic.Uint64, m uint64) bool { w.Or(m); return true })
}

func (p *filterPart) has(h1, h2 uint64) bool {
	return p.bits(h1, h2, func(w *atomic.Uint64, m uint64) bool { return w.Load()&m != 0 })
}

// add puts the key of (projectID, id) in the filter.
func (f *idFilter) add(projectID int64, id string) {
	h1, h2, ok := filterKey(projectID, id)
	if !ok {
		return // mayHold says "maybe" to such an id anyway
	}
	parts := *f.parts.Load()
	last := parts[len(parts)-1]
	last.add(h1, h2)
	if last.keys.Add(1) == last.capacity {
		f.grow(last)
	}
}

// grow appends a part of twice full's capacity, if full is still the last part and maxBytes allows it.
func (f *idFilter) grow(full *filterPart) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := *f.parts.Load()
	if parts[len(parts)-1] == full {
		f.appendPart(parts, full.capacity*2)
	}
}

// reserve makes room for n more keys in one part, when maxBytes allows it: load calls it with the number of
// rows it expects, so that a large table fills one part sized for it rather than a chain of doubling ones
// (each full part adds its false answers to the filter's).
func (f *idFilter) reserve(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := *f.parts.Load()
	last := parts[len(parts)-1]
	if last.capacity-last.keys.Load() < n {
		f.appendPart(parts, max(n, 2*last.capacity))
	}
}

// appendPart appends a part for keys keys to parts, or the largest part that maxBytes leaves room for if that
// is smaller (none if it would not be larger than the last). f.mu is held.
func (f *idFilter) appendPart(parts []*filterPart, keys int64) {
	used := int64(0)
	for _, p := range parts {
		used += p.size()
	}
	blocks := partBlocks(keys)
	for blocks > 1 && used+int64(blocks*filterBlockBits/8) > f.maxBytes {
		blocks >>= 1
	}
	if used+int64(blocks*filterBlockBits/8) > f.maxBytes || blocks <= parts[len(parts)-1].blocks {
		return
	}
	next := newFilterPart(int64(blocks * filterBlockBits / filterBitsPerKey))
	grown := append(parts[:len(parts):len(parts)], next)
	f.parts.Store(&grown)
}

// mayHold reports whether the project may have an attestation with id: false only when it certainly has none.
func (f *idFilter) mayHold(projectID int64, id string) bool {
	if !f.loaded.Load() {
		return true
	}
	h1, h2, ok := filterKey(projectID, id)
	if !ok {
		return true
	}
	for _, p := range *f.parts.Load() {
		if p.has(h1, h2) {
			return true
		}
	}
	return false
}

// stats returns the keys added and the bytes the parts take.
func (f *idFilter) stats() (keys, bytes int64) {
	for _, p := range *f.parts.Load() {
		keys += p.keys.Load()
		bytes += p.size()
	}
	return keys, bytes
}

// filterKeyStore is what load reads the keys from.
type filterKeyStore interface {
	ScanAttestationKeys(ctx context.Context, afterSeq int64, limit int) ([]store.AttestationKey, error)
}

// load adds the key of every stored attestation, a page at a time, and then lets the filter answer. The keys
// that record adds meanwhile are in it already, so no row is missed however the scan and the inserts
// interleave.
// A load that fails goes on from where it stopped when called again.
func (f *idFilter) load(ctx context.Context, st filterKeyStore) error {
	for {
		page, err := st.ScanAttestationKeys(ctx, f.scanned, store.MaxScanKeys)
		if err != nil {
			return fmt.Errorf("load the duplicate filter: %w", err)
		}
		for _, k := range page {
			f.add(k.ProjectID, k.ID)
		}
		if len(page) < store.MaxScanKeys {
			f.loaded.Store(true)
			return nil
		}
		f.scanned = page[len(page)-1].Seq
	}
}

// LoadDuplicateFilter reads the key of every stored attestation into Submit's duplicate filter, retrying (with
// a growing pause) until it succeeds or ctx ends. Until it has, every Submit asks the database whether its
// envelope is stored already, as it would without the filter. Call it once, after Reconcile, in the background.
func (s *Server) LoadDuplicateFilter(ctx context.Context) {
	// The log holds a leaf for every logged row (and for layouts and orphans): room for that many and as
	// many again.
	if s.log != nil {
		if size, err := s.log.IntegratedSize(ctx); err == nil && size < 1<<40 {
			s.filter.reserve(2 * int64(size))
		}
	}
	pause := time.Second
	for {
		start := time.Now()
		err := s.filter.load(ctx, s.store)
		if err == nil {
			keys, bytes := s.filter.stats()
			s.logger.InfoContext(ctx, "duplicate filter loaded", slog.Int64("keys", keys),
				slog.Int64("bytes", bytes), slog.Duration("took", time.Since(start)))
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.logger.WarnContext(ctx, "duplicate filter not loaded; every submission queries the database until it is",
			slog.Any("err", err), slog.Duration("retry_in", pause))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}
