package dump

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/attestd/attestd/internal/tlog"
)

// Files of a log directory (Tessera's POSIX layout) that a copy holds, besides the tiles.
const (
	checkpointFile = "checkpoint"
	treeStateFile  = ".state/treeState"
	versionFile    = ".state/version"
)

// maxLogFileBytes bounds one file of the log: a tile is 8 KiB, an entry bundle of attestd's 32-byte entries
// about 8.5 KiB; the bound leaves room for larger entries.
const maxLogFileBytes = 64 << 20

// LogInfo describes a copy of the log.
type LogInfo struct {
	Origin         string `json:"origin,omitempty"`
	CheckpointSize uint64 `json:"checkpoint_size"` // the published checkpoint's size
	TreeSize       uint64 `json:"tree_size"`       // the integrated tree's size (Tessera's tree state), at least CheckpointSize
	Files          int    `json:"files"`
	Bytes          int64  `json:"bytes"`
}

// CopyLog calls put with every file of a copy of the log in dir (names relative to dir, with slashes), while
// attestd may be appending to it. The copy is of one tree size, N: the published checkpoint is read first,
// then Tessera's tree state (size N, never behind the checkpoint, since Tessera signs checkpoints of tree
// states it has written), then the entry bundles and hash tiles of a tree of size N, which Tessera wrote
// before that tree state and never changes afterwards — save the partial tiles at the right edge, which it
// deletes once the full tile is published: such a tile is cut from the full one. Only the files of size N,
// and the right-edge tiles of the checkpoint's size, are copied; tiles of other sizes are not needed.
//
// The leaves are hashed as they are copied and the tree's roots compared with the tree state's and the
// checkpoint's (verified with verifierKey), so that a copy that would not verify is an error, not a backup.
func CopyLog(ctx context.Context, dir, verifierKey string, put func(name string, data []byte) error) (LogInfo, error) {
	var info LogInfo
	root, err := os.OpenRoot(dir)
	if err != nil {
		return info, fmt.Errorf("copy log: %w", err)
	}
	defer root.Close()
	c := &logCopier{root: root, put: put, info: &info, done: map[string]bool{}}

	var cp *tlog.Checkpoint
	rawCP, err := readRoot(root, checkpointFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return info, fmt.Errorf("copy log: %w", err)
	default:
		v, err := tlog.VerifyCheckpoint(rawCP, verifierKey)
		if err != nil {
			return info, fmt.Errorf("copy log: the checkpoint in %s does not verify with the log key: %w", dir, err)
		}
		cp = &v
		info.Origin, info.CheckpointSize = v.Origin, v.Size
	}
	rawState, err := readRoot(root, treeStateFile)
	var state struct {
		Size *uint64 `json:"size"`
		Root []byte  `json:"root"`
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && info.CheckpointSize == 0:
		rawState = nil
	case err != nil:
		return info, fmt.Errorf("copy log: tree state: %w", err)
	default:
		if err := json.Unmarshal(rawState, &state); err != nil || state.Size == nil {
			return info, fmt.Errorf("copy log: unreadable tree state %q", rawState)
		}
		info.TreeSize = *state.Size
	}
	if info.TreeSize < info.CheckpointSize {
		return info, fmt.Errorf("copy log: the tree state (size %d) is behind the checkpoint (size %d)",
			info.TreeSize, info.CheckpointSize)
	}
	if cp != nil {
		if err := c.emit(checkpointFile, rawCP); err != nil {
			return info, err
		}
	}
	if rawState != nil {
		if err := c.emit(treeStateFile, rawState); err != nil {
			return info, err
		}
		if err := c.copyIfExists(versionFile); err != nil {
			return info, err
		}
	}
	roots, err := c.entries(ctx, info.TreeSize, info.CheckpointSize)
	if err != nil {
		return info, err
	}
	if info.TreeSize > 0 && !bytes.Equal(roots.tree, state.Root) {
		return info, fmt.Errorf("copy log: the %d leaves copied hash to %x, the tree state says %x", info.TreeSize, roots.tree, state.Root)
	}
	if cp != nil && cp.Size > 0 && !bytes.Equal(roots.checkpoint, cp.Hash) {
		return info, fmt.Errorf("copy log: the first %d leaves hash to %x, the checkpoint says %x", cp.Size, roots.checkpoint, cp.Hash)
	}
	for _, size := range []uint64{info.TreeSize, info.CheckpointSize} {
		if err := c.hashTiles(ctx, size); err != nil {
			return info, err
		}
	}
	return info, nil
}

type logCopier struct {
	root *os.Root
	put  func(string, []byte) error
	info *LogInfo
	done map[string]bool // files emitted
}

func (c *logCopier) emit(name string, data []byte) error {
	if c.done[name] {
		return nil
	}
	c.done[name] = true
	c.info.Files++
	c.info.Bytes += int64(len(data))
	if err := c.put(name, data); err != nil {
		return fmt.Errorf("copy log file %s: %w", name, err)
	}
	return nil
}

func (c *logCopier) copyIfExists(name string) error {
	data, err := readRoot(c.root, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy log: %w", err)
	}
	return c.emit(name, data)
}

// roots are the Merkle roots of the copied leaves: of the whole tree, and of its first CheckpointSize leaves.
type roots struct{ tree, checkpoint []byte }

// entries copies the entry bundles and level-0 hash tiles of a tree of size n (and the right-edge ones of
// size cpSize), checking that each tile holds the hashes of its bundle's entries, and returns the roots.
func (c *logCopier) entries(ctx context.Context, n, cpSize uint64) (roots, error) {
	var r roots
	tree := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for index := uint64(0); index*layout.EntryBundleWidth < n; index++ {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		width := layout.PartialTileSize(0, index, n)
		bundle, err := c.readBundle(index, width)
		if err != nil {
			return r, err
		}
		entries, err := splitBundle(bundle, width)
		if err != nil {
			return r, fmt.Errorf("copy log: entry bundle %d: %w", index, err)
		}
		var hashes bytes.Buffer
		for _, e := range entries {
			h := rfc6962.DefaultHasher.HashLeaf(e)
			hashes.Write(h)
			if err := tree.Append(h, nil); err != nil {
				return r, err
			}
			if tree.End() == cpSize {
				if r.checkpoint, err = tree.GetRootHash(nil); err != nil {
					return r, err
				}
			}
		}
		tile, err := c.readTile(0, index, width)
		if err != nil {
			return r, err
		}
		if !bytes.Equal(tile, hashes.Bytes()) {
			return r, fmt.Errorf("copy log: hash tile 0/%d does not hold the hashes of entry bundle %d", index, index)
		}
		if err := c.emit(layout.EntriesPath(index, width), bundle); err != nil {
			return r, err
		}
		if err := c.emit(layout.TilePath(0, index, width), tile); err != nil {
			return r, err
		}
		// The right edge of the checkpoint's tree, when it is another partial bundle of this one.
		if cpIndex, cpWidth := cpSize/layout.EntryBundleWidth, uint8(cpSize%layout.EntryBundleWidth); cpIndex == index && cpWidth > 0 && cpWidth != width {
			if err := c.emitPrefix(index, cpWidth, bundle, tile); err != nil {
				return r, err
			}
		}
	}
	if n > 0 {
		var err error
		if r.tree, err = tree.GetRootHash(nil); err != nil {
			return r, err
		}
	}
	return r, nil
}

// emitPrefix emits the bundle and level-0 tile of the first width leaves of a larger bundle and tile.
func (c *logCopier) emitPrefix(index uint64, width uint8, bundle, tile []byte) error {
	b, err := bundlePrefix(bundle, width)
	if err != nil {
		return fmt.Errorf("copy log: entry bundle %d: %w", index, err)
	}
	if err := c.emit(layout.EntriesPath(index, width), b); err != nil {
		return err
	}
	return c.emit(layout.TilePath(0, index, width), tile[:int(width)*sha256.Size])
}

// hashTiles copies the hash tiles above level 0 of a tree of size n.
func (c *logCopier) hashTiles(ctx context.Context, n uint64) error {
	for level := uint64(1); n>>(level*layout.TileHeight) > 0; level++ {
		count := n >> (level * layout.TileHeight) // nodes in the bottom row of this level's tiles
		for index := uint64(0); index*layout.TileWidth < count; index++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			width := layout.PartialTileSize(level, index, n)
			name := layout.TilePath(level, index, width)
			if c.done[name] {
				continue
			}
			tile, err := c.readTile(level, index, width)
			if err != nil {
				return err
			}
			if err := c.emit(name, tile); err != nil {
				return err
			}
		}
	}
	return nil
}

// readBundle reads entry bundle index of width entries (0: full); a partial bundle that Tessera has replaced
// with the full one is cut from it.
func (c *logCopier) readBundle(index uint64, width uint8) ([]byte, error) {
	data, err := readRoot(c.root, layout.EntriesPath(index, width))
	if errors.Is(err, fs.ErrNotExist) && width > 0 {
		var full []byte
		if full, err = readRoot(c.root, layout.EntriesPath(index, 0)); err == nil {
			data, err = bundlePrefix(full, width)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("copy log: entry bundle %d: %w", index, err)
	}
	return data, nil
}

// readTile reads hash tile (level, index) of width hashes (0: full); a partial tile that Tessera has replaced
// with the full one is cut from it.
func (c *logCopier) readTile(level, index uint64, width uint8) ([]byte, error) {
	want := layout.TileWidth * sha256.Size
	if width > 0 {
		want = int(width) * sha256.Size
	}
	data, err := readRoot(c.root, layout.TilePath(level, index, width))
	if errors.Is(err, fs.ErrNotExist) && width > 0 {
		data, err = readRoot(c.root, layout.TilePath(level, index, 0))
		if err == nil && len(data) >= want {
			data = data[:want]
		}
	}
	if err != nil {
		return nil, fmt.Errorf("copy log: hash tile %d/%d: %w", level, index, err)
	}
	if len(data) != want {
		return nil, fmt.Errorf("copy log: hash tile %d/%d has %d bytes, want %d", level, index, len(data), want)
	}
	return data, nil
}

// splitBundle returns the entries of an entry bundle (each a big-endian uint16 length and that many bytes),
// which must hold width entries (0: a full bundle).
func splitBundle(bundle []byte, width uint8) ([][]byte, error) {
	want := layout.EntryBundleWidth
	if width > 0 {
		want = int(width)
	}
	var entries [][]byte
	for rest := bundle; len(rest) > 0; {
		if len(rest) < 2 || len(rest) < 2+int(binary.BigEndian.Uint16(rest)) {
			return nil, errors.New("truncated entry")
		}
		n := 2 + int(binary.BigEndian.Uint16(rest))
		entries = append(entries, rest[2:n])
		rest = rest[n:]
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%d entries, want %d", len(entries), want)
	}
	return entries, nil
}

// bundlePrefix returns the bytes of the first width entries of an entry bundle.
func bundlePrefix(bundle []byte, width uint8) ([]byte, error) {
	off := 0
	for range int(width) {
		if len(bundle)-off < 2 || len(bundle)-off < 2+int(binary.BigEndian.Uint16(bundle[off:])) {
			return nil, fmt.Errorf("fewer than %d entries", width)
		}
		off += 2 + int(binary.BigEndian.Uint16(bundle[off:]))
	}
	return bundle[:off], nil
}

// readRoot reads the file name (with slashes) of root, at most maxLogFileBytes.
func readRoot(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f, name, maxLogFileBytes)
}
