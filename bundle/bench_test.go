package bundle_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/attestd/attestd/bundle"
	"github.com/attestd/attestd/bundle/bundletest"
)

// BenchmarkVerify measures an offline decision from a signed bundle: the bundle's signature, parsing,
// checkpoint, layout, each candidate's inclusion proof and signature, and the engine.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("attestations=%d", n), func(b *testing.B) {
			f := bundletest.New(b, t0)
			for i := range n {
				product := sha("deb")
				if i > 0 { // another run of the step: another app.deb
					product = sha(fmt.Sprint(i))
				}
				f.Attest(b, f.Functionary, "package", map[string]string{"app.deb": product})
			}
			digest := "sha256:" + sha("deb")
			raw := f.Seal(b, f.Bundle(b, digest))
			key := f.VerifierKey(b)
			opts := bundle.Options{Now: f.Now, Kind: "file", Name: "app.deb", Digest: digest}
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			for b.Loop() {
				res, err := bundle.Verify(context.Background(), raw, key, opts)
				if err != nil || !res.Decision.GetAllowed() {
					b.Fatalf("%v %v", err, res.Decision.GetReasons())
				}
			}
		})
	}
}
