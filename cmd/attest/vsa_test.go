package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vsapb "github.com/in-toto/attestation/go/predicates/vsa/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
)

func newVSASigner(t testing.TB) *attestor.Signer {
	t.Helper()
	priv, _, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attestor.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// makeVSA signs a VSA for name and sha256 digest hexDigest, as attestd issues them.
func makeVSA(t testing.TB, s *attestor.Signer, name, hexDigest, result string, at time.Time) []byte {
	t.Helper()
	raw, err := protojson.Marshal(&vsapb.VerificationSummary{
		Verifier:           &vsapb.VerificationSummary_Verifier{Id: "attestd"},
		TimeVerified:       timestamppb.New(at),
		ResourceUri:        name,
		Policy:             &vsapb.VerificationSummary_Policy{Uri: "attestd:policy/acme/all?layout=release&version=3", Digest: map[string]string{"sha256": sha256Hex("layout")}},
		InputAttestations:  []*vsapb.VerificationSummary_InputAttestation{{Uri: "attestd:attestation/" + sha256Hex("b1"), Digest: map[string]string{"sha256": sha256Hex("b1")}}},
		VerificationResult: result,
	})
	if err != nil {
		t.Fatal(err)
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, pred); err != nil {
		t.Fatal(err)
	}
	payload, err := protojson.Marshal(&intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: vsaPredicateType,
		Subject: []*intoto.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": hexDigest}}}, Predicate: pred})
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.Sign(context.Background(), attestation.PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestVerifyVSAOffline(t *testing.T) {
	dir := t.TempDir()
	key, other := newVSASigner(t), newVSASigner(t)
	pubFile, otherFile := filepath.Join(dir, "verifier.pub"), filepath.Join(dir, "other.pub")
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("verifier.pub", key.PublicPEM())
	write("other.pub", other.PublicPEM())
	digest := sha256Hex("app")
	now := time.Now()
	good := write("good.json", makeVSA(t, key, "app.deb", digest, "PASSED", now.Add(-time.Hour)))
	failedVSA := write("failed.json", makeVSA(t, key, "app.deb", digest, "FAILED", now.Add(-time.Hour)))
	future := write("future.json", makeVSA(t, key, "app.deb", digest, "PASSED", now.Add(time.Hour)))
	skewed := write("skewed.json", makeVSA(t, key, "app.deb", digest, "PASSED", now.Add(2*time.Minute)))

	// The payload changed after signing: the signature no longer covers it.
	var env map[string]any
	if err := json.Unmarshal(makeVSA(t, key, "app.deb", digest, "PASSED", now), &env); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), digest, sha256Hex("evil"), 1)))
	tamperedJSON, _ := json.Marshal(env)
	tampered := write("tampered.json", tamperedJSON)

	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"pass", []string{good, "--digest", "sha256:" + digest, "--verifier-key", pubFile}, 0, "PASSED: app.deb"},
		{"pass with name and age", []string{good, "--digest", "sha256:" + digest, "--verifier-key", pubFile, "--name", "app.deb", "--max-age", "2h"}, 0, "PASSED"},
		{"wrong digest", []string{good, "--digest", "sha256:" + sha256Hex("other"), "--verifier-key", pubFile}, 1, "no subject has digest"},
		{"wrong name", []string{good, "--digest", "sha256:" + digest, "--verifier-key", pubFile, "--name", "evil.deb"}, 1, `no subject is "evil.deb"`},
		{"wrong key", []string{good, "--digest", "sha256:" + digest, "--verifier-key", otherFile}, 1, "no signature verifies with the verifier key"},
		{"failed result", []string{failedVSA, "--digest", "sha256:" + digest, "--verifier-key", pubFile}, 1, `verificationResult is "FAILED"`},
		{"tampered payload", []string{tampered, "--digest", "sha256:" + sha256Hex("evil"), "--verifier-key", pubFile}, 1, "no signature verifies"},
		{"too old", []string{good, "--digest", "sha256:" + digest, "--verifier-key", pubFile, "--max-age", "30m"}, 1, "more than --max-age 30m"},
		{"future", []string{future, "--digest", "sha256:" + digest, "--verifier-key", pubFile}, 1, "in the future"},
		{"two minutes ahead: clock skew", []string{skewed, "--digest", "sha256:" + digest, "--verifier-key", pubFile}, 0, "PASSED"},
		{"not a VSA", []string{pubFile, "--digest", "sha256:" + digest, "--verifier-key", pubFile}, 1, "not a DSSE envelope"},
		{"no digest", []string{good, "--verifier-key", pubFile}, 2, "--digest"},
		{"sha1 digest", []string{good, "--digest", "sha1:" + digest[:40], "--verifier-key", pubFile}, 2, "--digest"},
		{"no key", []string{good, "--digest", "sha256:" + digest}, 2, "--verifier-key"},
		{"missing file", []string{filepath.Join(dir, "missing.json"), "--digest", "sha256:" + digest, "--verifier-key", pubFile}, 2, "missing.json"},
		{"negative age", []string{good, "--digest", "sha256:" + digest, "--verifier-key", pubFile, "--max-age", "-1h"}, 2, "negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := attest(t, append([]string{"verify", "vsa"}, c.args...)...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d (want %d), output does not say %q:\n%s%s", code, c.code, c.want, out, errOut)
			}
		})
	}
}

// vsaFakeVerifier answers like fakeVerifier and returns vsa when asked for one on an allowed decision.
type vsaFakeVerifier struct {
	*fakeVerifier
	vsa []byte
}

func (f vsaFakeVerifier) Verify(ctx context.Context, req *attestdv1.VerifyRequest) (*attestdv1.VerifyResponse, error) {
	resp, err := f.fakeVerifier.Verify(ctx, req)
	if err == nil && req.GetVsa() && resp.GetDecision().GetAllowed() {
		resp.Vsa = f.vsa
	}
	return resp, err
}

func TestVerifyWritesVSA(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("app.deb", []byte("app"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := newVSASigner(t)
	vsa := makeVSA(t, key, "app.deb", sha256Hex("app"), "PASSED", time.Now())
	f := vsaFakeVerifier{fakeVerifier: &fakeVerifier{allow: "sha256:" + sha256Hex("app")}, vsa: vsa}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	attestdv1.RegisterVerifyServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	srv := []string{"--server", lis.Addr().String(), "--plaintext", "--token", "good"}

	if out, errOut, code := attest(t, append(srv, "verify", "file", "--vsa", "app.vsa.json", "app.deb")...); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !f.request().GetVsa() {
		t.Fatal("--vsa did not ask for a VSA")
	}
	got, err := os.ReadFile("app.vsa.json")
	if err != nil || string(got) != string(vsa) {
		t.Fatalf("VSA file: %v", err)
	}
	// Denied: exit 1 and no file.
	if err := os.WriteFile("app.deb", []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := attest(t, append(srv, "verify", "file", "--vsa", "denied.vsa.json", "app.deb")...); code != 1 {
		t.Fatalf("denied: exit %d", code)
	}
	if _, err := os.Stat("denied.vsa.json"); err == nil {
		t.Fatal("a denied decision wrote a VSA")
	}
}

// BenchmarkCheckVSA is the offline check of attest verify vsa, without reading files.
func BenchmarkCheckVSA(b *testing.B) {
	key := newVSASigner(b)
	digest := sha256Hex("app")
	raw := makeVSA(b, key, "app.deb", digest, "PASSED", time.Now().Add(-time.Minute))
	pub, err := attestation.ParsePublicKey(key.PublicPEM())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := checkVSA(raw, pub, digest, "app.deb", time.Hour, now); err != nil {
			b.Fatal(err)
		}
	}
}
