package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Files reads a tlog-tiles directory straight from disk, without opening the log for writing, so that an audit
// can run beside a serving attestd.
type Files struct{ Dir string }

// maxBundleBytes bounds one entry-bundle file read (256 entries of 32 bytes plus framing are about 8.7 KiB;
// generous room for larger entries).
const maxBundleBytes = 64 << 20

// ReadCheckpoint returns the published checkpoint file.
func (f Files) ReadCheckpoint(context.Context) ([]byte, error) {
	return readBounded(filepath.Join(f.Dir, layout.CheckpointPath), 1<<20)
}

// Entries calls yield for every leaf in [from, to), reading one entry bundle at a time.
func (f Files) Entries(ctx context.Context, from, to uint64, yield func(uint64, []byte) error) error {
	for ri := range layout.Range(from, to-from, to) {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := readBounded(filepath.Join(f.Dir, layout.EntriesPath(ri.Index, ri.Partial)), maxBundleBytes)
		if errors.Is(err, os.ErrNotExist) && ri.Partial > 0 {
			// A serving log may have grown past this checkpoint and replaced the partial bundle with a fuller one.
			raw, err = readBounded(filepath.Join(f.Dir, layout.EntriesPath(ri.Index, 0)), maxBundleBytes)
		}
		if err != nil {
			return fmt.Errorf("entry bundle %d: %w", ri.Index, err)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(raw); err != nil {
			return fmt.Errorf("entry bundle %d: %w", ri.Index, err)
		}
		if uint64(len(b.Entries)) < uint64(ri.First)+uint64(ri.N) {
			return fmt.Errorf("entry bundle %d has %d entries, want at least %d", ri.Index, len(b.Entries), ri.First+ri.N)
		}
		for j := uint64(ri.First); j < uint64(ri.First)+uint64(ri.N); j++ {
			if err := yield(ri.Index*layout.EntryBundleWidth+j, b.Entries[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d expected", path, fi.Size(), limit)
	}
	buf := make([]byte, fi.Size())
	if _, err := fh.ReadAt(buf, 0); err != nil && fi.Size() > 0 {
		return nil, err
	}
	return buf, nil
}
