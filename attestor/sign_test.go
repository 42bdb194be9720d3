package attestor

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/attestd/attestd/attestation"
)

func TestSignVerifies(t *testing.T) {
	for _, kind := range KeyKinds() {
		t.Run(kind, func(t *testing.T) {
			priv, _, err := GenerateKey(kind)
			if err != nil {
				t.Fatal(err)
			}
			s, err := LoadSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			// Numbers and key order that a JSON round trip would change:
			// the signature must be over these bytes exactly.
			verifyEnvelope(t, s, []byte(`{"b": 1.0, "a": 12345678901234567890}`))
		})
	}
}

// verifyEnvelope signs payload with s and checks the envelope with
// securesystemslib's DSSE verifier and with attestd's own parser and verifier.
func verifyEnvelope(t *testing.T, s *Signer, payload []byte) {
	t.Helper()
	out, err := s.Sign(t.Context(), PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}

	var env dsse.Envelope
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatal(err)
	}
	if len(env.Signatures) != 1 || env.Signatures[0].KeyID != s.KeyID() {
		t.Fatalf("signatures = %+v, want one with keyid %s", env.Signatures, s.KeyID())
	}
	if env.PayloadType != PayloadType {
		t.Errorf("payloadType = %q", env.PayloadType)
	}
	body, err := env.DecodeB64Payload()
	if err != nil || !bytes.Equal(body, payload) {
		t.Fatalf("payload = %q, %v; want exactly %q", body, err, payload)
	}

	// securesystemslib, from the public key alone. Its verifier only checks
	// signatures whose keyid is its own, so this also checks the key id.
	key, err := signerverifier.LoadKey(s.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	var v dsse.Verifier
	switch key.KeyType {
	case signerverifier.ED25519KeyType:
		v, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	case signerverifier.ECDSAKeyType:
		v, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
	case signerverifier.RSAKeyType:
		v, err = signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(key)
	}
	if err != nil || v == nil {
		t.Fatalf("verifier for %s: %v", key.KeyType, err)
	}
	ev, err := dsse.NewEnvelopeVerifier(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Verify(t.Context(), &env); err != nil {
		t.Errorf("securesystemslib: %v", err)
	}

	// attestd's own verification, as the server does it.
	parsed, err := attestation.ParseEnvelope(out, attestation.DefaultLimits())
	if err != nil {
		t.Fatalf("attestation.ParseEnvelope: %v", err)
	}
	pk, err := attestation.ParsePublicKey(s.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := attestation.VerifySignatures(parsed, []*attestation.PublicKey{pk})
	if err != nil || len(ids) != 1 || ids[0] != s.KeyID() {
		t.Errorf("attestation.VerifySignatures = %v, %v; want [%s]", ids, err, s.KeyID())
	}
}

func TestSignEmptyPayloadType(t *testing.T) {
	priv, _, err := GenerateKey(KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(t.Context(), "", []byte("{}")); err == nil {
		t.Fatal("Sign with no payload type succeeded")
	}
}
