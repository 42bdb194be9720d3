package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

func noEnv(string) string { return "" }

// attestdRun runs the attestd command line in process and returns its exit code and output.
func attestdRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, noEnv, &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs the attestd command line and fails t unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := attestdRun(t, args...)
	if code != 0 {
		t.Fatalf("attestd %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// serveLog receives attestd serve's JSON log lines and hands over the gRPC address it serves on.
type serveLog struct {
	mu    sync.Mutex
	lines []string
	addr  chan string
}

func (w *serveLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, string(p))
	var line struct {
		Msg  string `json:"msg"`
		GRPC string `json:"grpc"`
	}
	if json.Unmarshal(p, &line) == nil && line.Msg == "attestd serving" {
		w.addr <- line.GRPC
	}
	return len(p), nil
}

// daemon is an attestd serve running in this process.
type daemon struct {
	addr string
	stop func() // stops it and waits; may be called more than once
}

// startDaemon runs attestd serve with args (and fast log settings, on loopback ports) until stop is called or
// the test ends.
func startDaemon(t *testing.T, args ...string) daemon {
	t.Helper()
	base := []string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-batch-age", "5ms",
		"--checkpoint-interval", "100ms", "--watermark-interval", "50ms"}
	cfg, err := parseConfig("serve", append(base, args...), noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &serveLog{addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, noEnv, slog.New(slog.NewJSONHandler(logs, nil))) }()
	var d daemon
	select {
	case d.addr = <-logs.addr:
	case err := <-done:
		cancel()
		t.Fatalf("attestd serve stopped at start: %v\n%s", err, strings.Join(logs.lines, ""))
	}
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("attestd serve: %v", err)
			}
		})
	}
	t.Cleanup(d.stop)
	return d
}

// dial returns a client of d that authenticates with secret.
func (d daemon) dial(t *testing.T, secret string) *attestor.Client {
	t.Helper()
	c, err := attestor.Dial(context.Background(), d.addr, attestor.DialOptions{Token: secret, Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// adminSecret reads the bootstrap token that attestd serve wrote into dataDir.
func adminSecret(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// shop creates project "shop" with a functionary key and returns an attestor token's secret and the key.
func shop(t *testing.T, admin *attestor.Client) (string, *attestor.Signer) {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.Projects.CreateProject(ctx, &attestdv1.CreateProjectRequest{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	priv, _, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attestor.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Keys.AddKey(ctx, &attestdv1.AddKeyRequest{Project: "shop", PublicKeyPem: string(signer.PublicPEM())}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.Tokens.CreateToken(ctx, &attestdv1.CreateTokenRequest{Project: "shop", Role: "attestor"})
	if err != nil {
		t.Fatal(err)
	}
	return tok.GetSecret(), signer
}

// signedEnvelope signs a link statement of step "build" whose one product is named after n.
func signedEnvelope(signer *attestor.Signer, n int) ([]byte, error) {
	payload := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app-%d","digest":{"sha256":"%064x"}}],`+
		`"predicateType":"https://in-toto.io/attestation/link/v0.3","predicate":{"name":"build","command":["make"]}}`, n, n+1)
	return signer.Sign(context.Background(), "application/vnd.in-toto+json", payload)
}

// envelope is signedEnvelope for the test's goroutine.
func envelope(t *testing.T, signer *attestor.Signer, n int) []byte {
	t.Helper()
	env, err := signedEnvelope(signer, n)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
