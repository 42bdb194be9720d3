package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store/dbtest"
)

// This file checks attestd against python in-toto 1.3.1 (Debian's in-toto package), the reference
// implementation: its keys, links and layouts go through attestd as python wrote them, and both
// implementations reach the same verdicts.

// pythonBin is the interpreter Debian's in-toto package installs its module for.
const pythonBin = "/usr/bin/python3"

// requirePythonInToto skips the test when python in-toto is not installed, or fails it when the
// environment says that nothing may be skipped silently (CI=true or ATTESTD_REQUIRE_DB=1).
func requirePythonInToto(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"in-toto-keygen", "in-toto-run", "in-toto-sign", "in-toto-verify"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if err := exec.Command(pythonBin, "-c", "import in_toto").Run(); err != nil {
		missing = append(missing, pythonBin+" -c 'import in_toto'")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("python in-toto is not installed (missing: %s); apt-get install -y in-toto", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" || os.Getenv(dbtest.EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// py runs a python in-toto tool in dir and returns its combined output and exit code; err is set only when
// the tool could not be run at all.
func py(dir, name string, args ...string) (out string, code int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(b), ee.ExitCode(), nil
	}
	if err != nil {
		return string(b), -1, fmt.Errorf("run %s: %w", name, err)
	}
	return string(b), 0, nil
}

// pyOK runs a python in-toto tool and returns an error unless it exits 0.
func pyOK(dir, name string, args ...string) error {
	out, code, err := py(dir, name, args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, out)
	}
	return err
}

// parallel runs fns concurrently (python's start-up is slow) and joins their errors.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// background runs fn while the test goes on, and returns the function that waits for its result. The
// test waits for fn before its temporary directories are removed.
func background(t *testing.T, fn func() error) (wait func() error) {
	done := make(chan struct{})
	var err error
	go func() { defer close(done); err = fn() }()
	t.Cleanup(func() { <-done })
	return func() error { <-done; return err }
}

// pyStep and pyLayout are the spec that make_layout.py reads.
type pyStep struct {
	Name            string              `json:"name"`
	Keys            []map[string]string `json:"keys"`
	ExpectedCommand string              `json:"expected_command,omitempty"`
	Materials       []string            `json:"materials"`
	Products        []string            `json:"products"`
}

type pyLayout struct {
	Out              string   `json:"out"`
	Readme           string   `json:"readme"`
	ExpiresDays      int      `json:"expires_days"`
	DropEmptyPrivate bool     `json:"drop_empty_private"`
	SignWith         string   `json:"sign_with,omitempty"`
	Steps            []pyStep `json:"steps"`
}

// pySide is what python in-toto makes: keys, two recorded supply chains, signed layouts.
type pySide struct {
	root, keys, ws, links, ecws, eclinks string
	layout                               string // the layout as python's API writes it, signed by in-toto-sign
	layoutNoPrivate                      string // the same without the empty keyval.private members, signed with the API
	ecLayout                             string // one step whose functionary key is an ECDSA key
}

func newPySide(root string) *pySide {
	j := func(name string) string { return filepath.Join(root, name) }
	return &pySide{root: root, keys: j("keys"), ws: j("ws"), links: j("links"), ecws: j("ecws"), eclinks: j("eclinks"),
		layout: j("root.layout"), layoutNoPrivate: j("root-no-private.layout"), ecLayout: j("ecdsa.layout")}
}

func (p *pySide) key(name string) string { return filepath.Join(p.keys, name) }

// make generates the keys, records the supply chains and writes the signed layouts, all with python in-toto.
func (p *pySide) make(script string) error {
	for _, d := range []string{p.keys, filepath.Join(p.ws, "upstream"), p.links, p.ecws, p.eclinks} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for name, content := range map[string]string{"hello.sh": "#!/bin/sh\necho 'hello, world'\n", "VERSION": "1.0\n"} {
		if err := os.WriteFile(filepath.Join(p.ws, "upstream", name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	keyTypes := map[string]string{
		"alice": "rsa",     // write-code
		"bob":   "ed25519", // build
		"carol": "rsa",     // package
		"dave":  "ed25519", // a key of the project, but no step's functionary
		"erin":  "ecdsa",   // write-notes, in the ecdsa subtest
		"owner": "rsa",     // signs the layouts
	}
	var keygens []func() error
	for name, typ := range keyTypes {
		keygens = append(keygens, func() error { return pyOK(p.keys, "in-toto-keygen", "-t", typ, "-b", "2048", name) })
	}
	if err := parallel(keygens...); err != nil {
		return err
	}
	return parallel(p.record, func() error { return p.layouts(script) })
}

// record runs the supply chain with in-toto-run: real files, real commands. Links go to p.links, out of
// the recorded paths.
func (p *pySide) record() error {
	for _, args := range [][]string{
		{"-n", "write-code", "-k", p.key("alice"), "-p", "src", "--", "cp", "-R", "upstream", "src"},
		{"-n", "build", "-t", "ed25519", "-k", p.key("bob"), "-m", "src", "-p", "build", "-s", "--",
			"sh", "-c", `mkdir build && cat src/hello.sh src/VERSION > build/hello && echo "built héllo"`},
		{"-n", "package", "-k", p.key("carol"), "-m", "build", "-p", "hello.tar", "--", "tar", "-cf", "hello.tar", "build/hello"},
		// The same step signed off by dave, who is not its functionary.
		{"-n", "package", "-t", "ed25519", "-k", p.key("dave"), "-m", "build", "-p", "hello.tar", "-x"},
	} {
		if err := pyOK(p.ws, "in-toto-run", append([]string{"-d", p.links}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// layouts records the ECDSA step and writes the layouts with make_layout.py and in-toto-sign.
func (p *pySide) layouts(script string) error {
	if err := pyOK(p.ecws, "in-toto-run", "-d", p.eclinks, "-n", "write-notes", "-t", "ecdsa", "-k", p.key("erin"),
		"-p", "notes.txt", "--", "sh", "-c", "echo notes > notes.txt"); err != nil {
		return err
	}
	steps := []pyStep{
		{Name: "write-code", Keys: []map[string]string{{"path": p.key("alice.pub"), "type": "rsa"}},
			ExpectedCommand: "cp -R upstream src", Materials: []string{"DISALLOW *"},
			Products: []string{"REQUIRE src/hello.sh", "CREATE src/hello.sh", "CREATE src/VERSION", "DISALLOW *"}},
		{Name: "build", Keys: []map[string]string{{"path": p.key("bob.pub"), "type": "ed25519"}},
			Materials: []string{"MATCH src/* WITH PRODUCTS FROM write-code", "DISALLOW *"},
			Products:  []string{"CREATE build/hello", "DISALLOW *"}},
		{Name: "package", Keys: []map[string]string{{"path": p.key("carol.pub"), "type": "rsa"}},
			ExpectedCommand: "tar -cf hello.tar build/hello",
			Materials:       []string{"MATCH hello IN build WITH PRODUCTS IN build FROM build", "DISALLOW *"},
			Products:        []string{"CREATE hello.tar", "DISALLOW *"}},
	}
	spec := []pyLayout{
		{Out: p.layout + ".unsigned", Steps: steps},
		{Out: p.layoutNoPrivate, Steps: steps, DropEmptyPrivate: true, SignWith: p.key("owner")},
		{Out: p.ecLayout, SignWith: p.key("owner"), Steps: []pyStep{{Name: "write-notes",
			Keys: []map[string]string{{"path": p.key("erin.pub"), "type": "ecdsa"}}, Products: []string{"CREATE notes.txt", "DISALLOW *"}}}},
	}
	for i := range spec {
		spec[i].Readme, spec[i].ExpiresDays = "made by python in-toto", 1
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	specFile := filepath.Join(p.root, "layouts.json")
	if err := os.WriteFile(specFile, b, 0o644); err != nil {
		return err
	}
	if err := pyOK(p.root, pythonBin, script, specFile); err != nil {
		return err
	}
	return pyOK(p.root, "in-toto-sign", "-f", p.layout+".unsigned", "-k", p.key("owner"), "-o", p.layout)
}

// signer returns the step name (empty for a layout) and the signature's key id of a metablock python wrote.
func signer(t *testing.T, path string) (step, keyID string) {
	t.Helper()
	var mb struct {
		Signatures []struct{ KeyID string }
		Signed     struct{ Name string }
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &mb); err != nil || len(mb.Signatures) != 1 {
		t.Fatalf("%s: %v, %d signatures", path, err, len(mb.Signatures))
	}
	return mb.Signed.Name, mb.Signatures[0].KeyID
}

// linkBy returns the link of step in dir that python signed with the key attestd registered for who as id:
// finding it shows that attestd's key id is the one python in-toto signs with.
func linkBy(t *testing.T, dir, step, who, id string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, step+".*.link"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range files {
		if s, keyID := signer(t, f); s == step && keyID == id {
			return f
		} else if s == step {
			ids = append(ids, keyID)
		}
	}
	t.Fatalf("python in-toto signed the %s links with key ids %v; attestd registered %s's key as %s", step, ids, who, id)
	return ""
}

// pyVerify runs python's in-toto-verify on layout with the owner's public key, over links copied into dir
// under the names given: python finds a step's links by file name.
func pyVerify(p *pySide, dir, layout string, links map[string]string) (string, int, error) {
	for name, src := range links {
		b, err := os.ReadFile(src)
		if err != nil {
			return "", 0, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", 0, err
		}
	}
	return py(dir, "in-toto-verify", "-l", layout, "-k", p.key("owner.pub"), "--link-dir", dir)
}

// pyProject is a project with its admin, attestor and verifier CLIs; the verifier works in dir.
type pyProject struct{ admin, runner, verifier *cli }

// newPyProject makes the tokens of the project pa administers and registers the python-made keys of names
// and the owner key; it returns the key ids attest printed.
func newPyProject(t *testing.T, pa *cli, p *pySide, dir string, names ...string) (*pyProject, map[string]string) {
	t.Helper()
	pp := &pyProject{admin: pa, runner: &cli{t: t, d: pa.d, dir: p.root}, verifier: &cli{t: t, d: pa.d, dir: dir}}
	pp.runner.token = strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "attestor"))
	pp.verifier.token = strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "verifier"))
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = strings.TrimSpace(pa.ok("--plaintext", "key", "add", "--pub", p.key(n+".pub"), "--description", n))
	}
	ids["owner"] = strings.TrimSpace(pa.ok("--plaintext", "key", "add", "--pub", p.key("owner.pub"), "--owner"))
	return pp, ids
}

// newProject creates the project name and returns a CLI with an admin token of it.
func newProject(t *testing.T, admin *cli, name string) *cli {
	t.Helper()
	admin.ok("--plaintext", "project", "create", name)
	token := strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", name, "--role", "admin"))
	return &cli{t: t, d: admin.d, dir: t.TempDir(), token: token}
}

// release pushes layout as "release" and binds *.tar files to it.
func (pp *pyProject) release(layout string) {
	pp.admin.ok("--plaintext", "layout", "push", "--name", "release", layout)
	pp.admin.ok("--plaintext", "policy", "set", "--name", "tars", "--kind", "file", "--match", "*.tar", "--layout", "release")
}

// TestPythonInToto: keys made by in-toto-keygen, links recorded by in-toto-run and layouts written with
// python in-toto's API and signed by in-toto-sign go through attest key add, submit, layout push and verify
// unchanged; attestd allows the product of the supply chain and denies a tampered product, a missing step
// and a step signed by a key that is not its functionary's; python's in-toto-verify agrees.
func TestPythonInToto(t *testing.T) {
	requirePythonInToto(t)
	script, err := filepath.Abs(filepath.Join("testdata", "intoto-python", "make_layout.py"))
	if err != nil {
		t.Fatal(err)
	}
	p := newPySide(t.TempDir())
	made := background(t, func() error { return p.make(script) })
	d, admin, pa := startShop(t)
	if err := made(); err != nil {
		t.Fatalf("python in-toto: %v", err)
	}

	shop, ids := newPyProject(t, pa, p, p.ws, "alice", "bob", "carol", "dave")
	writeCode := linkBy(t, p.links, "write-code", "alice", ids["alice"])
	build := linkBy(t, p.links, "build", "bob", ids["bob"])
	pkg := linkBy(t, p.links, "package", "carol", ids["carol"])
	pkgDave := linkBy(t, p.links, "package", "dave", ids["dave"])
	if _, id := signer(t, p.layout); id != ids["owner"] {
		t.Fatalf("in-toto-sign signed the layout with key id %s; attestd registered the owner key as %s", id, ids["owner"])
	}

	// The layout exactly as python in-toto's API writes it: attestd must take it.
	layout := p.layout
	r := pa.run("--plaintext", "layout", "push", "--name", "release", layout)
	if r.code != 0 {
		t.Errorf("attestd refuses the layout written by python in-toto's Layout.add_functionary_key_from_path, whose "+
			"RSA keys keep securesystemslib's empty keyval.private: exit %d\n%s", r.code, r.stderr)
		layout = p.layoutNoPrivate // go on with the same layout without the empty members
		r = pa.run("--plaintext", "layout", "push", "--name", "release", layout)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "version 1") || !strings.Contains(r.stdout, "signed by "+ids["owner"]) {
		t.Fatalf("layout push %s: exit %d\n%s%s", filepath.Base(layout), r.code, r.stdout, r.stderr)
	}

	// Python's verdicts on the same layout and links, while attestd is asked.
	type verdict struct {
		out  string
		code int
	}
	base := filepath.Base
	pyCases := []map[string]string{
		{base(writeCode): writeCode, base(build): build, base(pkg): pkg},     // allowed
		{base(writeCode): writeCode, base(pkg): pkg},                         // no build link
		{base(writeCode): writeCode, base(build): build, base(pkg): pkgDave}, // dave's link where carol's belongs
	}
	verdicts := make([]verdict, len(pyCases))
	var fns []func() error
	for i, links := range pyCases {
		dir := t.TempDir()
		fns = append(fns, func() (err error) {
			verdicts[i].out, verdicts[i].code, err = pyVerify(p, dir, layout, links)
			return err
		})
	}
	pyVerified := background(t, func() error { return parallel(fns...) })

	// Allowed.
	pa.ok("--plaintext", "policy", "set", "--name", "tars", "--kind", "file", "--match", "*.tar", "--layout", "release")
	pa.ok("--plaintext", "policy", "set", "--name", "pkgs", "--kind", "package", "--match", "hello.tar", "--layout", "release")
	out := shop.runner.ok("--plaintext", "submit", "--wait", writeCode, build, pkg)
	if n := strings.Count(out, "verified in log"); n != 3 {
		t.Fatalf("submit: %d of 3 links verified in the log:\n%s", n, out)
	}
	out = shop.verifier.ok("--plaintext", "verify", "file", "hello.tar")
	if !strings.Contains(out, "ALLOWED: file hello.tar") || !strings.Contains(out, "layout release version 1") {
		t.Fatalf("verify file hello.tar:\n%s", out)
	}
	if out := shop.verifier.ok("--plaintext", "verify", "package", "hello.tar"); !strings.Contains(out, "ALLOWED: package hello.tar") {
		t.Fatalf("verify package hello.tar:\n%s", out)
	}

	// A product changed after it was recorded.
	good, err := os.ReadFile(filepath.Join(p.ws, "hello.tar"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := &cli{t: t, d: d, dir: t.TempDir(), token: shop.verifier.token}
	if err := os.WriteFile(filepath.Join(tampered.dir, "hello.tar"), append(good, "tampered\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	r = tampered.run("--plaintext", "verify", "file", "hello.tar")
	want := fmt.Sprintf(`but the product "hello.tar" of the last step "package" has sha256:%x`, sha256.Sum256(good))
	if r.code != 1 || !strings.Contains(r.stdout, "DENIED") || !strings.Contains(r.stdout, want) {
		t.Fatalf("verify a tampered hello.tar: exit %d, want 1 and %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}

	// A step missing: its link is not submitted.
	missing, _ := newPyProject(t, newProject(t, admin, "shop-missing"), p, p.ws, "alice", "bob", "carol")
	missing.release(layout)
	missing.runner.ok("--plaintext", "submit", "--wait", writeCode, pkg)
	r = missing.verifier.run("--plaintext", "verify", "file", "hello.tar")
	if r.code != 1 || !strings.Contains(r.stdout, "DENIED") || !strings.Contains(r.stdout, `step "build" has no attestation`) {
		t.Fatalf("verify with no build link: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The package step signed by dave, a key of the project but not the step's functionary.
	wrongKey, _ := newPyProject(t, newProject(t, admin, "shop-wrong-key"), p, p.ws, "alice", "bob", "carol", "dave")
	wrongKey.release(layout)
	wrongKey.runner.ok("--plaintext", "submit", "--wait", writeCode, build, pkgDave)
	r = wrongKey.verifier.run("--plaintext", "verify", "file", "hello.tar")
	if r.code != 1 || !strings.Contains(r.stdout, "DENIED") || !strings.Contains(r.stdout, "not signed by a valid key of the step") ||
		!strings.Contains(r.stdout, `step "package": threshold 1 needs 1 distinct keys, found 0`) {
		t.Fatalf("verify with the package link signed by dave: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Python agrees.
	if err := pyVerified(); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		what string
		code int
		want string
	}{
		{"allows hello.tar", 0, ""},
		{"denies hello.tar without a build link", 1, "Step 'build' requires '1' link metadata file(s), found '0'"},
		{"denies hello.tar packaged by dave", 1, "Step 'package' requires at least '1' links validly signed by different authorized functionaries"},
	} {
		if v := verdicts[i]; v.code != c.code || !strings.Contains(v.out, c.want) {
			t.Errorf("attestd %s; python's in-toto-verify exits %d, want %d and %q:\n%s", c.what, v.code, c.code, c.want, v.out)
		}
	}

	t.Run("ecdsa", func(t *testing.T) { testPythonECDSA(t, admin, p) })
}

// testPythonECDSA: an ECDSA key made by in-toto-keygen (securesystemslib JSON, whose keyval.public is PEM
// with a final newline) names the same key in attestd and in python's links and layouts.
func testPythonECDSA(t *testing.T, serverAdmin *cli, p *pySide) {
	admin := &cli{t: t, d: serverAdmin.d, dir: serverAdmin.dir, token: serverAdmin.token}
	pp, ids := newPyProject(t, newProject(t, admin, "shop-ecdsa"), p, p.ecws, "erin")
	files, err := filepath.Glob(filepath.Join(p.eclinks, "write-notes.*.link"))
	if err != nil || len(files) != 1 {
		t.Fatalf("the write-notes links: %v %v", files, err)
	}
	link := files[0]
	// Python's id for the key (securesystemslib hashes keyval.public as written, with its final newline) is not
	// attestd's: attestd registers, stores and shows its canonical id, the one in-toto-golang computes, and
	// takes python's as an alias of the same key. So attest key add must print the canonical id, and python's
	// id must be an alias of that key; that python's layout, which names erin by python's id, is pushed and
	// verifies below shows that the server takes the alias.
	var pub struct{ KeyVal struct{ Public string } }
	if b, err := os.ReadFile(p.key("erin.pub")); err != nil || json.Unmarshal(b, &pub) != nil {
		t.Fatalf("read erin.pub: %v", err)
	}
	erin, err := attestation.ParsePublicKey([]byte(pub.KeyVal.Public))
	if err != nil {
		t.Fatal(err)
	}
	if _, pyID := signer(t, link); ids["erin"] != erin.ID || !erin.HasID(pyID) {
		t.Errorf("attest key add registered python in-toto's ECDSA key erin.pub as %s, want attestd's id %s, of which "+
			"python's id %s (the link's keyid) must be an alias: ids %v", ids["erin"], erin.ID, pyID, erin.IDs())
	}
	// Whatever the key id says, attestd verifies python's ECDSA signature.
	pp.runner.ok("--plaintext", "submit", "--wait", link)
	r := pp.admin.run("--plaintext", "layout", "push", "--name", "notes", p.ecLayout)
	if r.code != 0 {
		t.Fatalf("attestd refuses the python layout whose functionary key is python in-toto's ECDSA key: exit %d\n%s", r.code, r.stderr)
	}
	pp.admin.ok("--plaintext", "policy", "set", "--name", "notes", "--kind", "file", "--match", "notes.txt", "--layout", "notes")
	if out := pp.verifier.ok("--plaintext", "verify", "file", "notes.txt"); !strings.Contains(out, "ALLOWED") {
		t.Fatalf("verify file notes.txt:\n%s", out)
	}
	if out, code, err := pyVerify(p, t.TempDir(), p.ecLayout, map[string]string{filepath.Base(link): link}); err != nil || code != 0 {
		t.Fatalf("attestd allows notes.txt; python's in-toto-verify: exit %d (%v)\n%s", code, err, out)
	}
}
