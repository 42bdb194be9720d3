package bundle_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/bundle"
	"github.com/attestd/attestd/bundle/bundletest"
)

// t0 is when the fixtures' bundles are exported.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// allowedFixture is a fixture whose bundle allows app.deb with digest sha256("deb"): one attestation of the
// package step.
func allowedFixture(t *testing.T) (*bundletest.Fixture, *attestdv1.Bundle, string) {
	t.Helper()
	f := bundletest.New(t, t0)
	f.Attest(t, f.Functionary, "package", map[string]string{"app.deb": sha("deb")})
	digest := "sha256:" + sha("deb")
	return f, f.Bundle(t, digest), digest
}

// decide seals b and decides from it at the fixture's export time, about app.deb with digest.
func decide(t *testing.T, f *bundletest.Fixture, b *attestdv1.Bundle, digest string, change func(*bundle.Options)) (*bundle.Result, error) {
	t.Helper()
	opts := bundle.Options{Now: f.Now, Kind: "file", Name: "app.deb", Digest: digest}
	if change != nil {
		change(&opts)
	}
	return bundle.Verify(context.Background(), f.Seal(t, b), f.VerifierKey(t), opts)
}

func TestDecideAllowed(t *testing.T) {
	f, b, digest := allowedFixture(t)
	res, err := decide(t, f, b, digest, func(o *bundle.Options) { o.LogKey = f.LogKey + "\n" })
	if err != nil {
		t.Fatal(err)
	}
	d := res.Decision
	id := b.GetAttestations()[0].GetAttestation().GetReceipt().GetId()
	if !d.GetAllowed() || d.GetLayoutName() != "release" || d.GetLayoutVersion() != 1 || d.GetPolicyName() != "release" ||
		len(d.GetSteps()) != 1 || len(d.GetSteps()[0].GetAttestationIds()) != 1 || d.GetSteps()[0].GetAttestationIds()[0] != id {
		t.Fatalf("decision %v", d)
	}
	if res.Checkpoint.Size != 2 || !res.Exported.Equal(f.Now) || len(res.NotCounted) != 0 {
		t.Fatalf("checkpoint size %d, exported %v, not counted %q", res.Checkpoint.Size, res.Exported, res.NotCounted)
	}
}

// TestDecideCandidates: each way a candidate can fail its checks makes it not count, with the reason
// attestd's Verify gives, and the artifact denied.
func TestDecideCandidates(t *testing.T) {
	first := func(b *attestdv1.Bundle) *attestdv1.Attestation { return b.GetAttestations()[0].GetAttestation() }
	for name, tc := range map[string]struct {
		change func(t *testing.T, f *bundletest.Fixture, b *attestdv1.Bundle)
		reason string
	}{
		"not covered": {func(_ *testing.T, _ *bundletest.Fixture, b *attestdv1.Bundle) {
			first(b).Receipt.InclusionProof = nil
		}, "it is not yet covered by the log's checkpoint (size 2)"},
		"envelope changed": {func(_ *testing.T, _ *bundletest.Fixture, b *attestdv1.Bundle) {
			first(b).Envelope = append(first(b).Envelope, ' ')
		}, "its stored envelope's sha256 is not its id"},
		"forged envelope, its own id": {func(t *testing.T, f *bundletest.Fixture, b *attestdv1.Bundle) {
			env := f.Attest(t, f.Functionary, "package", map[string]string{"app.deb": sha("deb"), "extra": sha("x")})
			first(b).Envelope, first(b).Receipt.Id = env, bundletest.ID(env)
		}, "its inclusion proof at log index 1 does not verify against the checkpoint of size 2"},
		"proof of another tree size": {func(_ *testing.T, _ *bundletest.Fixture, b *attestdv1.Bundle) {
			first(b).Receipt.InclusionProof.TreeSize = 3
		}, "does not verify against the checkpoint"},
		"proof hash changed": {func(_ *testing.T, _ *bundletest.Fixture, b *attestdv1.Bundle) {
			first(b).Receipt.InclusionProof.Hashes[0][0] ^= 1
		}, "does not verify against the checkpoint"},
		"signer not a key of the project": {func(_ *testing.T, f *bundletest.Fixture, b *attestdv1.Bundle) {
			b.Keys = b.Keys[:1] // the owner only
		}, "no signature verifies with a functionary key of the project"},
		"key revoked before the attestation was logged": {func(_ *testing.T, f *bundletest.Fixture, b *attestdv1.Bundle) {
			b.Keys[1].RevokeTime = b.Keys[1].CreateTime
		}, "was revoked before the attestation was logged"},
		"hint only": {func(_ *testing.T, _ *bundletest.Fixture, b *attestdv1.Bundle) {
			b.Attestations[0].Hint = true
		}, `step "package" has no attestation`},
		"layout expired": {func(_ *testing.T, f *bundletest.Fixture, b *attestdv1.Bundle) {
			b.ExportTime = timestamppb.New(f.Now.Add(48 * time.Hour))
			f.Now = f.Now.Add(48 * time.Hour)
		}, "the layout expired on"},
	} {
		t.Run(name, func(t *testing.T) {
			f, b, digest := allowedFixture(t)
			tc.change(t, f, b)
			res, err := decide(t, f, b, digest, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision.GetAllowed() || !strings.Contains(strings.Join(res.Decision.GetReasons(), "\n"), tc.reason) {
				t.Fatalf("allowed %t, reasons %q; want a denial saying %q", res.Decision.GetAllowed(), res.Decision.GetReasons(), tc.reason)
			}
		})
	}
}

// TestDecideRefuses: a bundle that is not about the artifact, too old, under another log key, or that
// contradicts itself decides nothing.
func TestDecideRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(b *attestdv1.Bundle, o *bundle.Options)
		want   error
	}{
		"another digest":  {func(_ *attestdv1.Bundle, o *bundle.Options) { o.Digest = "sha256:" + sha("other") }, bundle.ErrWrongArtifact},
		"another name":    {func(_ *attestdv1.Bundle, o *bundle.Options) { o.Name = "dist/app.deb" }, bundle.ErrWrongArtifact},
		"another kind":    {func(_ *attestdv1.Bundle, o *bundle.Options) { o.Kind = "package" }, bundle.ErrWrongArtifact},
		"another project": {func(_ *attestdv1.Bundle, o *bundle.Options) { o.Project = "other" }, bundle.ErrWrongArtifact},
		"pinned log key": {func(_ *attestdv1.Bundle, o *bundle.Options) {
			o.LogKey = "bundletest.example/log+01234567+AQID"
		}, bundle.ErrLogKey},
		"max age": {func(_ *attestdv1.Bundle, o *bundle.Options) {
			o.MaxAge, o.Now = time.Hour, o.Now.Add(2*time.Hour)
		}, bundle.ErrTooOld},
		"from the future": {func(_ *attestdv1.Bundle, o *bundle.Options) { o.Now = o.Now.Add(-time.Hour) }, bundle.ErrTooOld},
		"no export time":  {func(b *attestdv1.Bundle, _ *bundle.Options) { b.ExportTime = nil }, bundle.ErrMalformed},
		"checkpoint of another log": {func(b *attestdv1.Bundle, _ *bundle.Options) {
			b.LogVerifierKey = bundletest.New(t, t0).LogKey
		}, bundle.ErrMalformed},
		"policy does not cover":  {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Policy.Match = "*.rpm" }, bundle.ErrMalformed},
		"policy of another kind": {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Policy.Kind = "package" }, bundle.ErrMalformed},
		"another layout":         {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Policy.Layout = "other" }, bundle.ErrMalformed},
		"layout bytes changed": {func(b *attestdv1.Bundle, _ *bundle.Options) {
			b.Layout.Content = append(b.Layout.Content, ' ')
			b.Layout.Id = sha(string(b.Layout.Content))
		}, bundle.ErrMalformed},
		"layout id":         {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Layout.Id = sha("x") }, bundle.ErrMalformed},
		"layout proof":      {func(b *attestdv1.Bundle, _ *bundle.Options) { b.LayoutProof = nil }, bundle.ErrMalformed},
		"layout not in log": {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Layout.LogIndex = nil }, bundle.ErrMalformed},
		"no owner key":      {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Keys = b.Keys[1:] }, bundle.ErrMalformed},
		"owner key revoked before the push": {func(b *attestdv1.Bundle, _ *bundle.Options) {
			b.Keys[0].RevokeTime = b.Keys[0].CreateTime
		}, bundle.ErrMalformed},
		"attestation twice": {func(b *attestdv1.Bundle, _ *bundle.Options) {
			b.Attestations = append(b.Attestations, proto.Clone(b.Attestations[0]).(*attestdv1.BundleAttestation))
		}, bundle.ErrMalformed},
		"attestation id": {func(b *attestdv1.Bundle, _ *bundle.Options) {
			b.Attestations[0].Attestation.Receipt.Id = "x\x00"
		}, bundle.ErrMalformed},
		"project with a NUL": {func(b *attestdv1.Bundle, _ *bundle.Options) { b.Project = "a\x00b" }, bundle.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			f, b, digest := allowedFixture(t)
			opts := bundle.Options{Now: f.Now, Kind: "file", Name: "app.deb", Digest: digest}
			tc.change(b, &opts)
			_, err := bundle.Verify(context.Background(), f.Seal(t, b), f.VerifierKey(t), opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestOpen: only a bundle signed by the verifier key, in the strict format, opens.
func TestOpen(t *testing.T) {
	f, b, _ := allowedFixture(t)
	raw := f.Seal(t, b)
	if _, err := bundle.Open(raw, f.VerifierKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Open(raw, bundletest.New(t, t0).VerifierKey(t)); !errors.Is(err, bundle.ErrSignature) {
		t.Fatalf("another verifier key: %v", err)
	}
	fn, err := attestation.ParsePublicKey(f.Functionary.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Open(raw, fn); !errors.Is(err, bundle.ErrSignature) {
		t.Fatalf("the functionary's key: %v", err)
	}
	for name, raw := range map[string][]byte{
		"trailing data":      append(append([]byte{}, raw...), []byte(" {}")...),
		"duplicate member":   []byte(strings.Replace(string(raw), `{"payloadType":`, `{"payload":"AA==","payloadType":`, 1)),
		"unknown member":     []byte(strings.Replace(string(raw), `{"payloadType":`, `{"extra":1,"payloadType":`, 1)),
		"in-toto envelope":   signWith(t, f, attestation.PayloadType, []byte(`{}`)),
		"unknown field":      signWith(t, f, bundle.PayloadType, []byte(`{"project":"acme","extra":1}`)),
		"duplicate field":    signWith(t, f, bundle.PayloadType, []byte(`{"project":"acme","project":"other"}`)),
		"not JSON":           []byte("bundle"),
		"payload not base64": []byte(`{"payloadType":"` + bundle.PayloadType + `","payload":"!","signatures":[]}`),
	} {
		if _, err := bundle.Open(raw, f.VerifierKey(t)); !errors.Is(err, bundle.ErrMalformed) && !errors.Is(err, bundle.ErrSignature) {
			t.Errorf("%s: %v, want %v", name, err, bundle.ErrMalformed)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	var limit *attestation.LimitError
	if _, err := bundle.Open(make([]byte, bundle.MaxBytes+1), f.VerifierKey(t)); !errors.As(err, &limit) {
		t.Fatalf("over max-bundle-bytes: %v", err)
	}
	many := proto.Clone(b).(*attestdv1.Bundle)
	for len(many.Attestations) <= bundle.MaxAttestations {
		many.Attestations = append(many.Attestations, &attestdv1.BundleAttestation{})
	}
	if _, err := bundle.Encode(many); !errors.As(err, &limit) {
		t.Fatalf("over max-bundle-attestations: %v", err)
	}
}

// TestRequireRekorOffline: under a policy that requires Rekor, an attestation without a verified entry does
// not count, in attestd's words. (Entries that verify: server/bundle_test.go, against a real Rekor.)
func TestRequireRekorOffline(t *testing.T) {
	for name, tc := range map[string]struct {
		anchor *attestdv1.Anchor
		key    []byte
		reason string
	}{
		"no anchor":      {nil, []byte("key"), "and it has none: it was accepted while its project did not anchor in Rekor"},
		"pending":        {&attestdv1.Anchor{State: "pending", Attempts: 2, LastError: "timeout"}, []byte("key"), "still pending (2 attempts, the last: timeout)"},
		"failed":         {&attestdv1.Anchor{State: "failed", LastError: "400"}, []byte("key"), "Rekor refused it: 400"},
		"no key":         {&attestdv1.Anchor{State: "done", Entry: &attestdv1.RekorEntry{EntryJson: []byte("{}")}}, nil, "anchoring was turned off"},
		"entry removed":  {&attestdv1.Anchor{State: "done"}, []byte("key"), "its stored Rekor entry does not parse"},
		"entry not JSON": {&attestdv1.Anchor{State: "done", Entry: &attestdv1.RekorEntry{EntryJson: []byte("x")}}, []byte("key"), "its stored Rekor entry does not parse"},
	} {
		t.Run(name, func(t *testing.T) {
			f, b, digest := allowedFixture(t)
			b.Policy.RequireRekor = true
			b.Rekor = &attestdv1.RekorSettings{Url: "http://rekor.invalid", PublicKey: tc.key}
			b.Attestations[0].Attestation.Anchor = tc.anchor
			res, err := decide(t, f, b, digest, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := "does not count: the policy requires a Rekor entry, and "
			if res.Decision.GetAllowed() || len(res.NotCounted) != 1 || !strings.Contains(res.NotCounted[0], want) ||
				!strings.Contains(res.NotCounted[0], tc.reason) {
				t.Fatalf("allowed %t, not counted %q; want %q", res.Decision.GetAllowed(), res.NotCounted, tc.reason)
			}
		})
	}
}

// TestImports: the offline verifier stays offline and small: it never imports the server, the store or the
// CLI.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"/server", "/internal/store", "/cmd/", "/attestor"} {
			if strings.HasPrefix(dep, "github.com/attestd/attestd") && strings.Contains(dep, bad) {
				t.Errorf("package bundle imports %s", dep)
			}
		}
	}
}

func signWith(t *testing.T, f *bundletest.Fixture, payloadType string, payload []byte) []byte {
	t.Helper()
	raw, err := f.Verifier.Sign(context.Background(), payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
