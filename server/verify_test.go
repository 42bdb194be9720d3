package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	in_toto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
)

func (e *env) verifier() attestdv1.VerifyServiceClient {
	return attestdv1.NewVerifyServiceClient(e.conn)
}

// linkStatement is a link v0.3 statement of step with the given materials and products (name -> digest hex).
func linkStatement(step string, materials, products map[string]string) []byte {
	refs := func(m map[string]string) string {
		var out []string
		for _, n := range sortedKeys(m) {
			out = append(out, fmt.Sprintf(`{"name":%q,"digest":{"sha256":%q}}`, n, m[n]))
		}
		return strings.Join(out, ",")
	}
	return []byte(fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[%s],`+
		`"predicateType":"https://in-toto.io/attestation/link/v0.3",`+
		`"predicate":{"name":%q,"command":["make"],"materials":[%s]}}`, refs(products), step, refs(materials)))
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// submitLogged submits a link signed by s and waits until a checkpoint covers it; it returns its id.
// connDB opens a plain connection to the env's database, for changes behind attestd's back.
func (e *env) connDB(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (e *env) submitLogged(t *testing.T, secret string, stmt []byte, s *signer) string {
	t.Helper()
	resp, err := e.atts().Submit(as(secret), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, stmt, s)})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetReceipt().GetId()
	if _, err := attestdv1.NewLogServiceClient(e.conn).GetInclusionProof(as(secret),
		&attestdv1.GetInclusionProofRequest{AttestationId: id, Wait: true}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) verify(t *testing.T, secret, kind, name, digest string) *attestdv1.Decision {
	t.Helper()
	resp, err := e.verifier().Verify(as(secret), &attestdv1.VerifyRequest{Kind: kind, Name: name, Digest: digest})
	if err != nil {
		t.Fatalf("Verify(%s %s %s): %v", kind, name, digest, err)
	}
	return resp.GetDecision()
}

// wantDenied fails unless d is a denial with a reason containing every fragment.
func wantDenied(t *testing.T, d *attestdv1.Decision, fragments ...string) {
	t.Helper()
	if d.GetAllowed() {
		t.Fatalf("allowed, want denied (%v)", fragments)
	}
	all := strings.Join(d.GetReasons(), "\n")
	for _, f := range fragments {
		if !strings.Contains(all, f) {
			t.Fatalf("reasons do not mention %q:\n%s", f, all)
		}
	}
	t.Logf("denied: %q", d.GetReasons())
}

// wantNoReason fails if a reason of d contains fragment.
func wantNoReason(t *testing.T, d *attestdv1.Decision, fragment string) {
	t.Helper()
	for _, r := range d.GetReasons() {
		if strings.Contains(r, fragment) {
			t.Fatalf("reason %q mentions %q", r, fragment)
		}
	}
}

// TestVerifySupplyChain records a two-step supply chain (build, then package, with MATCH rules) through the
// server, with real keys, and verifies it and each way it can go wrong.
func TestVerifySupplyChain(t *testing.T) {
	e := newEnv(t, attestation.Limits{})
	tok := e.project("acme")
	owner, fn, other := newIntotoKey(t), newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)
	e.addKey(tok["admin"], other.signer)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}

	// chain records build (src/main.c -> app.tar) and package (app.tar -> app.deb) for label, the package
	// step consuming pkgInput as app.tar, and returns the digest of app.deb.
	chain := func(label, pkgInput string, buildSigner, pkgSigner *signer, skipBuild bool) (string, string) {
		src, tar, deb := sha(label+" src"), sha(label+" tar"), sha(label+" deb")
		if pkgInput == "" {
			pkgInput = tar
		}
		var buildID string
		if !skipBuild {
			buildID = e.submitLogged(t, tok["attestor"], linkStatement("build",
				map[string]string{"src/main.c": src}, map[string]string{"app.tar": tar}), buildSigner)
		}
		e.submitLogged(t, tok["attestor"], linkStatement("package",
			map[string]string{"app.tar": pkgInput}, map[string]string{"app.deb": deb}), pkgSigner)
		return deb, buildID
	}

	deb, buildID := chain("good", "", fn.signer, fn.signer, false)
	d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
	if !d.GetAllowed() || len(d.GetReasons()) != 0 {
		t.Fatalf("good chain denied: %q", d.GetReasons())
	}
	if d.GetLayoutName() != "release" || d.GetLayoutVersion() != 1 || d.GetPolicyName() != "debs" {
		t.Fatalf("decision names layout %q v%d, policy %q", d.GetLayoutName(), d.GetLayoutVersion(), d.GetPolicyName())
	}
	if len(d.GetSteps()) != 2 || d.GetSteps()[0].GetName() != "build" || len(d.GetSteps()[0].GetAttestationIds()) != 1 ||
		d.GetSteps()[0].GetAttestationIds()[0] != buildID || len(d.GetSteps()[1].GetAttestationIds()) != 1 {
		t.Fatalf("steps = %v", d.GetSteps())
	}

	// Every role that may verify can; an attestor may not.
	for _, role := range []string{"admin", "reader"} {
		if !e.verify(t, tok[role], "file", "app.deb", "sha256:"+deb).GetAllowed() {
			t.Fatalf("%s: denied", role)
		}
	}
	_, err := e.verifier().Verify(as(tok["attestor"]), &attestdv1.VerifyRequest{Kind: "file", Name: "app.deb", Digest: "sha256:" + deb})
	wantCode(t, err, codes.PermissionDenied)

	// The same verification 20 times gives the same decision.
	for range 20 {
		again := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
		again.DecidedAt, again.Id = d.DecidedAt, d.Id
		if !proto.Equal(again, d) {
			t.Fatalf("decision changed:\n%v\nwant\n%v", again, d)
		}
	}

	t.Run("MissingStep", func(t *testing.T) {
		// No build of this app.tar: the newest builds (of other artifacts) are compared, and said to be.
		deb, _ := chain("missing", "", fn.signer, fn.signer, true)
		d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
		wantDenied(t, d, `step "build": none of its attestations is connected to this artifact by digests`,
			`"app.tar" of "package"`)
		wantNoReason(t, d, "has no attestation")
	})
	t.Run("ProductTampered", func(t *testing.T) {
		// build produced app.tar, but package consumed another app.tar: the reason names the MATCH.
		deb, _ := chain("tamper", sha("tampered tar"), fn.signer, fn.signer, false)
		d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
		wantDenied(t, d, `"app.tar" of "build"`, `"app.tar" of "package"`)
		wantNoReason(t, d, "has no attestation")
	})
	t.Run("WrongKey", func(t *testing.T) {
		deb, _ := chain("wrong-key", "", other.signer, fn.signer, false)
		wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), "not signed by a valid key of the step",
			`step "build": threshold 1 needs 1 distinct keys, found 0`)
	})
	t.Run("RowsChangedBehindAttestd", func(t *testing.T) {
		deb, buildID := chain("row-changed", "", fn.signer, fn.signer, false)
		if !e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb).GetAllowed() {
			t.Fatal("denied before the change")
		}
		conn, err := pgx.Connect(t.Context(), e.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		exec := func(sql string, args ...any) {
			t.Helper()
			if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
				t.Fatal(err)
			}
		}
		// What Verify derived from rows attestd wrote (kept decisions, gatherings, proved leaves) it keeps while
		// nothing attestd writes changes it: rows changed behind its back are read again after a restart.
		// Indexed columns are not what is judged: the signed envelope is.
		exec(`UPDATE attestations SET step = 'test', signer_key_ids = '{}' WHERE id = $1`, buildID)
		e.restart(e.t) // the parent test's: the new server outlives this subtest
		if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
			t.Fatalf("changed columns changed the decision: %q", d.GetReasons())
		}
		// The build attestation moved to another leaf: its inclusion proof no longer verifies.
		var idx int64
		if err := conn.QueryRow(t.Context(), `SELECT log_index FROM attestations WHERE id = $1`, buildID).Scan(&idx); err != nil {
			t.Fatal(err)
		}
		var other string
		var otherIdx int64
		if err := conn.QueryRow(t.Context(), `SELECT id, log_index FROM attestations WHERE id <> $1
			ORDER BY log_index LIMIT 1`, buildID).Scan(&other, &otherIdx); err != nil {
			t.Fatal(err)
		}
		exec(`UPDATE attestations SET log_index = 999999999 WHERE id = $1`, other)
		exec(`UPDATE attestations SET log_index = $2 WHERE id = $1`, buildID, otherIdx)
		exec(`UPDATE attestations SET log_index = $2 WHERE id = $1`, other, idx)
		if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
			t.Fatalf("the decision kept from before the change was not returned: %q", d.GetReasons())
		}
		e.restart(e.t) // the parent test's: the new server outlives this subtest
		// (The newest builds, of other artifacts, are then compared instead, and said to be.)
		wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb),
			`step "build": none of its attestations is connected to this artifact by digests`,
			fmt.Sprintf("attestation %s does not count: its inclusion proof at log index %d does not verify", buildID, otherIdx))
		// Put the rows back: the chains of the other subtests are untouched.
		exec(`UPDATE attestations SET log_index = 999999999 WHERE id = $1`, other)
		exec(`UPDATE attestations SET log_index = $2 WHERE id = $1`, buildID, idx)
		exec(`UPDATE attestations SET log_index = $2 WHERE id = $1`, other, otherIdx)
	})
	t.Run("ArtifactNotFinalProduct", func(t *testing.T) {
		wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+sha("some other deb")),
			`the artifact "app.deb" has sha256:`+sha("some other deb")+`, but the product "app.deb" of the last step "package" has sha256:`)
	})
	t.Run("NoPolicy", func(t *testing.T) {
		wantDenied(t, e.verify(t, tok["verifier"], "file", "etc/app.conf", "sha256:"+deb), `no policy covers file "etc/app.conf"`)
		wantDenied(t, e.verify(t, tok["verifier"], "image", "registry.example.com/app", "sha256:"+deb), "no policy covers image")
	})
	t.Run("BadRequests", func(t *testing.T) {
		for _, req := range []*attestdv1.VerifyRequest{
			{Kind: "file", Name: "app.deb", Digest: deb},
			{Kind: "file", Name: "app.deb", Digest: "sha512:" + deb},
			{Kind: "car", Name: "app.deb", Digest: "sha256:" + deb},
			{Kind: "file", Name: "", Digest: "sha256:" + deb},
			{Kind: "file", Name: "dist/../app.deb", Digest: "sha256:" + deb},
		} {
			_, err := e.verifier().Verify(as(tok["verifier"]), req)
			wantCode(t, err, codes.InvalidArgument)
		}
	})
	t.Run("Recorded", func(t *testing.T) {
		resp, err := e.verifier().ListDecisions(as(tok["admin"]), &attestdv1.ListDecisionsRequest{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetDecisions()) != 3 {
			t.Fatalf("%d decisions", len(resp.GetDecisions()))
		}
		first := resp.GetDecisions()[0]
		if first.GetRequester() == "" || first.GetKind() == "" || first.GetDigest() == "" || first.GetId() <= resp.GetDecisions()[1].GetId() {
			t.Fatalf("recorded decision %v", first)
		}
		_, err = e.verifier().ListDecisions(as(tok["verifier"]), &attestdv1.ListDecisionsRequest{})
		wantCode(t, err, codes.PermissionDenied)
	})

	// Last: the layout expires; that is then the only reason.
	e.clock.Advance(25 * time.Hour)
	d = e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
	wantDenied(t, d, "the layout expired on")
	if len(d.GetReasons()) != 1 {
		t.Fatalf("reasons %q, want the expiry alone", d.GetReasons())
	}
}

// pushLayout signs a layout of steps, signed by owner with fn as every step's functionary, and pushes it as name.
func (e *env) pushLayout(t *testing.T, adminSecret, name string, owner, fn *intotoKey, steps ...in_toto.Step) {
	t.Helper()
	l := testLayout(e.clock.Now().Add(24*time.Hour), fn)
	l.Readme = name
	for i := range steps {
		steps[i].Type, steps[i].Threshold, steps[i].PubKeys = "step", 1, []string{fn.id}
		steps[i].ExpectedCommand = []string{"make"}
	}
	l.Steps = steps
	if _, err := e.push(adminSecret, name, signLayout(t, l, owner)); err != nil {
		t.Fatal(err)
	}
}

func layoutStep(name string, materials, products [][]string) in_toto.Step {
	s := in_toto.Step{}
	s.Name, s.ExpectedMaterials, s.ExpectedProducts = name, materials, products
	return s
}

// verifyShop is a running attestd with project "acme" (tokens of every role in tok), a layout-owner key and a
// functionary key registered.
func verifyShop(t *testing.T) (e *env, tok map[string]string, owner, fn *intotoKey) {
	t.Helper()
	e = newEnv(t, attestation.Limits{})
	tok = e.project("acme")
	owner, fn = newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)
	return e, tok, owner, fn
}

// TestVerifyConsumerStep: a step whose products nothing consumes ("test" takes the build's products and
// produces a report) is found through its materials; when it did not run, that is the reason.
func TestVerifyConsumerStep(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("build", [][]string{{"ALLOW", "src/*"}, {"DISALLOW", "*"}}, [][]string{{"CREATE", "app.tar"}, {"DISALLOW", "*"}}),
		layoutStep("test", [][]string{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "report.txt"}, {"DISALLOW", "*"}}),
		layoutStep("package", [][]string{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	// chain records build, test (unless skipped; of testInput as app.tar if set) and package (of pkgInput as
	// app.tar if set) and returns the digest of app.deb and the id of the test attestation.
	chain := func(label string, runTest bool, testInput, pkgInput string) (string, string) {
		src, tar, deb := sha(label+" src"), sha(label+" tar"), sha(label+" deb")
		if testInput == "" {
			testInput = tar
		}
		if pkgInput == "" {
			pkgInput = tar
		}
		e.submitLogged(t, tok["attestor"], linkStatement("build",
			map[string]string{"src/main.c": src}, map[string]string{"app.tar": tar}), fn.signer)
		var testID string
		if runTest {
			testID = e.submitLogged(t, tok["attestor"], linkStatement("test",
				map[string]string{"app.tar": testInput}, map[string]string{"report.txt": sha(label + " report")}), fn.signer)
		}
		e.submitLogged(t, tok["attestor"], linkStatement("package",
			map[string]string{"app.tar": pkgInput}, map[string]string{"app.deb": deb}), fn.signer)
		return deb, testID
	}

	deb, testID := chain("tested", true, "", "")
	d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
	if !d.GetAllowed() {
		t.Fatalf("tested chain denied: %q", d.GetReasons())
	}
	if st := d.GetSteps(); len(st) != 3 || st[1].GetName() != "test" || len(st[1].GetAttestationIds()) != 1 ||
		st[1].GetAttestationIds()[0] != testID {
		t.Fatalf("steps = %v", st)
	}
	for range 5 {
		again := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
		again.DecidedAt, again.Id = d.DecidedAt, d.Id
		if !proto.Equal(again, d) {
			t.Fatalf("decision changed:\n%v\nwant\n%v", again, d)
		}
	}

	t.Run("TestDidNotRun", func(t *testing.T) {
		deb, _ := chain("untested", false, "", "")
		d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
		wantDenied(t, d, `step "test" has no attestation`)
		if len(d.GetReasons()) != 1 {
			t.Fatalf("reasons %q, want the missing test alone", d.GetReasons())
		}
	})
	t.Run("TestOfAnotherBuild", func(t *testing.T) {
		// The test ran, but on another app.tar: it is not connected to this artifact.
		deb, _ := chain("tested-other", true, sha("another tar"), "")
		wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), `step "test" has no attestation`)
	})
	t.Run("ProductSwapped", func(t *testing.T) {
		// build produced app.tar and test tested it, but package consumed another app.tar.
		deb, _ := chain("swapped", true, "", sha("a substituted tar"))
		d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
		wantDenied(t, d, `product "app.tar" of "build" does not match material "app.tar" of "package"`)
		wantNoReason(t, d, `step "build" has no attestation`)
	})
}

// TestVerifySideBranch: a branch of two steps off the main chain, whose first step consumes the source and
// whose second consumes the first's products, is gathered by following consumers forward from the walk: the
// tests are compiled from the source, then run; nothing on the way to the package consumes either.
func TestVerifySideBranch(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("checkout", [][]string{{"DISALLOW", "*"}}, [][]string{{"CREATE", "src/*"}, {"DISALLOW", "*"}}),
		layoutStep("compile-tests", [][]string{{"MATCH", "src/*", "WITH", "PRODUCTS", "FROM", "checkout"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "tests.bin"}, {"DISALLOW", "*"}}),
		layoutStep("run-tests", [][]string{{"MATCH", "tests.bin", "WITH", "PRODUCTS", "FROM", "compile-tests"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "report.xml"}, {"DISALLOW", "*"}}),
		layoutStep("package", [][]string{{"MATCH", "src/*", "WITH", "PRODUCTS", "FROM", "checkout"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	chain := func(label string, runTests bool) string {
		src, bin, deb := sha(label+" src"), sha(label+" tests.bin"), sha(label+" deb")
		e.submitLogged(t, tok["attestor"], linkStatement("checkout", nil, map[string]string{"src/main.c": src}), fn.signer)
		e.submitLogged(t, tok["attestor"], linkStatement("compile-tests",
			map[string]string{"src/main.c": src}, map[string]string{"tests.bin": bin}), fn.signer)
		if runTests {
			e.submitLogged(t, tok["attestor"], linkStatement("run-tests",
				map[string]string{"tests.bin": bin}, map[string]string{"report.xml": sha(label + " report")}), fn.signer)
		}
		e.submitLogged(t, tok["attestor"], linkStatement("package",
			map[string]string{"src/main.c": src}, map[string]string{"app.deb": deb}), fn.signer)
		return deb
	}
	tested := chain("tested", true)
	untested := chain("untested", false)
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+tested); !d.GetAllowed() {
		t.Fatalf("a chain with its side branch denied: %q", d.GetReasons())
	}
	d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+untested)
	wantDenied(t, d, `step "run-tests" has no attestation`)
	wantNoReason(t, d, `step "compile-tests" has no attestation`)
}

// TestVerifyLayoutMustBeLogged: the layout is judged only if its own leaf proves it: a layout row without a log
// index, or whose index names another leaf, decides nothing (rows written or changed behind attestd's back).
func TestVerifyLayoutMustBeLogged(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("package", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	deb := sha("logged deb")
	pkgID := e.submitLogged(t, tok["attestor"], linkStatement("package", map[string]string{"app.tar": sha("tar")},
		map[string]string{"app.deb": deb}), fn.signer)
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
		t.Fatalf("denied: %q", d.GetReasons())
	}
	conn := e.connDB(t)
	var layoutIdx, pkgIdx int64
	if err := conn.QueryRow(t.Context(), `SELECT log_index FROM layouts`).Scan(&layoutIdx); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), `SELECT log_index FROM attestations WHERE id = $1`, pkgID).Scan(&pkgIdx); err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE layouts SET log_index = NULL`)
	d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
	wantDenied(t, d, `layout "release" version 1 is not in the transparency log`)
	if len(d.GetReasons()) != 1 {
		t.Fatalf("reasons %q, want the layout's alone", d.GetReasons())
	}
	// The attestation's leaf is not the layout's.
	exec(`UPDATE layouts SET log_index = $1`, pkgIdx+1000)
	exec(`UPDATE attestations SET log_index = $1 WHERE id = $2`, pkgIdx+2000, pkgID)
	exec(`UPDATE layouts SET log_index = $1`, pkgIdx)
	wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb),
		fmt.Sprintf(`layout "release" version 1 does not match its leaf at log index %d`, pkgIdx))
	exec(`UPDATE layouts SET log_index = $1`, layoutIdx)
	exec(`UPDATE attestations SET log_index = $1 WHERE id = $2`, pkgIdx, pkgID)
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
		t.Fatalf("rows put back, still denied: %q", d.GetReasons())
	}
}

// TestVerifyKeptDecisions: a decision kept from a quiet log is never returned once something it depends on
// changed: the policy (no leaf is appended for one), the keys, the layout, a new attestation.
func TestVerifyKeptDecisions(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("package", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	e.pushLayout(t, tok["admin"], "strict", owner, fn,
		layoutStep("build", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.tar"}, {"DISALLOW", "*"}}),
		layoutStep("package", [][]string{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	deb, tar := sha("kept deb"), sha("kept tar")
	e.submitLogged(t, tok["attestor"], linkStatement("package", map[string]string{"app.tar": tar},
		map[string]string{"app.deb": deb}), fn.signer)
	verify := func() *attestdv1.Decision { return e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb) }
	for range 3 {
		if d := verify(); !d.GetAllowed() || d.GetLayoutName() != "release" {
			t.Fatalf("under release: %v", d)
		}
	}
	// The policy now names the stricter layout: no leaf is appended, the decision changes at once.
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "strict"); err != nil {
		t.Fatal(err)
	}
	d := verify()
	wantDenied(t, d, `step "build" has no attestation`)
	if d.GetLayoutName() != "strict" {
		t.Fatalf("decided under layout %q", d.GetLayoutName())
	}
	// Unrelated attestations change nothing: the same denial.
	for i := range 3 {
		e.submitLogged(t, tok["attestor"], linkStatement("package", map[string]string{"x.tar": sha(fmt.Sprint("x tar ", i))},
			map[string]string{"x.deb": sha(fmt.Sprint("x deb ", i))}), fn.signer)
		wantDenied(t, verify(), `step "build" has no attestation`)
	}
	// A build of something else: the step's newest attestations, taken to explain the denial, changed.
	e.submitLogged(t, tok["attestor"], linkStatement("build", nil, map[string]string{"app.tar": sha("another tar")}), fn.signer)
	wantDenied(t, verify(), `step "build": none of its attestations is connected to this artifact by digests`)
	// The build is recorded: a new leaf, a new decision.
	e.submitLogged(t, tok["attestor"], linkStatement("build", nil, map[string]string{"app.tar": tar}), fn.signer)
	if d := verify(); !d.GetAllowed() {
		t.Fatalf("after the build was recorded: %q", d.GetReasons())
	}
	// A key added that signs nothing changes the keys: decided again, and still allowed.
	e.addKey(tok["admin"], newSigner(t))
	if d := verify(); !d.GetAllowed() {
		t.Fatalf("after a key was added: %q", d.GetReasons())
	}
	// The layout expires: a kept decision is never returned past its layout's expiry.
	e.clock.Advance(25 * time.Hour)
	wantDenied(t, verify(), "the layout expired on")
}

// TestVerifyCandidateBound: an artifact with more than maxVerifyCandidates (10,000) attestations connected to
// it is RESOURCE_EXHAUSTED, naming the bound, and the request still ends. The rows are written through the
// store (a real leaf each would make the test minutes long): the bound is checked while gathering, before any
// inclusion proof.
func TestVerifyCandidateBound(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,001 rows")
	}
	e, tok, owner, fn := verifyShop(t)
	ctx := t.Context()
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("package", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	acme, err := e.store.ProjectByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	deb := sha("the popular deb")
	const n = 10001
	conn := e.connDB(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// The envelope of row i is {"n":i}; the log indices are far beyond the log: never reached, the bound comes
	// first.
	exec(`INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, step, log_index)
		SELECT $1, encode(sha256(e), 'hex'), e, $2, 'link', 'package', (1::bigint << 40) + i
		FROM generate_series(0, $3 - 1) AS i, convert_to('{"n":' || i || '}', 'UTF8') AS e`, acme.ID, inTotoPayloadType, n)
	exec(`INSERT INTO attestation_subjects (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'app.deb', 'sha256', $2 FROM attestations WHERE project_id = $1`, acme.ID, deb)
	_, err = e.verifier().Verify(as(tok["verifier"]), &attestdv1.VerifyRequest{Kind: "file", Name: "app.deb", Digest: "sha256:" + deb})
	wantCode(t, err, codes.ResourceExhausted, "max-verify-candidates")
	// One fewer is gathered and judged (each then fails its inclusion proof: none has a leaf).
	last := sha256.Sum256([]byte(fmt.Sprintf(`{"n":%d}`, n-1)))
	exec(`DELETE FROM attestations WHERE id = $1`, hex.EncodeToString(last[:]))
	d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb)
	wantDenied(t, d, "is not yet covered by the log's checkpoint", "and 9980 more attestations do not count for such reasons")
	if len(d.GetReasons()) > 25 {
		t.Fatalf("%d reasons: the attestations that do not count should be summarized", len(d.GetReasons()))
	}
}

// TestVerifyHintsNeverAllow: attestations found by their step name alone explain a denial but never make an
// artifact allowed, even under a layout whose rules would accept them.
func TestVerifyHintsNeverAllow(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	// No DISALLOW: a material of package that no product of build matches is accepted.
	e.pushLayout(t, tok["admin"], "lax", owner, fn,
		layoutStep("build", nil, nil),
		layoutStep("package", [][]string{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}}, nil))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "lax"); err != nil {
		t.Fatal(err)
	}
	// A build of something else, then a package of an app.tar that no build produced.
	e.submitLogged(t, tok["attestor"], linkStatement("build",
		map[string]string{"src/main.c": sha("other src")}, map[string]string{"app.tar": sha("other tar")}), fn.signer)
	deb := sha("orphan deb")
	e.submitLogged(t, tok["attestor"], linkStatement("package",
		map[string]string{"app.tar": sha("orphan tar")}, map[string]string{"app.deb": deb}), fn.signer)
	wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), `step "build" has no attestation`)
}
