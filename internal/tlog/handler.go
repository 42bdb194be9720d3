package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Cache-Control values of the tlog-tiles resources.
const (
	cacheCheckpoint  = "no-cache"                            // changes every CheckpointInterval
	cacheFullTile    = "public, max-age=31536000, immutable" // never changes once published
	cachePartialTile = "public, max-age=60"                  // final too, but removed once the tile is full
)

// maxBundleBytes is the largest possible entry bundle: 256 entries of 2 + 65535 bytes.
const maxBundleBytes = layout.EntryBundleWidth * (2 + MaxEntrySize)

// Handler serves the log read-only as tlog-tiles (https://c2sp.org/tlog-tiles), to be mounted under a prefix
// with http.StripPrefix, e.g. "/log". It answers GET and HEAD for exactly "checkpoint", "tile/<L>/<N>[.p/<W>]"
// and "tile/entries/<N>[.p/<W>]" in their canonical spelling, and 404 for every other path: no directory
// listings, no Tessera state, no key, no temporary files, nothing outside the directory (files are opened
// through an os.Root, so symlinks cannot escape it).
//
// It serves a tile or bundle only when the published checkpoint covers it and its length matches its name, so
// what it serves never changes under a cache: files Tessera wrote for a batch that a crash cut short, and that
// a later batch rewrites, stay invisible. Full tiles are cacheable forever, partial ones for a minute (they
// are deleted once full), the checkpoint never without revalidation.
func (l *Log) Handler() http.Handler {
	return http.HandlerFunc(l.serveHTTP)
}

func (l *Log) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	select {
	case <-l.done:
		http.Error(w, "log closed", http.StatusServiceUnavailable)
		return
	default:
	}
	res, ok := parseResource(strings.TrimPrefix(r.URL.Path, "/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if res.checkpoint {
		raw, _, err := l.Checkpoint(r.Context())
		if err != nil {
			l.logger.LogAttrs(r.Context(), levelFor(err), "serve checkpoint", errAttr(err))
			http.Error(w, "checkpoint unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", cacheCheckpoint)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(raw))
		return
	}
	if !l.published(r, res) {
		http.NotFound(w, r)
		return
	}
	data, modTime, err := l.readResource(res)
	if err != nil {
		l.logger.LogAttrs(r.Context(), slog.LevelWarn, "serve tile", slog.String("path", res.path), errAttr(err))
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if res.width == layout.TileWidth {
		w.Header().Set("Cache-Control", cacheFullTile)
	} else {
		w.Header().Set("Cache-Control", cachePartialTile)
	}
	http.ServeContent(w, r, "", modTime, bytes.NewReader(data))
}

// published reports whether the latest published checkpoint covers res, re-reading it if the cached one does
// not.
func (l *Log) published(r *http.Request, res resource) bool {
	end, ok := res.end()
	if !ok {
		return false
	}
	if _, cp, _, _ := l.cp.snapshot(); cp.Size >= end {
		return true
	}
	_, cp, err := l.Checkpoint(r.Context())
	return err == nil && cp.Size >= end
}

// readResource reads res through the directory's os.Root and checks that its content has the shape its name
// promises.
func (l *Log) readResource(res resource) ([]byte, time.Time, error) {
	f, err := l.root.Open(res.path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	limit := int64(res.width) * hashSize
	if res.entries {
		limit = maxBundleBytes
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, time.Time{}, errors.New("not a regular file of the expected size")
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if res.entries {
		var b api.EntryBundle
		if err := b.UnmarshalText(data); err != nil || len(b.Entries) != int(res.width) {
			return nil, time.Time{}, fmt.Errorf("entry bundle does not hold %d entries", res.width)
		}
	} else if len(data) != int(res.width)*hashSize {
		return nil, time.Time{}, fmt.Errorf("tile is %d bytes, want %d", len(data), int(res.width)*hashSize)
	}
	return data, fi.ModTime(), nil
}

// resource is a parsed tlog-tiles path.
type resource struct {
	path       string // canonical path relative to the log directory
	checkpoint bool
	entries    bool   // an entry bundle rather than a hash tile
	level      uint64 // tile level (0 for entry bundles)
	index      uint64
	width      uint // 1..256; 256 is a full tile
}

// end returns the number of leaves a tree needs for res to be part of it.
func (res resource) end() (uint64, bool) {
	if res.index > (math.MaxUint64-uint64(res.width))/layout.TileWidth {
		return 0, false
	}
	n := res.index*layout.TileWidth + uint64(res.width)
	shift := res.level * layout.TileHeight
	if shift >= 64 || n > math.MaxUint64>>shift {
		return 0, false
	}
	return n << shift, true
}

// parseResource accepts only canonical tlog-tiles paths.
func parseResource(name string) (resource, bool) {
	if name == layout.CheckpointPath {
		return resource{path: name, checkpoint: true}, true
	}
	rest, ok := strings.CutPrefix(name, "tile/")
	if !ok {
		return resource{}, false
	}
	levelText, indexText, ok := strings.Cut(rest, "/")
	if !ok {
		return resource{}, false
	}
	res := resource{entries: levelText == "entries", width: layout.TileWidth}
	if !res.entries {
		level, err := strconv.ParseUint(levelText, 10, 64)
		if err != nil || level > 63 {
			return resource{}, false
		}
		res.level = level
	}
	indexText, widthText, partial := strings.Cut(indexText, ".p/")
	if partial {
		w, err := strconv.ParseUint(widthText, 10, 64)
		if err != nil || w < 1 || w >= layout.TileWidth {
			return resource{}, false
		}
		res.width = uint(w)
	}
	segments := strings.Split(indexText, "/")
	for i, seg := range segments {
		if i < len(segments)-1 {
			if seg, ok = strings.CutPrefix(seg, "x"); !ok {
				return resource{}, false
			}
		}
		n, err := strconv.ParseUint(seg, 10, 64)
		if len(seg) != 3 || err != nil || res.index > (math.MaxUint64-n)/1000 {
			return resource{}, false
		}
		res.index = res.index*1000 + n
	}
	p := uint8(0)
	if partial {
		p = uint8(res.width)
	}
	if res.entries {
		res.path = layout.EntriesPath(res.index, p)
	} else {
		res.path = layout.TilePath(res.level, res.index, p)
	}
	// Only the canonical spelling: no leading zeros, no "x000/" groups, nothing appended.
	return res, res.path == name
}
