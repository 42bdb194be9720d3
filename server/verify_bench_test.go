package server_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	in_toto "github.com/in-toto/in-toto-golang/in_toto"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
)

// BenchmarkVerify measures Verify (gRPC over loopback, a real server, PostgreSQL and the Tessera log) for a
// 5-step layout (clone, build, test, package, release) with 100 artifacts per step, in a project holding
// ATTESTD_BENCH_OTHER (default 10,000) other attestations of the same step names, and in the same run
// in-toto-golang's InTotoVerify making the same decision from the same five signed links, written as
// <step>.<keyid[:8]>.link in a temporary directory with the signed layout. It reports the p50/p99 of each and the
// ratio of the means.
func BenchmarkVerify(b *testing.B) {
	other := 10000
	if v := os.Getenv("ATTESTD_BENCH_OTHER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("ATTESTD_BENCH_OTHER=%q: want a count", v)
		}
		other = n
	}
	e := newEnv(b, attestation.Limits{})
	tok := e.project("bench")
	owner, fn := benchIntotoKey(b), benchIntotoKey(b)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)

	const perStep = 100
	names := func(prefix string) map[string]in_toto.HashObj {
		out := map[string]in_toto.HashObj{}
		for i := range perStep {
			n := fmt.Sprintf("%s/%03d", prefix, i)
			out[n] = in_toto.HashObj{"sha256": sha("chain " + n)}
		}
		return out
	}
	// Each step's materials are the products of the one it names, with the same digests.
	type spec struct{ name, from, in, out string }
	specs := []spec{{"clone", "", "", "src"}, {"build", "clone", "src", "obj"}, {"test", "build", "obj", "report"},
		{"package", "build", "obj", "pkg"}, {"release", "package", "pkg", "rel"}}
	layout := in_toto.Layout{Type: "layout", Expires: e.clock.Now().Add(24 * time.Hour).UTC().Format(in_toto.ISO8601DateSchema),
		Keys: map[string]in_toto.Key{fn.id: fn.pub}, Inspect: []in_toto.Inspection{}}
	dir := b.TempDir()
	for _, sp := range specs {
		st := in_toto.Step{Type: "step", Threshold: 1, PubKeys: []string{fn.id}, ExpectedCommand: []string{"make"}}
		st.Name = sp.name
		st.ExpectedMaterials = [][]string{{"DISALLOW", "*"}}
		materials := map[string]in_toto.HashObj{}
		if sp.from != "" {
			st.ExpectedMaterials = [][]string{{"MATCH", sp.in + "/*", "WITH", "PRODUCTS", "FROM", sp.from}, {"DISALLOW", "*"}}
			materials = names(sp.in)
		}
		st.ExpectedProducts = [][]string{{"CREATE", sp.out + "/*"}, {"DISALLOW", "*"}}
		layout.Steps = append(layout.Steps, st)

		mb := in_toto.Metablock{Signed: in_toto.Link{Type: "link", Name: sp.name, Command: []string{"make"},
			Materials: materials, Products: names(sp.out), ByProducts: map[string]any{}, Environment: map[string]any{}}}
		if err := mb.Sign(fn.priv); err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(mb)
		if err != nil {
			b.Fatal(err)
		}
		// The same bytes go to attestd and to disk.
		if _, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: raw}); err != nil {
			b.Fatalf("submit %s: %v", sp.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.%s.link", sp.name, fn.id[:8])), raw, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	signedLayout := signLayoutTB(b, layout, owner)
	layoutPath := filepath.Join(dir, "root.layout")
	if err := os.WriteFile(layoutPath, signedLayout, 0o600); err != nil {
		b.Fatal(err)
	}
	if _, err := e.push(tok["admin"], "release", signedLayout); err != nil {
		b.Fatal(err)
	}
	if _, err := e.setPolicy(tok["admin"], "rel", "file", "rel/*", "release"); err != nil {
		b.Fatal(err)
	}

	// The other attestations: link v0.3 statements of the same step names with unrelated digests, signed,
	// submitted by 32 clients.
	seedStart := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < other; i += 32 {
				step := specs[i%len(specs)].name
				stmt := linkStatement(step, map[string]string{"in/a": sha(fmt.Sprint("other in ", i))},
					map[string]string{"out/a": sha(fmt.Sprint("other out ", i)), "out/b": sha(fmt.Sprint("other out b ", i))})
				if _, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{
					Envelope: envelope(inTotoPayloadType, stmt, fn.signer)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	// Wait until the checkpoint covers everything.
	lastID := ""
	if list, err := e.atts().List(as(tok["reader"]), &attestdv1.ListRequest{PageSize: 1, OmitEnvelopes: true}); err != nil || len(list.GetAttestations()) != 1 {
		b.Fatalf("list: %v", err)
	} else {
		lastID = list.GetAttestations()[0].GetReceipt().GetId()
	}
	if _, err := attestdv1.NewLogServiceClient(e.conn).GetInclusionProof(as(tok["reader"]),
		&attestdv1.GetInclusionProofRequest{AttestationId: lastID, Wait: true}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a checkpoint after the last integration
	b.Logf("seeded %d other attestations in %v", other, time.Since(seedStart).Round(time.Millisecond))

	artifact := "sha256:" + sha("chain rel/042")
	req := &attestdv1.VerifyRequest{Kind: "file", Name: "rel/042", Digest: artifact}
	ownerKeys := map[string]in_toto.Key{owner.id: owner.pub}
	attestdOnce := func() time.Duration {
		start := time.Now()
		resp, err := e.verifier().Verify(as(tok["verifier"]), req)
		el := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if !resp.GetDecision().GetAllowed() {
			b.Fatalf("attestd denied: %q", resp.GetDecision().GetReasons())
		}
		if n := len(resp.GetDecision().GetSteps()); n != len(specs) {
			b.Fatalf("%d steps", n)
		}
		return el
	}
	intotoOnce := func() time.Duration {
		start := time.Now()
		lmb, err := in_toto.LoadMetadata(layoutPath)
		if err == nil {
			_, err = in_toto.InTotoVerify(lmb, ownerKeys, dir, "", nil, nil, false)
		}
		el := time.Since(start)
		if err != nil {
			b.Fatalf("InTotoVerify: %v", err)
		}
		return el
	}
	// Both must deny a tampered chain too: the same decision, not just the same success.
	if resp, err := e.verifier().Verify(as(tok["verifier"]), &attestdv1.VerifyRequest{Kind: "file", Name: "rel/042",
		Digest: "sha256:" + sha("not it")}); err != nil || resp.GetDecision().GetAllowed() {
		b.Fatalf("attestd did not deny another digest: %v", err)
	}
	attestdOnce()
	intotoOnce()

	b.ResetTimer()
	var ours, theirs []time.Duration
	for range b.N {
		ours = append(ours, attestdOnce())
		theirs = append(theirs, intotoOnce())
	}
	b.StopTimer()
	mean := func(d []time.Duration) float64 {
		var s time.Duration
		for _, x := range d {
			s += x
		}
		return float64(s) / float64(len(d)) / 1e6
	}
	b.ReportMetric(pct(ours, 50), "attestd-p50-ms")
	b.ReportMetric(pct(ours, 99), "attestd-p99-ms")
	b.ReportMetric(pct(theirs, 50), "intoto-p50-ms")
	b.ReportMetric(pct(theirs, 99), "intoto-p99-ms")
	b.ReportMetric(mean(theirs)/mean(ours), "intoto/attestd")
	b.ReportMetric(float64(other), "other-attestations")
}

func benchIntotoKey(tb testing.TB) *intotoKey {
	tb.Helper()
	s := newSigner(tb)
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		tb.Fatal(err)
	}
	k := &intotoKey{signer: s}
	if err := k.priv.LoadKeyReaderDefaults(bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err != nil {
		tb.Fatal(err)
	}
	if err := k.pub.LoadKeyReaderDefaults(strings.NewReader(s.pem)); err != nil {
		tb.Fatal(err)
	}
	return k
}

func signLayoutTB(tb testing.TB, signed any, keys ...*intotoKey) []byte {
	tb.Helper()
	mb := &in_toto.Metablock{Signed: signed, Signatures: []in_toto.Signature{}}
	for _, k := range keys {
		if err := mb.Sign(k.priv); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := json.Marshal(mb)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
