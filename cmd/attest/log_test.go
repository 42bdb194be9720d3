package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
)

var v1Digest = "sha256:" + sha256Hex("v1\n")

// logRun attests a step that writes "v1\n" to app (so that every step's
// attestation lists under v1Digest) and returns stderr and the exit code.
func logRun(t *testing.T, flags []string, step string, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"run", "--step", step, "--key", "k", "--products", "app"}, flags...)
	args = append(args, extra...)
	_, errOut, code := attest(t, append(args, "--", "sh", "-c", "echo v1 > app")...)
	return errOut, code
}

// fileID is the attestation id of an envelope file.
func fileID(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return contentID(b)
}

func TestLogVerified(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)

	errOut, code := logRun(t, withKey, "build", "--wait")
	if code != exitOK || !strings.Contains(errOut, "(submitted, id "+fileID(t, "build.intoto.json")+", log index 0, verified in log attestd.test/log at size 1)") || strings.Contains(errOut, "WARNING") {
		t.Fatalf("run --wait: exit %d\n%s", code, errOut)
	}
	// Without --wait: the index only, no proof and no warning.
	if errOut, code := logRun(t, withKey, "test"); code != exitOK || !strings.HasSuffix(errOut, ", log index 1)\n") {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	// Submitted before: the original receipt, proven in today's tree.
	out, errOut, code := attest(t, append([]string{"submit", "--wait", "build.intoto.json"}, withKey...)...)
	if code != exitOK || !strings.Contains(out, "LOG INDEX") || !strings.Contains(out, "(already recorded) verified in log attestd.test/log at size 2\n") {
		t.Errorf("submit --wait: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = attest(t, append([]string{"submit", "--wait", "--json", "test.intoto.json"}, withKey...)...)
	var results []submitResult
	if err := json.Unmarshal([]byte(out), &results); code != exitOK || err != nil || len(results) != 1 ||
		*results[0].Log != (logCheck{Status: logVerified, LogIndex: 1, Origin: fakeOrigin, TreeSize: 2}) {
		t.Errorf("submit --wait --json: exit %d, %v\n%s", code, err, out)
	}

	// get verifies every row, and --json carries the proofs it checked.
	out, errOut, code = attest(t, append([]string{"get", "--digest", v1Digest}, withKey...)...)
	if code != exitOK || strings.Count(out, "  verified\n") != 2 || errOut != "" {
		t.Errorf("get: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = attest(t, append([]string{"get", "--json", "--digest", v1Digest}, withKey...)...)
	var list attestdv1.ListResponse
	if err := protojson.Unmarshal([]byte(out), &list); code != exitOK || err != nil || len(list.GetAttestations()) != 2 {
		t.Fatalf("get --json: exit %d, %v\n%s", code, err, out)
	}
	for _, a := range list.GetAttestations() {
		if p := a.GetReceipt().GetInclusionProof(); p.GetTreeSize() != 2 || len(p.GetCheckpoint()) == 0 {
			t.Errorf("get --json: %s without its checked proof", a.GetReceipt().GetId())
		}
	}

	out, errOut, code = attest(t, append([]string{"log", "proof", "--id", fileID(t, "test.intoto.json")}, withKey...)...)
	if code != exitOK || !strings.Contains(out, "log index:   1\ntree size:   2\n") || !strings.Contains(out, "verified:    yes\n") {
		t.Errorf("log proof: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = attest(t, append([]string{"log", "checkpoint"}, withKey...)...)
	if code != exitOK || !strings.Contains(out, "origin:    attestd.test/log\ntree size: 2\nroot hash: "+l.root()+"\nverified:  yes") {
		t.Errorf("log checkpoint: exit %d\n%s%s", code, out, errOut)
	}

	// log verify checks the server against what the commands above remembered.
	out, errOut, code = attest(t, append([]string{"log", "verify"}, withKey...)...)
	if code != exitOK || !strings.HasPrefix(out, "consistent: 2 -> 2 (log attestd.test/log, root "+l.root()) {
		t.Errorf("log verify: exit %d\n%s%s", code, out, errOut)
	}
	logRun(t, withKey, "package")
	out, errOut, code = attest(t, append([]string{"log", "verify", "--json"}, withKey...)...)
	var verified map[string]any
	if err := json.Unmarshal([]byte(out), &verified); code != exitOK || err != nil || verified["from"] != 2.0 || verified["to"] != 3.0 {
		t.Errorf("log verify --json after a new leaf: exit %d, %v\n%s%s", code, err, out, errOut)
	}
}

func TestLogProofOfAnotherLeafFails(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	logRun(t, withKey, "build")
	logRun(t, withKey, "test")
	l.set(func(l *fakeLog) { l.wrongProof = true })

	out, errOut, code := attest(t, append([]string{"get", "--digest", v1Digest}, withKey...)...)
	if code != exitFailed || strings.Count(out, "  FAILED\n") != 2 || strings.Count(errOut, "log verification FAILED: invalid proof") != 2 {
		t.Errorf("get: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = attest(t, append([]string{"submit", "--wait", "--receipt", "r.json", "build.intoto.json"}, withKey...)...)
	if code != exitFailed || !strings.Contains(errOut, "submit build.intoto.json: log verification FAILED: invalid proof") {
		t.Errorf("submit --wait: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat("r.json"); err == nil {
		t.Error("a receipt whose proof FAILED was written")
	}
	_, errOut, code = attest(t, append([]string{"log", "proof", "--id", fileID(t, "build.intoto.json")}, withKey...)...)
	if code != exitFailed || !strings.Contains(errOut, "log proof: FAILED: invalid proof") {
		t.Errorf("log proof: exit %d\n%s", code, errOut)
	}
}

func TestLogCheckpointOfAnotherKeyRefused(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	if errOut, code := logRun(t, withKey, "build", "--wait"); code != exitOK {
		t.Fatalf("run: %s", errOut)
	}
	other, _, _ := newLogKey(t, t.TempDir(), fakeOrigin) // the same name, another key
	l.set(func(l *fakeLog) { l.signer = other })

	errOut, code := logRun(t, withKey, "test", "--wait")
	if code != exitFailed || !strings.Contains(errOut, "log verification FAILED: checkpoint not signed by the log key from --log-key "+keyFile+":") ||
		!strings.Contains(errOut, "log index 1, log verification FAILED)") {
		t.Errorf("run --wait: exit %d\n%s", code, errOut)
	}
	for _, cmd := range [][]string{{"log", "verify"}, {"log", "checkpoint"}} {
		out, errOut, code := attest(t, append(cmd, withKey...)...)
		if code != exitFailed || out != "" || !strings.Contains(errOut, "FAILED: the server's checkpoint is not signed by the log key") {
			t.Errorf("%s: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	out, _, code := attest(t, append([]string{"get", "--digest", v1Digest}, withKey...)...)
	if code != exitFailed || strings.Count(out, "FAILED") != 2 {
		t.Errorf("get: exit %d\n%s", code, out)
	}
}

func TestLogEntryOfOtherBytesRefused(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	// The server logs (and proves, correctly) an entry for other envelope bytes.
	l.set(func(l *fakeLog) { l.lieEntry = true })

	errOut, code := logRun(t, withKey, "build", "--wait", "--receipt", "r.json")
	if code != exitFailed || !strings.Contains(errOut, "log verification FAILED: the server's log entry ") ||
		!strings.Contains(errOut, "computed from the envelope") {
		t.Errorf("run --wait: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat("r.json"); err == nil {
		t.Error("a receipt whose log entry is wrong was written")
	}
	out, errOut, code := attest(t, append([]string{"get", "--digest", v1Digest}, withKey...)...)
	if code != exitFailed || !strings.Contains(out, "FAILED") || !strings.Contains(errOut, "the server's log entry") {
		t.Errorf("get: exit %d\n%s%s", code, out, errOut)
	}
	// The entry is compared even without a log key.
	_, errOut, code = attest(t, append([]string{"log", "proof", "--id", fileID(t, "build.intoto.json")}, server...)...)
	if code != exitFailed || !strings.Contains(errOut, "FAILED: the server's log entry") {
		t.Errorf("log proof without a key: exit %d\n%s", code, errOut)
	}
}

func TestLogRollbackRefused(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	for _, step := range []string{"build", "test", "package"} {
		logRun(t, withKey, step)
	}
	out, errOut, code := attest(t, append([]string{"log", "verify"}, withKey...)...)
	if code != exitOK || !strings.HasPrefix(out, "first checkpoint of log attestd.test/log remembered: size 3, root "+l.root()) {
		t.Fatalf("first log verify: exit %d\n%s%s", code, out, errOut)
	}
	root3 := l.root()
	var first2 [][]byte
	l.set(func(l *fakeLog) { first2 = l.entries[:2] })
	l.rewrite(first2)

	out, errOut, code = attest(t, append([]string{"log", "verify"}, withKey...)...)
	for _, want := range []string{
		`attest: REFUSED: ROLLBACK of the transparency log "attestd.test/log"`,
		"remembered: size 3, root " + root3 + "\n",
		"offered:    size 2, root " + l.root() + "\n",
		"Evidence (both signed checkpoints): ",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("log verify after a rollback: stderr does not contain %q", want)
		}
	}
	if code != exitFailed || out != "" {
		t.Errorf("log verify after a rollback: exit %d, stdout %q\n%s", code, out, errOut)
	}
	evidence, _ := filepath.Glob(filepath.Join(os.Getenv("ATTEST_CONFIG_DIR"), "evidence", "*-rollback.txt"))
	if len(evidence) != 1 {
		t.Errorf("evidence files: %q", evidence)
	}

	// Every command that sees the smaller checkpoint refuses, and lists nothing.
	out, errOut, code = attest(t, append([]string{"get", "--digest", v1Digest}, withKey...)...)
	if code != exitFailed || out != "" || !strings.Contains(errOut, "ROLLBACK") {
		t.Errorf("get after a rollback: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = attest(t, append([]string{"submit", "--wait", "build.intoto.json"}, withKey...)...)
	if code != exitFailed || out != "" || !strings.Contains(errOut, "ROLLBACK") {
		t.Errorf("submit --wait after a rollback: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLogSplitViewRefused(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	logRun(t, withKey, "build")
	logRun(t, withKey, "test", "--wait")
	rootA := l.root()
	var entries [][]byte
	l.set(func(l *fakeLog) { entries = l.entries })
	forged := tlog.EntryFor("acme", sha256Hex("forged"), sha256Hex("forged"))

	// The same size with another root.
	l.rewrite([][]byte{entries[0], forged})
	out, errOut, code := attest(t, append([]string{"log", "verify"}, withKey...)...)
	if code != exitFailed || out != "" || !strings.Contains(errOut, `REFUSED: SPLIT VIEW of the transparency log "attestd.test/log"`) ||
		!strings.Contains(errOut, "remembered: size 2, root "+rootA+"\n") || !strings.Contains(errOut, "offered:    size 2, root "+l.root()+"\n") {
		t.Errorf("same size, other root: exit %d\n%s%s", code, out, errOut)
	}

	// A larger tree that does not extend the remembered one.
	l.rewrite([][]byte{forged, entries[1], forged})
	_, errOut, code = attest(t, append([]string{"log", "checkpoint"}, withKey...)...)
	if code != exitFailed || !strings.Contains(errOut, "SPLIT VIEW") || !strings.Contains(errOut, "offered:    size 3, root "+l.root()+"\n") {
		t.Errorf("larger, inconsistent tree: exit %d\n%s", code, errOut)
	}
}

func TestLogStaleCheckpointIsRetried(t *testing.T) {
	// Another attest on this machine may remember a newer checkpoint between
	// the server's answer and the check: a fresh answer settles it.
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	logRun(t, withKey, "build")
	logRun(t, withKey, "test", "--wait")
	l.set(func(l *fakeLog) { l.staleOnce = true })
	out, errOut, code := attest(t, append([]string{"log", "verify"}, withKey...)...)
	if code != exitOK || !strings.HasPrefix(out, "consistent: 2 -> 2") {
		t.Errorf("log verify: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLogKeyPinning(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	logRun(t, server, "build")

	out, errOut, code := attest(t, append([]string{"log", "pin", "--log-key", keyFile}, server...)...)
	if code != exitOK || !strings.HasPrefix(out, "pinned log key attestd.test/log+") || !strings.Contains(out, "checkpoint of size 1 verified") {
		t.Fatalf("log pin: exit %d\n%s%s", code, out, errOut)
	}
	key, _ := os.ReadFile(keyFile)
	pinFile := filepath.Join(os.Getenv("ATTEST_CONFIG_DIR"), "logs", serverDirName(server[1]), "log.pub")
	if pinned, err := os.ReadFile(pinFile); err != nil || !bytes.Equal(pinned, key) {
		t.Fatalf("pinned key %q, %v; want %q", pinned, err, key)
	}
	// Later commands verify with the pinned key, without --log-key.
	out, errOut, code = attest(t, append([]string{"get", "--digest", v1Digest}, server...)...)
	if code != exitOK || !strings.Contains(out, "  verified\n") || errOut != "" {
		t.Errorf("get with the pinned key: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = attest(t, append([]string{"log", "pin", "--log-key", keyFile}, server...)...)
	if code != exitOK || !strings.Contains(out, "was already pinned") {
		t.Errorf("pin again: exit %d\n%s", code, out)
	}

	// Another key is refused everywhere; the pin stays.
	_, _, otherFile := newLogKey(t, t.TempDir(), fakeOrigin)
	_, errOut, code = attest(t, append([]string{"get", "--digest", v1Digest, "--log-key", otherFile}, server...)...)
	if code != exitFailed || !strings.Contains(errOut, "but the log key pinned for "+server[1]+" is attestd.test/log+") ||
		!strings.Contains(errOut, "A pinned key is never replaced silently") {
		t.Errorf("get with another key: exit %d\n%s", code, errOut)
	}
	_, errOut, code = attest(t, append([]string{"log", "pin", "--log-key", otherFile}, server...)...)
	if code != exitFailed || !strings.Contains(errOut, "is already pinned for") || !strings.Contains(errOut, "--force") {
		t.Errorf("pin another key: exit %d\n%s", code, errOut)
	}
	// Even --force pins no key that does not sign the server's log.
	_, errOut, code = attest(t, append([]string{"log", "pin", "--force", "--log-key", otherFile}, server...)...)
	if code != exitFailed || !strings.Contains(errOut, "log pin: not pinned: FAILED: the server's checkpoint is not signed by the log key") {
		t.Errorf("pin --force a key of another log: exit %d\n%s", code, errOut)
	}
	if pinned, _ := os.ReadFile(pinFile); !bytes.Equal(pinned, key) {
		t.Errorf("the pin changed to %q", pinned)
	}

	// The operator moves the log to a new key: --force replaces the pin.
	signer, newKey, newFile := newLogKey(t, t.TempDir(), "attestd.test/log-2027")
	l.set(func(l *fakeLog) { l.signer = signer })
	out, errOut, code = attest(t, append([]string{"log", "pin", "--force", "--log-key", newFile}, server...)...)
	if pinned, _ := os.ReadFile(pinFile); code != exitOK || string(pinned) != newKey+"\n" {
		t.Fatalf("pin --force the new key: exit %d, pin %q\n%s%s", code, pinned, out, errOut)
	}
	out, errOut, code = attest(t, append([]string{"log", "verify"}, server...)...)
	if code != exitOK || !strings.Contains(out, "log attestd.test/log-2027") {
		t.Errorf("log verify with the new pin: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLogWithoutKeyWarns(t *testing.T) {
	workdir(t)
	_, _, server, _ := startFakeLog(t)
	const warning = "attest: WARNING: no log key for "

	errOut, code := logRun(t, server, "build", "--wait", "--receipt", "r.json")
	if code != exitOK || strings.Count(errOut, warning) != 1 || !strings.Contains(errOut, "log index 0, log NOT verified (no log key))") {
		t.Errorf("run --wait: exit %d\n%s", code, errOut)
	}
	logRun(t, server, "test")
	out, errOut, code := attest(t, append([]string{"get", "--digest", v1Digest}, server...)...)
	if code != exitOK || strings.Count(errOut, warning) != 1 || strings.Count(out, "  unverified\n") != 2 {
		t.Errorf("get: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = attest(t, append([]string{"log", "checkpoint"}, server...)...)
	if code != exitOK || !strings.Contains(errOut, warning) || !strings.Contains(out, "tree size: 2\n") || !strings.Contains(out, "verified:  NO") {
		t.Errorf("log checkpoint: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = attest(t, append([]string{"log", "proof", "--id", fileID(t, "build.intoto.json")}, server...)...)
	if code != exitOK || !strings.Contains(errOut, warning) || !strings.Contains(out, "verified:    NO") {
		t.Errorf("log proof: exit %d\n%s%s", code, out, errOut)
	}
	// Asking to verify without a key is a usage error.
	for _, args := range [][]string{{"log", "verify"}, {"get", "--verify", "--digest", v1Digest}} {
		_, errOut, code := attest(t, append(args, server...)...)
		if code != exitUsage || !strings.Contains(errOut, "pass --log-key FILE (the line 'attestd log-key' prints) or pin it with 'attest log pin'") {
			t.Errorf("%s: exit %d\n%s", args, code, errOut)
		}
	}
	// --verify=false: no warning.
	if _, errOut, code := attest(t, append([]string{"get", "--verify=false", "--digest", v1Digest}, server...)...); code != exitOK || errOut != "" {
		t.Errorf("get --verify=false: exit %d\n%s", code, errOut)
	}
}

func TestLogPendingCheckpoint(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	withKey := append([]string{"--log-key", keyFile}, server...)
	l.set(func(l *fakeLog) { l.hold = true })
	logRun(t, withKey, "build")

	out, errOut, code := attest(t, append([]string{"get", "--digest", v1Digest}, withKey...)...)
	if code != exitOK || !regexp.MustCompile(`\s0\s+-\s+pending checkpoint\n`).MatchString(out) {
		t.Errorf("get: exit %d\n%s%s", code, out, errOut)
	}
	id := fileID(t, "build.intoto.json")
	_, errOut, code = attest(t, append([]string{"log", "proof", "--id", id}, withKey...)...)
	if code != exitFailed || !strings.Contains(errOut, "pending checkpoint") {
		t.Errorf("log proof: exit %d\n%s", code, errOut)
	}
	out, errOut, code = attest(t, append([]string{"log", "proof", "--id", id, "--wait"}, withKey...)...)
	if code != exitOK || !strings.Contains(out, "verified:    yes") {
		t.Errorf("log proof --wait: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLogKeyFromEnvironment(t *testing.T) {
	_, _, server, keyFile := startFakeLog(t)
	t.Setenv("ATTEST_CONFIG_DIR", t.TempDir())
	t.Setenv("ATTEST_LOG_KEY", keyFile)
	var out, errb bytes.Buffer
	code := run(t.Context(), append([]string{"log", "verify"}, server...), nil, &out, &errb)
	if code != exitOK || !strings.HasPrefix(out.String(), "first checkpoint of log attestd.test/log remembered: size 0") {
		t.Errorf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestLogKeyFileChecked(t *testing.T) {
	_, _, server, _ := startFakeLog(t)
	dir := t.TempDir()
	private := filepath.Join(dir, "log.key")
	os.WriteFile(private, []byte("PRIVATE+KEY+attestd.test/log+0a1b2c3d+AQ==\n"), 0o600)
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello\n"), 0o644)
	for file, want := range map[string]string{
		private:                       "holds the log's private signing key",
		junk:                          "is not a log verifier key",
		filepath.Join(dir, "missing"): "no such file",
	} {
		_, errOut, code := attest(t, append([]string{"log", "verify", "--log-key", file}, server...)...)
		if code != exitUsage || !strings.Contains(errOut, want) {
			t.Errorf("--log-key %s: exit %d\n%s", file, code, errOut)
		}
	}
}

func TestServerDirName(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7700":                 "127.0.0.1_7700",
		"Attestd.Example.COM:443":        "attestd.example.com_443",
		"dns:///attestd.example.com:443": "dns____attestd.example.com_443",
		"[::1]:7700":                     "___1__7700",
		"..":                             "_..",
		"":                               "_",
	} {
		if got := serverDirName(in); got != want {
			t.Errorf("serverDirName(%q) = %q, want %q", in, got, want)
		}
	}
}

// Without a key, attest pins the key the server names (with a loud warning) and verifies with it from then on;
// a server that later signs with another key is refused.
func TestLogKeyTrustOnFirstUse(t *testing.T) {
	workdir(t)
	_, l, server, keyFile := startFakeLog(t)
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l.set(func(l *fakeLog) { l.namedKey = strings.TrimSpace(string(b)) })
	errOut, code := logRun(t, server, "build", "--wait")
	if code != exitOK || !strings.Contains(errOut, "pinned the key the server names (trust on first use)") || !strings.Contains(errOut, "verified in log") {
		t.Fatalf("first run --wait: exit %d\n%s", code, errOut)
	}
	out, errOut, code := attest(t, append([]string{"get", "--digest", v1Digest}, server...)...)
	if code != exitOK || strings.Contains(errOut, "WARNING") || !strings.Contains(out, "verified") {
		t.Fatalf("get after the pin: exit %d\n%s%s", code, out, errOut)
	}
	// The server now signs with another key (and names it): the pin holds, the answer is refused.
	other, otherKey, _ := newLogKey(t, t.TempDir(), fakeOrigin)
	l.set(func(l *fakeLog) { l.signer, l.namedKey = other, otherKey })
	out, errOut, code = attest(t, append([]string{"log", "verify"}, server...)...)
	if code == exitOK {
		t.Fatalf("log verify accepted a checkpoint signed by another key than the pinned one:\n%s%s", out, errOut)
	}
}
