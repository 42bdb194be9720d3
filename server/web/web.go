// Package web is the page that release managers open in a browser at / on attestd's HTTP listener: search an
// artifact by digest, see its provenance drawn as a graph, each attestation's signers, log index and
// inclusion proof (checked in the browser against the signed checkpoint), the artifacts built from it, and
// the verify verdict with its reasons.
//
// The page is three hand-written files (index.html, app.css and the JavaScript modules under static/)
// embedded in the binary: there is no build step, no framework and nothing fetched from elsewhere. It is a
// client of attestd's own REST/JSON API under /v1/ on the same origin and of nothing else; the caller's
// bearer token is typed into the page and kept in the tab's sessionStorage.
//
// What this package must never do: embed or template a token or any server data into the files it serves
// (they are the same bytes for every caller, and carry no secret), load or call anything on another origin,
// or serve anything but its own files. The Content-Security-Policy it sends holds the page to that: scripts
// and styles from this origin only, no inline script, no eval, no framing.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy allows the page's own files and same-origin fetches, nothing inline, nothing
// evaluated, no plugins, no <base> rewriting, no framing by any site.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// contentTypes are the types of the files the page is made of, by extension; a file of another kind is not
// served (the system's MIME table is not consulted, so the answer does not depend on the host).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one file of the page, read once.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the page: GET or HEAD of / is index.html and /NAME is the embedded file NAME (app.js,
// app.css, ...); any other path is 404 and any other method 405. Every answer carries the security headers;
// files are revalidated on each load (Cache-Control: no-cache with a content ETag), so that an upgraded
// attestd never runs an old script against a new API, while an unchanged file costs a 304.
func Handler() http.Handler {
	assets, err := load(static)
	if err != nil {
		// The files are compiled in: this fails only if the embed directive and the files disagree.
		panic(fmt.Sprintf("web: embedded page: %v", err))
	}
	return &handler{assets: assets, modTime: time.Now()}
}

// load reads every file under static/ of fsys, keyed by its URL path ("/" for index.html).
func load(fsys fs.FS) (map[string]asset, error) {
	assets := map[string]asset{}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for %q files", p, path.Ext(p))
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		urlPath := strings.TrimPrefix(p, "static")
		if urlPath == "/index.html" {
			urlPath = "/"
		}
		assets[urlPath] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := assets["/"]; !ok {
		return nil, fmt.Errorf("no index.html")
	}
	return assets, nil
}

type handler struct {
	assets  map[string]asset
	modTime time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	a, ok := h.assets[r.URL.Path]
	if !ok {
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, "", h.modTime, bytes.NewReader(a.body))
}
