package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attestd/attestd/server"
	"github.com/attestd/attestd/server/web"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestHandlerServesThePage: / and each file with its content type, the security headers on every answer,
// revalidation by ETag, 404 for anything else and 405 for writes.
func TestHandlerServesThePage(t *testing.T) {
	h := web.Handler()
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", `<script type="module" src="app.js"></script>`},
		{"/app.js", "text/javascript; charset=utf-8", "import"},
		{"/api.js", "text/javascript; charset=utf-8", "export class Client"},
		{"/app.css", "text/css; charset=utf-8", "svg.graph"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp := get(t, h, http.MethodGet, tc.path, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.contentType ||
			!strings.Contains(string(body), tc.contains) {
			t.Fatalf("GET %s: %d %q, body has %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"),
				tc.contains, strings.Contains(string(body), tc.contains))
		}
		checkSecurityHeaders(t, tc.path, resp)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Fatalf("GET %s: Cache-Control %q, want no-cache (revalidate: the files change with attestd)", tc.path, cc)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("GET %s: no ETag", tc.path)
		}
		if again := get(t, h, http.MethodGet, tc.path, map[string]string{"If-None-Match": etag}); again.StatusCode != http.StatusNotModified {
			t.Fatalf("GET %s with its ETag: %d, want 304", tc.path, again.StatusCode)
		}
	}
	if resp := get(t, h, http.MethodHead, "/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /: %d", resp.StatusCode)
	}
	for _, p := range []string{"/index.html", "/static/app.js", "/web.go", "/app.js/", "/nope", "/../web.go", "/APP.JS", "/v1/"} {
		resp := get(t, h, http.MethodGet, p, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", p, resp.StatusCode)
		}
		checkSecurityHeaders(t, p, resp)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if resp := get(t, h, m, "/", nil); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("%s /: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func checkSecurityHeaders(t *testing.T, p string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("%s: Content-Security-Policy %q lacks %q", p, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
		t.Fatalf("%s: Content-Security-Policy %q allows inline code, eval or other origins", p, csp)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(k); got != want {
			t.Fatalf("%s: %s %q, want %q", p, k, got, want)
		}
	}
}

var (
	// htmlRefs are the URLs that index.html loads, and inline code that the CSP would refuse anyway.
	htmlRefs   = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`)
	inlineCode = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:`)
	jsImports  = regexp.MustCompile(`(?m)^import .* from "([^"]+)";$`)
	// jsForbidden are ways to turn data into markup or code, to keep state that outlives the tab, or to reach
	// another origin. The page uses createElement and textContent only.
	jsForbidden = regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|` +
		`setTimeout\("|localStorage\.|document\.cookie|XMLHttpRequest|WebSocket|importScripts`)
	jsURLs = regexp.MustCompile(`[a-z]+://[^\s"'\x60]*`)
)

// svgNamespace is the one absolute URL the scripts may hold: a name, never fetched.
const svgNamespace = "http://www.w3.org/2000/svg"

// TestPageLoadsOnlyItsOwnFiles: index.html references only files that the handler serves, by relative path,
// and holds no inline script, style or handler; the scripts import only each other and use no markup sinks,
// eval, localStorage or other origins (the one absolute URL allowed is the SVG namespace).
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	h := web.Handler()
	static := os.DirFS("static")
	index, err := fs.ReadFile(static, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := htmlRefs.FindAllStringSubmatch(string(index), -1)
	if len(refs) < 3 {
		t.Fatalf("index.html references %d files, want app.js, app.css and the icon", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") || strings.Contains(ref, "..") {
			t.Fatalf("index.html references %q: want a relative path of this origin", ref)
		}
		if resp := get(t, h, http.MethodGet, "/"+ref, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("index.html references %q, which is %d", ref, resp.StatusCode)
		}
	}
	if m := inlineCode.FindString(string(index)); m != "" {
		t.Fatalf("index.html has inline code: %q", m)
	}
	scripts, err := fs.Glob(static, "*.js")
	if err != nil || len(scripts) < 2 {
		t.Fatalf("scripts: %v %v", scripts, err)
	}
	for _, name := range scripts {
		src, err := fs.ReadFile(static, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range jsImports.FindAllStringSubmatch(string(src), -1) {
			if !strings.HasPrefix(m[1], "./") || path.Ext(m[1]) != ".js" {
				t.Fatalf("%s imports %q: want ./NAME.js", name, m[1])
			}
			if resp := get(t, h, http.MethodGet, "/"+strings.TrimPrefix(m[1], "./"), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s imports %q, which is %d", name, m[1], resp.StatusCode)
			}
		}
		for i, line := range strings.Split(string(src), "\n") {
			code := line
			if j := strings.Index(code, "// "); j >= 0 && !strings.Contains(code[:j], `"`) {
				code = code[:j] // comments may name things the code must not do
			}
			if m := jsForbidden.FindString(code); m != "" {
				t.Fatalf("%s:%d uses %q: %s", name, i+1, m, strings.TrimSpace(line))
			}
			for _, u := range jsURLs.FindAllString(code, -1) {
				if u != svgNamespace {
					t.Fatalf("%s:%d names another origin, %q", name, i+1, u)
				}
			}
		}
	}
}

// TestHTTPHandlerServesThePageBesideTheRest: server.NewHTTPHandler serves the page at / and still serves
// /healthz, /metrics and /openapi.json; an unknown path is 404.
func TestHTTPHandlerServesThePageBesideTheRest(t *testing.T) {
	var ready server.Readiness
	ready.Set(true)
	h := server.NewHTTPHandler(&ready, prometheus.NewRegistry())
	for p, want := range map[string]string{
		"/":             "text/html; charset=utf-8",
		"/app.js":       "text/javascript; charset=utf-8",
		"/healthz":      "text/plain; charset=utf-8",
		"/openapi.json": "application/json",
		"/metrics":      "text/plain",
	} {
		resp := get(t, h, http.MethodGet, p, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Fatalf("GET %s: %d %q, want 200 %q", p, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
	}
	for _, p := range []string{"/nope", "/healthz/x", "/favicon.ico"} {
		if resp := get(t, h, http.MethodGet, p, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}
