package tlog

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	k := newTestKey(t, testOrigin)
	parent := t.TempDir()
	dir := filepath.Join(parent, "log")
	// Secrets next to the log directory, where a path escape would find them.
	if err := os.WriteFile(filepath.Join(parent, "log.key"), []byte("PRIVATE+KEY+secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, dir, k)
	entries := make([][]byte, 300)
	for i := range entries {
		entries[i] = testEntry("handler", i)
	}
	idx := appendConcurrently(t, l, entries, 1)
	ctx := ctxTimeout(t, 20*time.Second)
	for {
		if _, cp, err := l.AwaitIntegration(ctx, 299); err != nil {
			t.Fatal(err)
		} else if cp.Size == 300 {
			break
		}
	}
	leaves := leavesInOrder(t, entries, idx)

	mux := http.NewServeMux()
	mux.Handle("/log/", http.StripPrefix("/log", l.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// Requests go straight to the handler, uncleaned, as a hostile client could send them to any router.
	get := func(method, path string) (int, http.Header, []byte) {
		t.Helper()
		req := httptest.NewRequest(method, "http://log.example"+path, nil)
		rec := httptest.NewRecorder()
		l.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}

	t.Run("serves", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/log/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cp, err := VerifyCheckpoint(body, k.vkey)
		if resp.StatusCode != 200 || err != nil || cp.Size != 300 || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("checkpoint: %d %v %+v %q", resp.StatusCode, err, cp, resp.Header.Get("Cache-Control"))
		}

		cases := []struct {
			path, cache string
			want        []byte
		}{
			{"/tile/0/000", cacheFullTile, bytes.Join(leaves[:256], nil)},
			{"/tile/0/001.p/44", cachePartialTile, bytes.Join(leaves[256:300], nil)},
			{"/tile/1/000.p/1", cachePartialTile, refMTH(leaves[:256])},
			{"/tile/entries/000", cacheFullTile, bundle(entries, idx, 0, 256)},
			{"/tile/entries/001.p/44", cachePartialTile, bundle(entries, idx, 256, 300)},
		}
		for _, c := range cases {
			code, h, body := get(http.MethodGet, c.path)
			if code != 200 || !bytes.Equal(body, c.want) || h.Get("Cache-Control") != c.cache {
				t.Errorf("GET %s: %d, %d bytes, Cache-Control %q", c.path, code, len(body), h.Get("Cache-Control"))
			}
			code, h, body = get(http.MethodHead, c.path)
			if code != 200 || len(body) != 0 || h.Get("Content-Length") != "" && h.Get("Content-Length") != strconv.Itoa(len(c.want)) {
				t.Errorf("HEAD %s: %d, %d bytes, length %q", c.path, code, len(body), h.Get("Content-Length"))
			}
		}
		if code, h, _ := get(http.MethodPost, "/checkpoint"); code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST: %d", code)
		}
	})

	t.Run("refuses", func(t *testing.T) {
		// Files a careless file server would expose.
		mustWrite(t, filepath.Join(dir, "checkpoint1234567"), []byte("temporary"))
		mustWrite(t, filepath.Join(dir, "tile", "0", "0011234567"), bytes.Repeat([]byte{1}, 32))
		mustWrite(t, filepath.Join(dir, "tile", "0", "005"), bytes.Repeat([]byte{1}, 8192)) // beyond the checkpoint
		for _, p := range []string{
			"/", "", "/log.key", "/../log.key", "/..%2flog.key", "/tile/../../log.key", "/tile/0/../../../log.key",
			"/.state/treeState", "/.state/version", "/.state", "/.state/", "/.attestd.lock",
			"/tile", "/tile/", "/tile/0", "/tile/0/", "/tile/entries", "/tile/entries/", "/tile/0/001.p", "/tile/0/001.p/",
			"/tile/entries/001.p", "/checkpoint/", "//checkpoint", "/checkpoint1234567", "/tile/0/0011234567",
			"/tile/0/001.p/0", "/tile/0/001.p/256", "/tile/0/001.p/044", "/tile/0/001.p/45",
			"/tile/00/000", "/tile/+0/000", "/tile/64/000", "/tile/0/00", "/tile/0/0000", "/tile/0/x000/000",
			"/tile/0/x001", "/tile/0/005", "/tile/0/002", "/tile/1/000", "/tile/entries/001", "/tile/entries/x000/000",
			"/tile/0/-01", "/tile/0/000.p/1/",
		} {
			if code, _, body := get(http.MethodGet, p); code != http.StatusNotFound {
				t.Errorf("GET %q: %d %q, want 404", p, code, body)
			}
		}
	})

	t.Run("symlink out of the directory", func(t *testing.T) {
		tile := filepath.Join(dir, "tile", "0", "000")
		data, err := os.ReadFile(tile)
		if err != nil {
			t.Fatal(err)
		}
		outside := filepath.Join(parent, "outside")
		mustWrite(t, outside, data) // the right bytes, but outside the root
		swap(t, tile, func() error { return os.Symlink(outside, tile) })
		if code, _, _ := get(http.MethodGet, "/tile/0/000"); code != http.StatusNotFound {
			t.Errorf("symlink escaping the log directory: %d, want 404", code)
		}
	})

	t.Run("directory at a tile path", func(t *testing.T) {
		tile := filepath.Join(dir, "tile", "entries", "000")
		swap(t, tile, func() error { return os.Mkdir(tile, 0o755) })
		if code, _, _ := get(http.MethodGet, "/tile/entries/000"); code != http.StatusNotFound {
			t.Errorf("directory: %d, want 404", code)
		}
	})

	t.Run("after close", func(t *testing.T) {
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := get(http.MethodGet, "/checkpoint"); code != http.StatusServiceUnavailable {
			t.Errorf("after Close: %d, want 503", code)
		}
	})
}

// bundle is the reference tlog-tiles entry bundle of the entries at indices [from, to).
func bundle(entries [][]byte, idx []uint64, from, to uint64) []byte {
	byIndex := make([][]byte, len(entries))
	for i, n := range idx {
		byIndex[n] = entries[i]
	}
	var b []byte
	for _, e := range byIndex[from:to] {
		b = append(b, byte(len(e)>>8), byte(len(e)))
		b = append(b, e...)
	}
	return b
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// swap moves path aside, puts something else there with put, and restores it at the end of the test.
func swap(t *testing.T, path string, put func() error) {
	t.Helper()
	if err := os.Rename(path, path+".aside"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(path)
		os.Rename(path+".aside", path)
	})
	if err := put(); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseResource: the path parser never panics and accepts only names it can spell back exactly.
func FuzzParseResource(f *testing.F) {
	for _, s := range []string{"checkpoint", "tile/0/000", "tile/entries/x001/x234/067.p/8", "tile/63/x999/999",
		"tile/0/000.p/", ".p/1", "tile/0/.p/1", "tile/entries/..", "tile/0/x18446744073709551/615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		res, ok := parseResource(name)
		if !ok {
			return
		}
		if res.path != name || strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") {
			t.Fatalf("accepted %q as %+v", name, res)
		}
		res.end()
	})
}
