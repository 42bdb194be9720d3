package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// InclusionProof returns the RFC 6962 audit path of the entry at index in the tree of size treeSize, which must
// not exceed the latest published checkpoint (ErrOutOfRange otherwise). Verify it with VerifyInclusion against
// the root of a checkpoint of that size.
func (l *Log) InclusionProof(ctx context.Context, index, treeSize uint64) ([][]byte, error) {
	_, cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if treeSize > cp.Size || index >= treeSize {
		return nil, fmt.Errorf("tlog: inclusion proof of index %d in tree size %d (published size %d): %w", index, treeSize, cp.Size, ErrOutOfRange)
	}
	return l.inclusionProof(ctx, index, treeSize, cp.Size)
}

// InclusionProofs returns the audit paths of the entries at indices in the tree of size treeSize, in the order
// of indices, as InclusionProof would one by one; the tiles they share are read and hashed once.
func (l *Log) InclusionProofs(ctx context.Context, indices []uint64, treeSize uint64) ([][][]byte, error) {
	_, cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if treeSize > cp.Size {
		return nil, fmt.Errorf("tlog: inclusion proofs in tree size %d (published size %d): %w", treeSize, cp.Size, ErrOutOfRange)
	}
	for _, index := range indices {
		if index >= treeSize {
			return nil, fmt.Errorf("tlog: inclusion proof of index %d in tree size %d: %w", index, treeSize, ErrOutOfRange)
		}
	}
	if len(indices) == 0 {
		return nil, nil
	}
	pb, err := client.NewProofBuilder(ctx, treeSize, l.tileFetcher(cp.Size))
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	out := make([][][]byte, 0, len(indices))
	for _, index := range indices {
		p, err := pb.InclusionProof(ctx, index)
		if err != nil {
			return nil, fmt.Errorf("tlog: inclusion proof of index %d in tree size %d: %w", index, treeSize, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size from is a prefix of the tree of size to;
// to must not exceed the latest published checkpoint (ErrOutOfRange otherwise). It is empty when from is 0 or
// equal to to.
func (l *Log) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	_, cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if from > to || to > cp.Size {
		return nil, fmt.Errorf("tlog: consistency proof from size %d to %d (published size %d): %w", from, to, cp.Size, ErrOutOfRange)
	}
	return l.consistencyProof(ctx, from, to, cp.Size)
}

func (l *Log) inclusionProof(ctx context.Context, index, treeSize, published uint64) ([][]byte, error) {
	pb, err := client.NewProofBuilder(ctx, treeSize, l.tileFetcher(published))
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	p, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof of index %d in tree size %d: %w", index, treeSize, err)
	}
	return p, nil
}

func (l *Log) consistencyProof(ctx context.Context, from, to, published uint64) ([][]byte, error) {
	if from == 0 || from == to {
		return [][]byte{}, nil
	}
	pb, err := client.NewProofBuilder(ctx, to, l.tileFetcher(published))
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	p, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof from size %d to %d: %w", from, to, err)
	}
	return p, nil
}

// tileFetcher reads hash tiles for any tree size up to published. Tessera writes partial tiles only for the
// sizes it integrated (batch boundaries); a partial tile for another size is a prefix of the tile for the
// published size (tlog-tiles), so that is read and cut when the exact one does not exist.
func (l *Log) tileFetcher(published uint64) client.TileFetcherFunc {
	return func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		raw, err := l.reader.ReadTile(ctx, level, index, p)
		if err == nil || p == 0 || !errors.Is(err, os.ErrNotExist) {
			return raw, err
		}
		pp := layout.PartialTileSize(level, index, published)
		if pp != 0 && pp < p {
			return nil, err
		}
		raw, err = l.reader.ReadTile(ctx, level, index, pp)
		if err != nil {
			return nil, err
		}
		if len(raw) < int(p)*hashSize {
			return nil, fmt.Errorf("%w: tile %d/%d has %d bytes, want at least %d", ErrCorrupt, level, index, len(raw), int(p)*hashSize)
		}
		return raw[:int(p)*hashSize], nil
	}
}

// Entry returns the entry at index, which must be below the published checkpoint's size (ErrOutOfRange
// otherwise). The entry is returned only once its inclusion in that checkpoint verifies (ErrCorrupt otherwise).
func (l *Log) Entry(ctx context.Context, index uint64) ([]byte, error) {
	_, cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if index >= cp.Size {
		return nil, fmt.Errorf("tlog: entry %d (published size %d): %w", index, cp.Size, ErrOutOfRange)
	}
	bundle, err := l.readBundle(ctx, index/layout.EntryBundleWidth, cp.Size)
	if err != nil {
		return nil, err
	}
	pos := index % layout.EntryBundleWidth
	if pos >= uint64(len(bundle)) {
		return nil, fmt.Errorf("tlog: entry %d: %w: its bundle has %d entries", index, ErrCorrupt, len(bundle))
	}
	entry := bundle[pos]
	p, err := l.inclusionProof(ctx, index, cp.Size, cp.Size)
	if err != nil {
		return nil, err
	}
	if err := VerifyInclusion(LeafHash(entry), index, cp.Size, p, cp.Hash); err != nil {
		return nil, fmt.Errorf("tlog: entry %d: %w: %v", index, ErrCorrupt, err)
	}
	return entry, nil
}

func (l *Log) readBundle(ctx context.Context, bundleIndex, treeSize uint64) ([][]byte, error) {
	raw, err := l.reader.ReadEntryBundle(ctx, bundleIndex, layout.PartialTileSize(0, bundleIndex, treeSize))
	if err != nil {
		return nil, fmt.Errorf("tlog: read entry bundle %d: %w", bundleIndex, err)
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("tlog: entry bundle %d: %w: %v", bundleIndex, ErrCorrupt, err)
	}
	return b.Entries, nil
}

// Entries calls fn with every entry whose index is in [from, to), in order, reading whole entry bundles; to
// must not exceed the published checkpoint's size (ErrOutOfRange otherwise). An error from fn stops the walk
// and is returned as is.
//
// Entries authenticates what it read: it hashes the entries into the tree (starting from the tree's hashes of
// [0, from), read from the tiles) and checks the root of [0, to) against the published checkpoint, directly or
// by a consistency proof. The check completes only after fn has seen the last entry: the entries passed to fn
// are proven to be the log's only if Entries returns nil; otherwise the error wraps ErrCorrupt. This is the
// walk `attestd audit` and the start-up reconciliation rely on.
func (l *Log) Entries(ctx context.Context, from, to uint64, fn func(index uint64, entry []byte) error) error {
	_, cp, err := l.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if from > to || to > cp.Size {
		return fmt.Errorf("tlog: entries [%d, %d) (published size %d): %w", from, to, cp.Size, ErrOutOfRange)
	}
	if from == to {
		return nil
	}
	rng, err := l.prefixRange(ctx, from, cp.Size)
	if err != nil {
		return err
	}
	for ri := range layout.Range(from, to-from, cp.Size) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("tlog: entries: %w", err)
		}
		bundle, err := l.readBundle(ctx, ri.Index, cp.Size)
		if err != nil {
			return err
		}
		if uint(len(bundle)) < ri.First+ri.N {
			return fmt.Errorf("tlog: entry bundle %d: %w: %d entries, want at least %d", ri.Index, ErrCorrupt, len(bundle), ri.First+ri.N)
		}
		first := ri.Index*layout.EntryBundleWidth + uint64(ri.First)
		for i, e := range bundle[ri.First : ri.First+ri.N] {
			if err := rng.Append(LeafHash(e), nil); err != nil {
				return fmt.Errorf("tlog: entries: %w", err)
			}
			if err := fn(first+uint64(i), e); err != nil {
				return err
			}
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("tlog: entries: %w", err)
	}
	if to == cp.Size {
		if !bytes.Equal(root, cp.Hash) {
			return fmt.Errorf("tlog: entries [%d, %d): %w: root %x, checkpoint %x", from, to, ErrCorrupt, root, cp.Hash)
		}
		return nil
	}
	p, err := l.consistencyProof(ctx, to, cp.Size, cp.Size)
	if err != nil {
		return err
	}
	if err := VerifyConsistency(to, cp.Size, root, cp.Hash, p); err != nil {
		return fmt.Errorf("tlog: entries [%d, %d): %w: %v", from, to, ErrCorrupt, err)
	}
	return nil
}

// prefixRange returns the compact range [0, from): the roots of the perfect subtrees covering the first from
// leaves, largest first. They are the left-hand siblings on the audit path of leaf from, which Tessera's proof
// builder reads from the tiles; they are authenticated later, when the root they lead to is checked.
func (l *Log) prefixRange(ctx context.Context, from, published uint64) (*compact.Range, error) {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	if from == 0 {
		return rf.NewEmptyRange(0), nil
	}
	p, err := l.inclusionProof(ctx, from, published, published)
	if err != nil {
		return nil, err
	}
	inner := bits.Len64(from ^ (published - 1))
	if len(p) != inner+bits.OnesCount64(from>>inner) {
		return nil, fmt.Errorf("tlog: audit path of %d in %d has %d hashes", from, published, len(p))
	}
	var left [][]byte
	for i := range inner {
		if from>>i&1 == 1 {
			left = append(left, p[i])
		}
	}
	left = append(left, p[inner:]...)
	slices.Reverse(left)
	r, err := rf.NewRange(0, from, left)
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	return r, nil
}
