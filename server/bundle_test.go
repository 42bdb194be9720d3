package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/bundle"
)

// exportBundle asks for the bundle of an artifact and fails the test on an error.
func (e *env) exportBundle(t *testing.T, secret, kind, name, digest string) []byte {
	t.Helper()
	resp, err := e.verifier().ExportBundle(as(secret), &attestdv1.ExportBundleRequest{Kind: kind, Name: name, Digest: digest})
	if err != nil {
		t.Fatalf("ExportBundle(%s %s %s): %v", kind, name, digest, err)
	}
	return resp.GetBundle()
}

// verifierPub is attestd's verifier public key, the trust root of bundles.
func (e *env) verifierPub(t *testing.T) *attestation.PublicKey {
	t.Helper()
	pub, err := attestation.ParsePublicKey(e.vsa.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// offline decides from raw as attest verify --bundle does, now, about the artifact kind, name, digest.
func (e *env) offline(t *testing.T, raw []byte, kind, name, digest string) (*bundle.Result, error) {
	t.Helper()
	return bundle.Verify(context.Background(), raw, e.verifierPub(t),
		bundle.Options{Now: e.clock.Now(), Kind: kind, Name: name, Digest: digest, LogKey: e.verifierKey()})
}

// sameDecision fails unless the offline decision is the online one: verdict, policy, layout and version,
// steps with the attestations used, and every reason.
func sameDecision(t *testing.T, what string, online, offline *attestdv1.Decision) {
	t.Helper()
	strip := func(d *attestdv1.Decision) *attestdv1.Decision {
		c := proto.Clone(d).(*attestdv1.Decision)
		c.Id, c.Requester, c.DecidedAt = 0, "", nil
		return c
	}
	if !proto.Equal(strip(online), strip(offline)) {
		t.Fatalf("%s: offline decision differs from online:\noffline %v\nonline  %v", what, offline, online)
	}
}

// otherVerifierKey is a verifier key of another attestd.
func otherVerifierKey(t *testing.T) *attestation.PublicKey {
	t.Helper()
	_, pubPEM, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attestation.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// signedBundle is the DSSE envelope of a bundle, to take apart and put together again.
type signedBundle struct {
	PayloadType string   `json:"payloadType"`
	Payload     string   `json:"payload"`
	Signatures  []rawSig `json:"signatures"`
}

// openUnchecked returns the envelope of raw and its Bundle, without checking anything.
func openUnchecked(t *testing.T, raw []byte) (signedBundle, *attestdv1.Bundle) {
	t.Helper()
	var sb signedBundle
	if err := json.Unmarshal(raw, &sb); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(sb.Payload)
	if err != nil {
		t.Fatal(err)
	}
	b := &attestdv1.Bundle{}
	if err := protojson.Unmarshal(payload, b); err != nil {
		t.Fatal(err)
	}
	return sb, b
}

// keepSignature returns the envelope sb with b as its payload and sb's signatures, which no longer match.
func keepSignature(t *testing.T, sb signedBundle, b *attestdv1.Bundle) []byte {
	t.Helper()
	payload, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	sb.Payload = base64.StdEncoding.EncodeToString(payload)
	out, err := json.Marshal(sb)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resign signs b with attestd's verifier key, as a thief of that key would.
func (e *env) resign(t *testing.T, b *attestdv1.Bundle) []byte {
	t.Helper()
	payload, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := e.vsa.Sign(context.Background(), bundle.PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestExportBundle: for an allowed chain, a denied one (a missing step, judged from hints), one with a
// candidate that does not count and one whose key was revoked, the bundle's offline decision is Verify's; a
// bundle changed after signing, signed by another key or about another artifact decides nothing; one
// re-signed with a forged envelope or layout is caught by the inclusion proofs.
func TestExportBundle(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	chain := func(label string, buildSigner, pkgSigner *signer, skipBuild bool) string {
		src, tar, deb := sha(label+" src"), sha(label+" tar"), sha(label+" deb")
		if !skipBuild {
			e.submitLogged(t, tok["attestor"], linkStatement("build",
				map[string]string{"src/main.c": src}, map[string]string{"app.tar": tar}), buildSigner)
		}
		e.submitLogged(t, tok["attestor"], linkStatement("package",
			map[string]string{"app.tar": tar}, map[string]string{"app.deb": deb}), pkgSigner)
		return "sha256:" + deb
	}
	// same verifies digest online and offline, and fails unless both decide alike (and as the bundle says
	// attestd decided at export); it returns the bundle and the offline result.
	same := func(t *testing.T, digest string) ([]byte, *bundle.Result) {
		t.Helper()
		online := e.verify(t, tok["verifier"], "file", "app.deb", digest)
		raw := e.exportBundle(t, tok["verifier"], "file", "app.deb", digest)
		res, err := e.offline(t, raw, "file", "app.deb", digest)
		if err != nil {
			t.Fatalf("offline: %v", err)
		}
		sameDecision(t, "offline", online, res.Decision)
		sameDecision(t, "at export", online, res.Bundle.GetDecision())
		return raw, res
	}

	good := chain("good", fn.signer, fn.signer, false)
	raw, res := same(t, good)
	if !res.Decision.GetAllowed() || len(res.Decision.GetSteps()) != 2 || res.Decision.GetLayoutVersion() != 1 {
		t.Fatalf("good chain: %v", res.Decision)
	}
	if n := len(res.Bundle.GetAttestations()); n != 2 || res.Checkpoint.Size == 0 || len(res.Bundle.GetKeys()) != 2 {
		t.Fatalf("bundle of %d attestations, %d keys, checkpoint size %d", n, len(res.Bundle.GetKeys()), res.Checkpoint.Size)
	}

	t.Run("MissingStep", func(t *testing.T) {
		_, res := same(t, chain("missing", fn.signer, fn.signer, true))
		wantDenied(t, res.Decision, `step "build": none of its attestations is connected to this artifact by digests`)
		hints := 0
		for _, a := range res.Bundle.GetAttestations() {
			if a.GetHint() {
				hints++
			}
		}
		if hints == 0 {
			t.Fatal("no attestation of the bundle is marked hint")
		}
	})
	t.Run("NotCounted", func(t *testing.T) {
		// Signed by a key that the database no longer has (deleted behind attestd's back).
		stranger := newSigner(t)
		e.addKey(tok["admin"], stranger)
		digest := chain("stranger", stranger, fn.signer, false)
		if _, err := e.connDB(t).Exec(t.Context(), `DELETE FROM keys WHERE key_id = $1`, stranger.id); err != nil {
			t.Fatal(err)
		}
		e.restart(e.t)
		_, res := same(t, digest)
		wantDenied(t, res.Decision, "no signature verifies with a functionary key of the project")
		if len(res.NotCounted) != 1 {
			t.Fatalf("not counted: %q", res.NotCounted)
		}
	})
	t.Run("RevokedKey", func(t *testing.T) {
		// The last subtest that asks attestd: the functionary key of every step is revoked for good.
		digest := chain("revoked", fn.signer, fn.signer, false)
		e.clock.Advance(time.Minute)
		if _, err := e.keys().RevokeKey(as(tok["admin"]), &attestdv1.RevokeKeyRequest{KeyId: fn.id}); err != nil {
			t.Fatal(err)
		}
		// Revoked after the log integrated its attestation: the attestation still counts, offline too.
		_, res := same(t, digest)
		if !res.Decision.GetAllowed() {
			t.Fatalf("denied: %q", res.Decision.GetReasons())
		}
		// Revoked before, as the database says behind attestd's back: denied, offline too.
		if _, err := e.connDB(t).Exec(t.Context(), `UPDATE keys SET revoked_at = created_at WHERE key_id = $1`, fn.id); err != nil {
			t.Fatal(err)
		}
		e.restart(e.t)
		_, res = same(t, digest)
		wantDenied(t, res.Decision, "was revoked before the attestation was logged")
	})

	t.Run("Tampered", func(t *testing.T) {
		sb, b := openUnchecked(t, raw)
		for name, change := range map[string]func(b *attestdv1.Bundle){
			"envelope byte": func(b *attestdv1.Bundle) { b.Attestations[0].Attestation.Envelope[10] ^= 1 },
			"key validity": func(b *attestdv1.Bundle) {
				b.Keys[0].ExpireTime = timestamppb.New(time.Now().Add(-time.Hour))
			},
			"decision":   func(b *attestdv1.Bundle) { b.Decision.Allowed = !b.Decision.Allowed },
			"checkpoint": func(b *attestdv1.Bundle) { b.Checkpoint = append([]byte("x"), b.Checkpoint...) },
		} {
			c := proto.Clone(b).(*attestdv1.Bundle)
			change(c)
			_, err := e.offline(t, keepSignature(t, sb, c), "file", "app.deb", good)
			if !errors.Is(err, bundle.ErrSignature) {
				t.Errorf("%s changed: %v, want %v", name, err, bundle.ErrSignature)
			}
		}
		// Unchanged, the envelope put together again still verifies.
		if _, err := e.offline(t, keepSignature(t, sb, b), "file", "app.deb", good); err != nil {
			t.Fatalf("unchanged: %v", err)
		}
	})
	t.Run("ForgedAndResigned", func(t *testing.T) {
		_, b := openUnchecked(t, raw)
		// An envelope of the thief's making, under its own id: its leaf is not in the log.
		forged := envelope(inTotoPayloadType, linkStatement("build", map[string]string{"src/main.c": sha("evil src")},
			map[string]string{"app.tar": sha("good tar")}), fn.signer)
		for _, a := range b.GetAttestations() {
			if a.GetAttestation().GetReceipt().GetStep() == "build" {
				a.Attestation.Envelope = forged
				a.Attestation.Receipt.Id = sha(string(forged))
			}
		}
		res, err := e.offline(t, e.resign(t, b), "file", "app.deb", good)
		if err != nil {
			t.Fatal(err)
		}
		wantDenied(t, res.Decision, "does not verify against the checkpoint", `step "build"`)

		// A forged layout: its leaf is not in the log either.
		_, b = openUnchecked(t, raw)
		b.Layout.Content = append(b.Layout.Content, ' ')
		b.Layout.Id = sha(string(b.Layout.Content))
		if _, err := e.offline(t, e.resign(t, b), "file", "app.deb", good); !errors.Is(err, bundle.ErrMalformed) ||
			!strings.Contains(err.Error(), "does not match its leaf") {
			t.Fatalf("forged layout: %v", err)
		}
	})
	t.Run("WrongKeyOrArtifact", func(t *testing.T) {
		other := otherVerifierKey(t)
		if _, err := bundle.Verify(t.Context(), raw, other, bundle.Options{Now: e.clock.Now(), Kind: "file", Name: "app.deb",
			Digest: good}); !errors.Is(err, bundle.ErrSignature) {
			t.Fatalf("another verifier key: %v", err)
		}
		if _, err := e.offline(t, raw, "file", "app.deb", "sha256:"+sha("another deb")); !errors.Is(err, bundle.ErrWrongArtifact) {
			t.Fatalf("another digest: %v", err)
		}
		if _, err := e.offline(t, raw, "file", "dist/app.deb", good); !errors.Is(err, bundle.ErrWrongArtifact) {
			t.Fatalf("another name: %v", err)
		}
		_, otherLog, err := note.GenerateKey(rand.Reader, "attestd.test/log")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Verify(t.Context(), raw, e.verifierPub(t), bundle.Options{Now: e.clock.Now(), Kind: "file",
			Name: "app.deb", Digest: good, LogKey: otherLog}); !errors.Is(err, bundle.ErrLogKey) {
			t.Fatalf("another pinned log key: %v", err)
		}
		if _, err := bundle.Verify(t.Context(), raw, e.verifierPub(t), bundle.Options{Now: e.clock.Now().Add(2 * time.Hour),
			Kind: "file", Name: "app.deb", Digest: good, MaxAge: time.Hour}); !errors.Is(err, bundle.ErrTooOld) {
			t.Fatalf("older than --max-age: %v", err)
		}
	})
}

// TestExportBundleRequests: ExportBundle checks its arguments as Verify does, answers NOT_FOUND for another
// project, PERMISSION_DENIED to roles that may not verify, and FAILED_PRECONDITION when nothing covers the
// artifact.
func TestExportBundleRequests(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	other := e.project("other")
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	deb := sha("some deb")
	for _, req := range []*attestdv1.ExportBundleRequest{
		{Kind: "file", Name: "app.deb", Digest: deb},
		{Kind: "file", Name: "app.deb", Digest: "sha512:" + deb},
		{Kind: "car", Name: "app.deb", Digest: "sha256:" + deb},
		{Kind: "file", Name: "", Digest: "sha256:" + deb},
		{Kind: "file", Name: "dist/../app.deb", Digest: "sha256:" + deb},
	} {
		_, err := e.verifier().ExportBundle(as(tok["verifier"]), req)
		wantCode(t, err, codes.InvalidArgument)
	}
	_, err := e.verifier().ExportBundle(as(other["verifier"]), &attestdv1.ExportBundleRequest{Project: "acme", Kind: "file",
		Name: "app.deb", Digest: "sha256:" + deb})
	wantCode(t, err, codes.NotFound)
	_, err = e.verifier().ExportBundle(as(tok["attestor"]), &attestdv1.ExportBundleRequest{Kind: "file", Name: "app.deb",
		Digest: "sha256:" + deb})
	wantCode(t, err, codes.PermissionDenied)
	_, err = e.verifier().ExportBundle(as(tok["verifier"]), &attestdv1.ExportBundleRequest{Kind: "file", Name: "etc/app.conf",
		Digest: "sha256:" + deb})
	wantCode(t, err, codes.FailedPrecondition, `no policy covers file "etc/app.conf"`)

	// With no attestation at all, the bundle holds the denial.
	raw := e.exportBundle(t, tok["reader"], "file", "app.deb", "sha256:"+deb)
	res, err := e.offline(t, raw, "file", "app.deb", "sha256:"+deb)
	if err != nil {
		t.Fatal(err)
	}
	sameDecision(t, "no attestation", e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), res.Decision)
}

// TestExportBundleRekor (a real Rekor): under a policy that requires Rekor, the bundle carries each
// attestation's Rekor entry and the project's Rekor key, and the offline decision checks them as Verify does;
// without its entry, an attestation does not count.
func TestExportBundleRekor(t *testing.T) {
	e, tok, owner, fn, rekorKey := rekorShop(t, rekorURL(t))
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("package", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.policies().SetPolicy(as(tok["admin"]), &attestdv1.SetPolicyRequest{Name: "debs", Kind: "file",
		Match: "*.deb", Layout: "release", RequireRekor: true}); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + sha("anchored deb")
	id := e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": sha("anchored deb")}), fn.signer)
	if a := e.awaitAnchor(t, tok["reader"], id, 30*time.Second); a.GetState() != "done" {
		t.Fatalf("anchor %v", a)
	}
	online := e.verify(t, tok["verifier"], "file", "app.deb", digest)
	raw := e.exportBundle(t, tok["verifier"], "file", "app.deb", digest)
	res, err := e.offline(t, raw, "file", "app.deb", digest)
	if err != nil {
		t.Fatal(err)
	}
	sameDecision(t, "offline", online, res.Decision)
	if !res.Decision.GetAllowed() {
		t.Fatalf("denied: %q", res.Decision.GetReasons())
	}
	if res.Bundle.GetRekor().GetUrl() == "" || string(res.Bundle.GetRekor().GetPublicKey()) != string(rekorKey) {
		t.Fatalf("bundle's Rekor settings %v", res.Bundle.GetRekor())
	}
	entry := res.Bundle.GetAttestations()[0].GetAttestation().GetAnchor().GetEntry()
	if len(entry.GetEntryJson()) == 0 || entry.GetUuid() == "" {
		t.Fatalf("no Rekor entry in the bundle: %v", res.Bundle.GetAttestations()[0].GetAttestation().GetAnchor())
	}

	// Without its entry, the attestation does not count.
	_, b := openUnchecked(t, raw)
	b.Attestations[0].Attestation.Anchor.Entry = nil
	res, err = e.offline(t, e.resign(t, b), "file", "app.deb", digest)
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, res.Decision, "attestation "+id+" does not count: the policy requires a Rekor entry, and its stored Rekor entry does not parse")
	// With the entry of another envelope, neither: the entry is bound to the envelope.
	other := e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": sha("other deb")}), fn.signer)
	e.awaitAnchor(t, tok["reader"], other, 30*time.Second)
	_, otherBundle := openUnchecked(t, e.exportBundle(t, tok["verifier"], "file", "app.deb", "sha256:"+sha("other deb")))
	_, b = openUnchecked(t, raw)
	b.Attestations[0].Attestation.Anchor = otherBundle.GetAttestations()[0].GetAttestation().GetAnchor()
	res, err = e.offline(t, e.resign(t, b), "file", "app.deb", digest)
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, res.Decision, "attestation "+id+" does not count: the policy requires a Rekor entry, and its Rekor entry does not verify")
}
