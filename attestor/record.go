package attestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attestd/attestd/attestation"
)

// DefaultMaxFiles is how many files one Record call hashes at most unless
// Recorder.MaxFiles says otherwise.
const DefaultMaxFiles = 100_000

// ErrTooManyFiles is wrapped by Record when the paths hold more files than the
// Recorder's limit. Record fewer paths, or raise Recorder.MaxFiles (attestd
// refuses statements with more than its own limits of subjects and materials).
var ErrTooManyFiles = errors.New("too many files")

// An Artifact is one recorded file: its in-toto name and its SHA-256 digest.
type Artifact struct {
	Name   string // relative, forward slashes, cleaned: "src/main.go"
	SHA256 string // lowercase hex
	Size   int64  // bytes hashed
}

// A Recorder hashes the files a step reads or writes. The zero Recorder
// records relative to the process's working directory with the default limits.
//
// Naming: a file is named by its path relative to Dir, with forward slashes,
// cleaned and without a leading "./", as in-toto names it ("./src/../a.c" is
// "a.c"). A path outside Dir ("../x", or an absolute path that is not under
// Dir) is an error: in-toto names are relative, and a name that climbs out of
// the working directory means something different on every machine.
//
// Directories are walked recursively; the result is sorted by name, so the same
// tree always gives the same list. Symbolic links are followed to files (the
// file is recorded under the link's name, as in-toto does) but never into
// directories: a link to a directory is skipped, which also keeps the walk from
// looping. A dangling link, a device, a pipe or a socket is an error. A file
// named by two of the paths is recorded once.
type Recorder struct {
	// Dir is the directory names are relative to; "" means the working directory.
	Dir string
	// MaxFiles bounds the number of files one Record call hashes; 0 means
	// DefaultMaxFiles. More files make Record fail with ErrTooManyFiles before
	// anything is hashed.
	MaxFiles int
	// Limits is what every name is checked against (attestation.CheckName).
	// The zero value means attestation.DefaultLimits().
	Limits attestation.Limits
	// Exclude lists names (in the form above) that are left out, for example
	// the envelope file that "attest run" writes next to its products.
	Exclude []string
	// SkipMissing makes a path that does not exist record nothing instead of
	// failing; attest run uses it for the products of a command that failed.
	SkipMissing bool
	// Progress, if not nil, is called with the bytes hashed so far and the
	// total to hash: once with done == 0 before hashing starts (so a caller can
	// decide whether a progress bar is worth showing), then after every chunk.
	Progress func(done, total int64)
}

// hashChunk is how much of a file is read at once.
const hashChunk = 256 << 10

// file is a file found by the walk, not yet hashed.
type file struct {
	name string // artifact name
	path string // where to open it
	size int64
}

// Record hashes the files at paths (files or directories, relative to Dir or
// absolute under it) and returns them sorted by name. It walks everything
// before hashing anything, so a bad name or a limit is reported before any
// expensive work. Record stops early when ctx is done.
func (r *Recorder) Record(ctx context.Context, paths []string) ([]Artifact, error) {
	base, err := r.baseDir()
	if err != nil {
		return nil, err
	}
	w := &walker{r: r, base: base, seen: map[string]bool{}, max: r.MaxFiles}
	if w.max <= 0 {
		w.max = DefaultMaxFiles
	}
	for _, n := range r.Exclude {
		w.seen[cleanName(n)] = true
	}
	for _, p := range paths {
		if err := w.add(ctx, p); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(w.files, func(a, b file) int { return strings.Compare(a.name, b.name) })

	var total, done int64
	for _, f := range w.files {
		total += f.size
	}
	progress := func(n int64) {
		done += n
		if r.Progress != nil {
			r.Progress(done, max(total, done))
		}
	}
	if r.Progress != nil {
		r.Progress(0, total)
	}
	out := make([]Artifact, 0, len(w.files))
	for _, f := range w.files {
		sum, n, err := hashFile(ctx, f.path, progress)
		if err != nil {
			return nil, fmt.Errorf("hash %s: %w", f.name, err)
		}
		out = append(out, Artifact{Name: f.name, SHA256: sum, Size: n})
	}
	return out, nil
}

func (r *Recorder) baseDir() (string, error) {
	dir := r.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("working directory: %w", err)
		}
		dir = wd
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("directory %s: %w", dir, err)
	}
	return abs, nil
}

// walker collects the files under the paths given to one Record call.
type walker struct {
	r     *Recorder
	base  string
	max   int
	seen  map[string]bool // names already collected (or excluded)
	files []file
}

// add collects the files at one path given by the caller.
func (w *walker) add(ctx context.Context, p string) error {
	if p == "" {
		return errors.New("empty artifact path")
	}
	name, err := w.name(p)
	if err != nil {
		return err
	}
	full := filepath.Join(w.base, filepath.FromSlash(name))
	info, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) && w.r.SkipMissing {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("artifact path %s does not exist: %w", p, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("artifact path %s: %w", p, err)
	}
	if !info.IsDir() {
		return w.addFile(name, full, info)
	}
	return filepath.WalkDir(full, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(w.base, path)
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		return w.addFile(filepath.ToSlash(rel), path, info)
	})
}

// name turns a path as the caller typed it into an artifact name, or explains
// why it cannot be one.
func (w *walker) name(p string) (string, error) {
	rel := filepath.Clean(p)
	if filepath.IsAbs(rel) {
		r, err := filepath.Rel(w.base, rel)
		if err != nil {
			r = rel
		}
		rel = r
	}
	if rel != "." && !filepath.IsLocal(rel) {
		return "", fmt.Errorf("artifact path %s is outside the working directory %s: in-toto names are relative, so record it from a directory that contains it", p, w.base)
	}
	return filepath.ToSlash(rel), nil
}

// addFile adds one non-directory entry found at path (lstat'ed as info).
func (w *walker) addFile(name, path string, info fs.FileInfo) error {
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("artifact %s: symbolic link to nothing: %w", name, err)
		}
		if target.IsDir() {
			return nil // never followed into directories; see Recorder
		}
		info = target
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("artifact %s: not a regular file (%s)", name, info.Mode().Type())
	}
	if w.seen[name] {
		return nil
	}
	if err := attestation.CheckName(name, w.r.Limits); err != nil {
		return fmt.Errorf("artifact %q: %w", name, err)
	}
	if len(w.files) >= w.max {
		return fmt.Errorf("%w: more than %d files to record", ErrTooManyFiles, w.max)
	}
	w.seen[name] = true
	w.files = append(w.files, file{name: name, path: path, size: info.Size()})
	return nil
}

// cleanName puts a name given by a caller into the form Record produces.
func cleanName(n string) string {
	return filepath.ToSlash(filepath.Clean(filepath.FromSlash(n)))
}

// hashFile streams the file at path through SHA-256, reporting each chunk to
// progress, and returns the hex digest and the number of bytes hashed.
func hashFile(ctx context.Context, path string, progress func(int64)) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, hashChunk)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		k, err := f.Read(buf)
		if k > 0 {
			h.Write(buf[:k])
			n += int64(k)
			progress(int64(k))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", n, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
