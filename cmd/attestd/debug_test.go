package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestDebugListen: --debug-listen takes loopback addresses only, and serves the profiles there.
func TestDebugListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7702", ":7702", "10.0.0.1:7702", "example.com:7702", "127.0.0.1"} {
		_, err := parseConfig("serve", []string{"--debug-listen", addr}, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--debug-listen") {
			t.Errorf("--debug-listen %s: err = %v, want a refusal naming the flag", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:7702", "[::1]:7702", "localhost:7702"} {
		if _, err := parseConfig("serve", []string{"--debug-listen", addr}, noEnv, io.Discard); err != nil {
			t.Errorf("--debug-listen %s: %v", addr, err)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer serveDebug(lis, slog.New(slog.DiscardHandler))()
	base := "http://" + lis.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	if code, body := get("/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "serveDebug") {
		t.Errorf("goroutine profile: %d %.200q, want 200 with the debug server's own goroutine", code, body)
	}
	if code, _ := get("/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the debug listener: %d, want 404 (nothing but the profiles is served there)", code)
	}
}

// TestGCPercent: attestd serve sets its own GC target only when GOGC is not set.
func TestGCPercent(t *testing.T) {
	if pct, set := gcPercent(func(string) string { return "" }); !set || pct != defaultGCPercent {
		t.Errorf("GOGC unset: %d, %v; want %d, true", pct, set, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", "50"} {
		if _, set := gcPercent(func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}); set {
			t.Errorf("GOGC=%s: attestd would override it", v)
		}
	}
}
