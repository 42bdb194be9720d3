package bundle_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestd/attestd/bundle"
	"github.com/attestd/attestd/bundle/bundletest"
)

// FuzzOpen: no signed bundle file, however malformed, makes Open panic, and what Open returns Decide
// survives too.
func FuzzOpen(f *testing.F) {
	fx := bundletest.New(f, t0)
	fx.Attest(f, fx.Functionary, "package", map[string]string{"app.deb": sha("deb")})
	b := fx.Bundle(f, "sha256:"+sha("deb"))
	raw := fx.Seal(f, b)
	f.Add(raw)
	f.Add([]byte(`{"payloadType":"application/vnd.attestd.bundle.v1+json","payload":"e30=","signatures":[{"keyid":"","sig":""}]}`))
	f.Add([]byte(`{"payloadType":1}`))
	f.Add([]byte(`[]`))
	key := fx.VerifierKey(f)
	opts := bundle.Options{Now: fx.Now, Kind: "file", Name: "app.deb", Digest: "sha256:" + sha("deb")}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := bundle.Open(raw, key)
		if err != nil {
			return
		}
		_, _ = bundle.Decide(context.Background(), b, opts)
	})
}

// FuzzDecide: whatever a bundle signed by the verifier key says (the payload is fuzzed, then signed), Decide
// does not panic: it decides or refuses.
func FuzzDecide(f *testing.F) {
	fx := bundletest.New(f, t0)
	fx.Attest(f, fx.Functionary, "package", map[string]string{"app.deb": sha("deb")})
	digest := "sha256:" + sha("deb")
	b := fx.Bundle(f, digest)
	payload, err := protojson.Marshal(b)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payload)
	b.Policy.RequireRekor = true
	if payload, err = protojson.Marshal(b); err != nil {
		f.Fatal(err)
	}
	f.Add(payload)
	f.Add([]byte(`{}`))
	key := fx.VerifierKey(f)
	opts := bundle.Options{Now: fx.Now, Kind: "file", Name: "app.deb", Digest: digest}
	f.Fuzz(func(t *testing.T, payload []byte) {
		raw, err := fx.Verifier.Sign(context.Background(), bundle.PayloadType, payload)
		if err != nil {
			return // an empty payload
		}
		res, err := bundle.Verify(context.Background(), raw, key, opts)
		if err == nil && res.Decision == nil {
			t.Fatal("no error and no decision")
		}
	})
}
