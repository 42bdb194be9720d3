package attestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/attestd/attestd/attestation"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// writeTree creates files (name -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(as []Artifact) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func TestRecordTree(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"go.mod":          "module x\n",
		"src/b.go":        "package b\n",
		"src/a.go":        "package a\n",
		"src/sub/z.txt":   "z",
		"src/sub/y/x.txt": "",
		"other/skip.txt":  "not asked for",
	})
	if err := os.Mkdir(filepath.Join(dir, "src", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link to a file is recorded under the link's name; a link to a
	// directory is not followed.
	if err := os.Symlink(filepath.Join("..", "go.mod"), filepath.Join(dir, "src", "mod-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "other"), filepath.Join(dir, "src", "dir-link")); err != nil {
		t.Fatal(err)
	}
	r := &Recorder{Dir: dir}
	got, err := r.Record(t.Context(), []string{"./src", "go.mod", "src/../go.mod", filepath.Join(dir, "src", "a.go")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"go.mod", "src/a.go", "src/b.go", "src/mod-link", "src/sub/y/x.txt", "src/sub/z.txt"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("names = %q, want %q", names(got), want)
	}
	byName := map[string]Artifact{}
	for _, a := range got {
		byName[a.Name] = a
	}
	if a := byName["src/mod-link"]; a.SHA256 != sha256Hex("module x\n") || a.Size != 9 {
		t.Errorf("link recorded as %+v, want the target's digest", a)
	}
	if a := byName["src/sub/y/x.txt"]; a.SHA256 != sha256Hex("") {
		t.Errorf("empty file recorded as %+v", a)
	}

	// The same tree gives the same list, whatever order the paths come in.
	again, err := r.Record(t.Context(), []string{"go.mod", "src"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again, got) {
		t.Errorf("second recording differs:\n%v\n%v", again, got)
	}
}

func TestRecordWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a/b.txt": "b", "c.txt": "c"})
	t.Chdir(dir)
	got, err := (&Recorder{Exclude: []string{"./c.txt"}}).Record(t.Context(), []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/b.txt"}; !slices.Equal(names(got), want) {
		t.Fatalf("names = %q, want %q", names(got), want)
	}
}

func TestRecordRefuses(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"ok.txt": "x"})
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"far.txt": "x"})
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files map[string]string
		path  string
		want  string
	}{
		{"parent", nil, "../x", "outside the working directory"},
		{"absolute outside", nil, filepath.Join(outside, "far.txt"), "outside the working directory"},
		{"missing", nil, "nope.txt", "does not exist"},
		{"dangling link", nil, "dangling", "symbolic link to nothing"},
		{"backslash", map[string]string{`bad\name`: "x"}, `bad\name`, "backslash"},
		{"control character", map[string]string{"bad\nname": "x"}, ".", "control character"},
		{"not NFC", map[string]string{"cafe\u0301": "x"}, ".", "NFC"},
		{"empty", nil, "", "empty artifact path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dir
			if tt.files != nil {
				d = t.TempDir()
				writeTree(t, d, tt.files)
			}
			_, err := (&Recorder{Dir: d}).Record(t.Context(), []string{tt.path})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Record(%q) = %v, want an error containing %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestRecordBadNameIsTyped(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{`a\b`: "x"})
	_, err := (&Recorder{Dir: dir}).Record(t.Context(), []string{"."})
	var ie *attestation.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *attestation.InputError", err)
	}
}

func TestRecordMaxFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"1": "", "2": "", "3": "", "4": ""})
	_, err := (&Recorder{Dir: dir, MaxFiles: 3}).Record(t.Context(), []string{"."})
	if !errors.Is(err, ErrTooManyFiles) || !strings.Contains(err.Error(), "more than 3 files") {
		t.Fatalf("err = %v, want ErrTooManyFiles", err)
	}
	if _, err := (&Recorder{Dir: dir, MaxFiles: 4}).Record(t.Context(), []string{"."}); err != nil {
		t.Fatalf("4 files with MaxFiles 4: %v", err)
	}
}

func TestRecordSkipMissing(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"there": "x"})
	got, err := (&Recorder{Dir: dir, SkipMissing: true}).Record(t.Context(), []string{"gone", "there"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"there"}; !slices.Equal(names(got), want) {
		t.Fatalf("names = %q, want %q", names(got), want)
	}
}

func TestRecordCanceled(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "x"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := (&Recorder{Dir: dir}).Record(ctx, []string{"a"}); err == nil {
		t.Fatal("Record with a canceled context succeeded")
	}
}

// TestRecordLargeFileStreams hashes a file far larger than what it allows
// the process to allocate, and checks the digest and the progress reports.
func TestRecordLargeFileStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large file")
	}
	const size = 256 << 20
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file of zeros with a marker at the end: cheap to make, and
	// the reader still gets every byte.
	if _, err := f.WriteAt([]byte("end"), size-3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	if _, err := io.CopyN(want, zeroReader{}, size-3); err != nil {
		t.Fatal(err)
	}
	want.Write([]byte("end"))

	var calls int
	var last, total int64
	r := &Recorder{Dir: dir, Progress: func(done, tot int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		calls++
		last, total = done, tot
	}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := r.Record(t.Context(), []string{"big.bin"})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].SHA256 != hex.EncodeToString(want.Sum(nil)) || got[0].Size != size {
		t.Errorf("recorded %+v", got[0])
	}
	if last != size || total != size || calls < 2 {
		t.Errorf("progress: %d calls, last %d of %d; want %d of %d", calls, last, total, size, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("hashing %d bytes allocated %d bytes: the file was not streamed", size, alloc)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
