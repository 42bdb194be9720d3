package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
)

// workdir makes a temporary working directory with a key pair in it and
// returns the key's public half, parsed.
func workdir(t *testing.T) *attestation.PublicKey {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("these tests run commands with sh")
	}
	t.Chdir(t.TempDir())
	if _, errOut, code := attest(t, "keygen", "--out", "k"); code != exitOK {
		t.Fatalf("keygen: %s", errOut)
	}
	pub, err := os.ReadFile("k.pub")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := attestation.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// readEnvelope checks the signature of an envelope file against pk and
// returns its parsed statement and its raw payload.
func readEnvelope(t *testing.T, path string, pk *attestation.PublicKey) (*attestation.Statement, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := attestation.ParseEnvelope(b, attestation.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestation.VerifySignatures(env, []*attestation.PublicKey{pk}); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	st, err := attestation.ParseStatement(env.Payload, attestation.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(env.Payload, &raw); err != nil {
		t.Fatal(err)
	}
	return st, raw
}

// byproducts digs the byproducts out of a Statement's link predicate or a
// classic link.
func byproducts(raw map[string]any) map[string]any {
	if pred, ok := raw["predicate"].(map[string]any); ok {
		raw = pred
	}
	bp, _ := raw["byproducts"].(map[string]any)
	return bp
}

func TestRunRecordsProducts(t *testing.T) {
	pk := workdir(t)
	if err := os.MkdirAll("src", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("src/main.c", []byte("int main;"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Flags after the step's positional-looking values, the command after --
	// with flags of its own that attest must not take.
	out, errOut, code := attest(t, "run", "--no-submit", "--step", "build", "--materials", "./src", "--key", "k",
		"--products", "bin", "--", "sh", "-c", "mkdir -p bin && echo app > bin/app && echo built", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "built\n" {
		t.Errorf("the command's stdout was not passed through: %q", out)
	}
	if !strings.Contains(errOut, "build.intoto.json (written, not submitted") {
		t.Errorf("stderr: %s", errOut)
	}
	st, raw := readEnvelope(t, "build.intoto.json", pk)
	if st.Type != attestation.StatementV1 || st.PredicateType != attestation.PredicateLinkV03 || st.Step != "build" {
		t.Errorf("statement = %+v", st)
	}
	if len(st.Subjects) != 1 || st.Subjects[0].Name != "bin/app" || len(st.Materials) != 1 || st.Materials[0].Name != "src/main.c" {
		t.Errorf("subjects %v, materials %v", st.Subjects, st.Materials)
	}
	if want := []string{"sh", "-c", "mkdir -p bin && echo app > bin/app && echo built", "--json"}; strings.Join(st.Command, "|") != strings.Join(want, "|") {
		t.Errorf("command = %q, want %q", st.Command, want)
	}
	if bp := byproducts(raw); bp["return-value"] != float64(0) || bp["stdout"] != nil {
		t.Errorf("byproducts = %v: want return-value 0 and no output", bp)
	}
}

func TestRunFailingCommand(t *testing.T) {
	pk := workdir(t)
	out, errOut, code := attest(t, "run", "--step", "test", "--key", "k", "--no-submit", "--record-output", "--out", "t.json",
		"--products", "never-made", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 {
		t.Fatalf("exit %d, want the command's 3: %s", code, errOut)
	}
	if out != "out\n" || !strings.HasPrefix(errOut, "err\n") {
		t.Errorf("stdout %q, stderr %q: output not passed through", out, errOut)
	}
	st, raw := readEnvelope(t, "t.json", pk)
	if st.Type != attestation.TypeLink || st.Step != "test" || len(st.Subjects) != 0 {
		t.Errorf("statement = %+v; want a classic link without products", st)
	}
	bp := byproducts(raw)
	if bp["return-value"] != float64(3) || bp["stdout"] != "out\n" || bp["stderr"] != "err\n" {
		t.Errorf("byproducts = %v", bp)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	pk := workdir(t)
	_, errOut, code := attest(t, "run", "--step", "s", "--key", "k", "--no-submit", "--", "sh", "-c", "kill -TERM $$")
	if code != 128+15 {
		t.Fatalf("exit %d, want 143: %s", code, errOut)
	}
	_, raw := readEnvelope(t, "s.intoto.json", pk)
	if bp := byproducts(raw); bp["return-value"] != float64(143) {
		t.Errorf("byproducts = %v", bp)
	}
}

func TestRunCannotStart(t *testing.T) {
	workdir(t)
	if err := os.WriteFile("not-exec.sh", []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cmd  string
		code int
	}{
		{"attest-no-such-command", exitNotFound},
		{"./missing.sh", exitNotFound},
		{"./not-exec.sh", exitCannotExecute},
	} {
		_, errOut, code := attest(t, "run", "--step", "x", "--key", "k", "--no-submit", "--materials", "k.pub", "--", tt.cmd)
		if code != tt.code || !strings.Contains(errOut, "nothing was attested") {
			t.Errorf("%s: exit %d, want %d: %s", tt.cmd, code, tt.code, errOut)
		}
		if _, err := os.Stat("x.intoto.json"); err == nil {
			t.Errorf("%s: an envelope was written", tt.cmd)
		}
	}
}

func TestRunMissingProductAfterSuccess(t *testing.T) {
	workdir(t)
	_, errOut, code := attest(t, "run", "--step", "b", "--key", "k", "--no-submit", "--products", "out", "--", "true")
	if code != exitFailed || !strings.Contains(errOut, "artifact path out does not exist") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat("b.intoto.json"); err == nil {
		t.Error("an envelope was written")
	}
}

func TestRunNeedsTokenBeforeRunning(t *testing.T) {
	workdir(t)
	_, errOut, code := attest(t, "run", "--step", "b", "--key", "k", "--", "touch", "ran")
	if code != exitUsage || !strings.Contains(errOut, "no token to submit with") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat("ran"); err == nil {
		t.Error("the command ran although attest could not submit")
	}
}

func TestRunUnreachableServer(t *testing.T) {
	pk := workdir(t)
	addr := closedAddr(t)
	_, errOut, code := attest(t, "run", "--step", "b", "--key", "k", "--server", addr, "--plaintext", "--token", "t",
		"--products", "k.pub", "--", "true")
	if code != exitUsage || !strings.Contains(errOut, "attest: submit b.intoto.json: UNAVAILABLE") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	readEnvelope(t, "b.intoto.json", pk) // written all the same
}

func TestSign(t *testing.T) {
	pk := workdir(t)
	statement := `{"_type": "https://in-toto.io/Statement/v1",
 "subject": [{"name": "app", "digest": {"sha256": "` + strings.Repeat("ab", 32) + `"}}],
 "predicateType": "https://example.com/custom/v1",
 "predicate": {"n": 1.50, "big": 12345678901234567890}}
`
	if err := os.WriteFile("st.json", []byte(statement), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := attest(t, "sign", "--statement", "st.json", "--out", "st.intoto.json", "--key", "k")
	if code != exitOK || !strings.Contains(out, "signed st.json with key "+pk.ID) {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	b, err := os.ReadFile("st.intoto.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Payload string }
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if payload, _ := base64.StdEncoding.DecodeString(env.Payload); string(payload) != statement {
		t.Errorf("signed payload differs from the statement's bytes:\n%s", payload)
	}
	readEnvelope(t, "st.intoto.json", pk)

	// To stdout.
	out, _, code = attest(t, "sign", "--key", "k", "--statement", "st.json", "--out", "-")
	if code != exitOK || !strings.HasPrefix(out, `{"payloadType":"application/vnd.in-toto+json"`) {
		t.Errorf("--out -: exit %d, %s", code, out)
	}
}

func TestSignRefusesBadStatements(t *testing.T) {
	workdir(t)
	for name, content := range map[string]string{
		"not json":     "nope",
		"no subject":   `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p","predicate":{}}`,
		"bad name":     `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"../x","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],"predicateType":"p","predicate":{}}`,
		"a plain link": `{"_type":"link","name":"x"}`,
	} {
		path := filepath.Join(t.TempDir(), "st.json")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := attest(t, "sign", "--key", "k", "--statement", path, "--out", "o.json")
		if code != exitFailed || !strings.Contains(errOut, "attest: sign: "+path) {
			t.Errorf("%s: exit %d: %s", name, code, errOut)
		}
	}
	if _, err := os.Stat("o.json"); err == nil {
		t.Error("an envelope was written")
	}
}

func TestRunInterrupted(t *testing.T) {
	pk := workdir(t)
	ctx, cancel := context.WithCancel(t.Context())
	t.Setenv("ATTEST_TOKEN", "")
	t.Setenv("ATTEST_SERVER", "")
	var out lockedBuffer
	var errb bytes.Buffer
	args := []string{"run", "--step", "long", "--key", "k", "--token", "t", "--plaintext", "--server", closedAddr(t),
		"--", "sh", "-c", "echo started; exec sleep 30"}
	done := make(chan int)
	go func() { done <- run(ctx, args, nil, &out, &errb) }()
	for !strings.Contains(out.String(), "started") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // as main does on SIGINT or SIGTERM
	code := <-done
	if code != 128+15 {
		t.Fatalf("exit %d, want 143 (the command got SIGTERM): %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "long.intoto.json was written but not submitted") {
		t.Errorf("stderr: %s", errb.String())
	}
	_, raw := readEnvelope(t, "long.intoto.json", pk)
	if bp := byproducts(raw); bp["return-value"] != float64(143) {
		t.Errorf("byproducts = %v", bp)
	}
}

// lockedBuffer is a bytes.Buffer that a test may read while a command writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunOutDirMissing(t *testing.T) {
	workdir(t)
	_, errOut, code := attest(t, "run", "--step", "b", "--key", "k", "--no-submit", "--out", "no/such/dir/b.json", "--", "touch", "ran")
	if code != exitUsage || !strings.Contains(errOut, "its directory does not exist") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat("ran"); err == nil {
		t.Error("the command ran")
	}
}
