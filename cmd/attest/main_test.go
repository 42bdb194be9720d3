package main

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/attestd/attestd/attestation"
)

// attest runs the CLI as a user would type it, in a clean environment, and
// returns what it printed and its exit code.
func attest(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("ATTEST_TOKEN", "")
	t.Setenv("ATTEST_SERVER", "")
	t.Setenv("ATTEST_LOG_KEY", "")
	if os.Getenv("ATTEST_CONFIG_DIR") == "" {
		// Never the user's own pins and checkpoints; one directory per test.
		t.Setenv("ATTEST_CONFIG_DIR", t.TempDir())
	}
	var out, errb bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestReorder(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("project", "", "")
	fs.Bool("json", false, "")
	tests := []struct {
		args         []string
		interspersed bool
		want         []string
	}{
		{[]string{"NAME", "--project", "p"}, true, []string{"--project", "p", "--", "NAME"}},
		{[]string{"--json", "NAME", "--project=p", "OTHER"}, true, []string{"--json", "--project=p", "--", "NAME", "OTHER"}},
		{[]string{"a", "--", "--json", "-x"}, true, []string{"--", "a", "--json", "-x"}},
		{[]string{"-json", "b", "-"}, true, []string{"-json", "--", "b", "-"}},
		{[]string{"--unknown", "v", "a"}, true, []string{"--unknown", "--", "v", "a"}},
		{[]string{"--project"}, true, []string{"--project", "--"}},
		// Not interspersed: the first non-flag starts the rest (attest run's command).
		{[]string{"--project", "p", "make", "--json", "-j4"}, false, []string{"--project", "p", "--", "make", "--json", "-j4"}},
		{[]string{"--json", "--", "make", "-k"}, false, []string{"--json", "--", "make", "-k"}},
	}
	for _, tt := range tests {
		if got := reorder(fs, tt.args, tt.interspersed); !slices.Equal(got, tt.want) {
			t.Errorf("reorder(%q, %v) = %q, want %q", tt.args, tt.interspersed, got, tt.want)
		}
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		wantOut    string
		wantErr    string
		notWantErr string
	}{
		{nil, exitUsage, "", "Usage: attest COMMAND", ""},
		{[]string{"help"}, exitOK, "Commands:", "", ""},
		{[]string{"-h"}, exitOK, "Commands:", "", ""},
		{[]string{"help", "run"}, exitOK, "Usage: attest run", "", ""},
		{[]string{"help", "token", "create"}, exitOK, "Example:\n  attest token create", "", ""},
		{[]string{"help", "token"}, exitOK, "attest token revoke", "", ""},
		{[]string{"help", "nope"}, exitUsage, "", `unknown command "nope"`, ""},
		{[]string{"keygen", "-h"}, exitOK, "--type TYPE", "", ""},
		{[]string{"get", "--help"}, exitOK, "--digest DIGEST", "", ""},
		{[]string{"bogus"}, exitUsage, "", `unknown command "bogus"`, ""},
		{[]string{"token"}, exitUsage, "", "token needs a subcommand: create, list, revoke", ""},
		{[]string{"token", "eat"}, exitUsage, "", `unknown command "token eat"`, ""},
		{[]string{"keygen"}, exitUsage, "", "--out is required\nRun 'attest help keygen' for usage.", ""},
		{[]string{"keygen", "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus", ""},
		{[]string{"keygen", "--out", "k", "extra"}, exitUsage, "", `unexpected argument "extra"`, ""},
		{[]string{"keygen", "--out", filepath.Join(t.TempDir(), "k"), "--type", "dsa"}, exitUsage, "", `unknown --type "dsa"`, ""},
		{[]string{"project", "create"}, exitUsage, "", "missing NAME", ""},
		{[]string{"project", "list"}, exitUsage, "", "no token", ""},
		{[]string{"token", "create", "--token", "t"}, exitUsage, "", "--role is required", ""},
		{[]string{"get", "--token", "t", "--digest", "sha256:abc"}, exitUsage, "", "--digest: digest: sha256 value", ""},
		{[]string{"submit", "--token", "t"}, exitUsage, "", "missing FILE", ""},
		{[]string{"submit", "--token", "t", "--receipt", "r.json", "a", "b"}, exitUsage, "", "--receipt takes one envelope", ""},
		{[]string{"run", "--key", "k", "--", "true"}, exitUsage, "", "--step is required", ""},
		{[]string{"run", "--step", "s", "--key", "k"}, exitUsage, "", "no command to run", ""},
		{[]string{"run", "--step", "a/b", "--key", "k", "--no-submit", "true"}, exitUsage, "", "give --out", ""},
		{[]string{"run", "--step", "s", "--key", "k", "--no-submit", "--receipt", "r", "true"}, exitUsage, "", "--receipt needs a submission", ""},
		{[]string{"--timeout", "x", "help"}, exitUsage, "", "invalid value", ""},
		{[]string{"help", "log"}, exitOK, "attest log verify", "", ""},
		{[]string{"log"}, exitUsage, "", "log needs a subcommand: pin, checkpoint, verify, proof", ""},
		{[]string{"help", "get"}, exitOK, "--verify", "", ""},
		{[]string{"help", "submit"}, exitOK, "--wait", "", ""},
		{[]string{"help", "run"}, exitOK, "--wait", "", ""},
		{[]string{"help", "log", "pin"}, exitOK, "--force", "", ""},
		{[]string{"help"}, exitOK, "--log-key FILE", "", ""},
		{[]string{"log", "pin", "--token", "t"}, exitUsage, "", "--log-key FILE is required", ""},
		{[]string{"log", "proof", "--token", "t"}, exitUsage, "", "--id is required", ""},
		{[]string{"log", "verify", "--token", "t"}, exitUsage, "", "cannot reach attestd at 127.0.0.1:7700", ""},
		{[]string{"run", "--step", "s", "--key", "k", "--no-submit", "--wait", "true"}, exitUsage, "", "--wait needs a submission", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := attest(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantOut, out)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		out, errOut, code := attest(t, append(strings.Fields(c.name), "-h")...)
		if code != exitOK || !strings.Contains(out, "Usage: attest "+c.name) || !strings.Contains(out, "Example:\n  attest ") {
			t.Errorf("attest %s -h: exit %d\n%s%s", c.name, code, out, errOut)
		}
	}
}

func TestCodeName(t *testing.T) {
	for c, want := range map[codes.Code]string{
		codes.OK:                "OK",
		codes.PermissionDenied:  "PERMISSION_DENIED",
		codes.Unavailable:       "UNAVAILABLE",
		codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.Unauthenticated:   "UNAUTHENTICATED",
	} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%v) = %q, want %q", c, got, want)
		}
	}
}

func TestRPCErrorExitCodes(t *testing.T) {
	e := &env{g: defaultGlobals(func(string) string { return "" })}
	tests := []struct {
		err  error
		code int
		msg  string
	}{
		{status.Error(codes.PermissionDenied, "no valid signature"), exitFailed, "submit x: PERMISSION_DENIED: no valid signature"},
		{status.Error(codes.Unauthenticated, "unknown token"), exitFailed, "submit x: UNAUTHENTICATED: unknown token"},
		{status.Error(codes.NotFound, "no project"), exitFailed, "submit x: NOT_FOUND: no project"},
		{status.Error(codes.Unavailable, "connection refused"), exitUsage, "submit x: UNAVAILABLE: cannot reach attestd at 127.0.0.1:7700: connection refused"},
		{status.Error(codes.Unavailable, "tls: first record does not look like a TLS handshake"), exitUsage, "add --plaintext"},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), exitUsage, "DEADLINE_EXCEEDED: no answer from 127.0.0.1:7700"},
		{errors.New("plain"), exitFailed, "submit x: plain"},
	}
	for _, tt := range tests {
		err := e.rpcError("submit x", tt.err)
		if got := exitCodeOf(err); got != tt.code {
			t.Errorf("%v: exit code %d, want %d", tt.err, got, tt.code)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%v: message %q does not contain %q", tt.err, err, tt.msg)
		}
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableServer(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range [][]string{
		{"project", "list", "--server", addr, "--plaintext", "--token", "t"},
		{"--server", addr, "project", "create", "acme", "--token", "t", "--plaintext"},
		{"token", "list", "--project", "acme", "--server=" + addr, "--token=t", "--plaintext", "--timeout", "5s"},
		{"get", "--digest", "sha256:" + strings.Repeat("ab", 32), "--server", addr, "--token", "t", "--plaintext"},
	} {
		out, errOut, code := attest(t, args...)
		if code != exitUsage || !strings.Contains(errOut, "UNAVAILABLE: cannot reach attestd at "+addr) {
			t.Errorf("attest %q: exit %d, stdout %q, stderr %q; want exit 2 and UNAVAILABLE", args, code, out, errOut)
		}
	}
}

func TestEnvironment(t *testing.T) {
	addr := closedAddr(t)
	t.Setenv("ATTEST_SERVER", addr)
	t.Setenv("ATTEST_TOKEN", "from-env")
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"key", "list", "--plaintext"}, nil, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "cannot reach attestd at "+addr) {
		t.Errorf("exit %d, stderr %q: ATTEST_SERVER and ATTEST_TOKEN were not used", code, errb.String())
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "build.key")
	out, errOut, code := attest(t, "keygen", "--out", key, "--type", "ecdsa-p256")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	info, err := os.Stat(key)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v, %v; want mode 0600", info, err)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := attestation.ParsePublicKey(pub)
	if err != nil || pk.ID != id || pk.Scheme != attestation.SchemeECDSAP256 {
		t.Fatalf("public key %v, %v; printed id %q", pk, err, id)
	}

	// No overwriting without --force.
	before, _ := os.ReadFile(key)
	if _, errOut, code := attest(t, "keygen", "--out", key); code != exitFailed || !strings.Contains(errOut, "exists; use --force") {
		t.Errorf("overwrite: exit %d, %s", code, errOut)
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(before, after) {
		t.Error("the key was overwritten without --force")
	}
	// Flags after flags, --force, --json.
	out, errOut, code = attest(t, "keygen", "--force", "--out", key, "--json")
	if code != exitOK || !strings.Contains(out, `"keyId": "`) || strings.Contains(out, id) {
		t.Errorf("--force --json: exit %d, %s%s", code, out, errOut)
	}
}
