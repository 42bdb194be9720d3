package verifier

import (
	"fmt"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
)

// benchChain is a 5-step chain with 100 artifacts per step, each step
// matching all of the previous step's products.
func benchChain(b *testing.B) (keyring, in_toto.Layout, []link) {
	k := newKeyring(b)
	var steps []in_toto.Step
	var links []link
	var files []string
	for i := range 100 {
		files = append(files, fmt.Sprintf("src/pkg%d/file%d.go", i%7, i), fmt.Sprint("v", i))
	}
	for i := range 5 {
		var mats [][]string
		if i > 0 {
			mats = [][]string{{"MATCH", "src/*", "WITH", "PRODUCTS", "FROM", fmt.Sprint("s", i-1)}, {"DISALLOW", "*"}}
		}
		steps = append(steps, step(fmt.Sprint("s", i), 1, []*functionary{k.bob}, mats, [][]string{{"ALLOW", "src/*.go"}, {"DISALLOW", "*"}}))
		ln := link{fmt.Sprint("s", i), k.bob, arts(), arts(files...)}
		if i > 0 {
			ln.materials = arts(files...)
		}
		links = append(links, ln)
	}
	return k, layoutOf(time.Now().Add(time.Hour), k.all(), steps...), links
}

func BenchmarkVerify5x100(b *testing.B) {
	k, l, links := benchChain(b)
	in := Input{Layout: mustLayout(b, l), Keys: allKeys(k.all()...), Now: time.Now(), Artifact: Artifact{Digest: h("v0")}}
	for i, ln := range links {
		in.Attestations = append(in.Attestations, att(fmt.Sprint(i), ln))
	}
	in.Attestations[0].IntegratedAt = time.Now()
	for b.Loop() {
		if d, err := Verify(in); err != nil || !d.Allowed {
			b.Fatal(err, d.Reasons)
		}
	}
}

// BenchmarkInTotoVerifyArtifacts5x100 is the same decision by in-toto-golang
// on parsed links (threshold, reduce and VerifyArtifacts; no disk). Each
// iteration gets fresh link maps, since VerifyArtifacts rewrites them; making
// them is outside the timer.
func BenchmarkInTotoVerifyArtifacts5x100(b *testing.B) {
	_, l, links := benchChain(b)
	var items []any
	for _, s := range l.Steps {
		items = append(items, s)
	}
	for b.Loop() {
		b.StopTimer()
		meta := map[string]map[string]in_toto.Metadata{}
		for _, ln := range links {
			meta[ln.name] = map[string]in_toto.Metadata{ln.signer.id(): &in_toto.Metablock{Signed: ln.inToto()}}
		}
		b.StartTimer()
		reduced, err := in_toto.ReduceStepsMetadata(l, meta)
		if err != nil {
			b.Fatal(err)
		}
		if err := in_toto.VerifyArtifacts(items, reduced); err != nil {
			b.Fatal(err)
		}
	}
}
