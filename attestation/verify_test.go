package attestation

import (
	"bytes"
	"crypto/ed25519"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

func mustParseEnvelope(t *testing.T, b []byte) *Envelope {
	t.Helper()
	env, err := ParseEnvelope(b, Limits{})
	if err != nil {
		t.Fatalf("ParseEnvelope: %v\n%s", err, b)
	}
	return env
}

func TestVerifySignatures(t *testing.T) {
	ed, p256, p384, rsaK := keyByName(t, "ed25519"), keyByName(t, "ecdsa-p256"), keyByName(t, "ecdsa-p384"), keyByName(t, "rsa")
	edPub, p256Pub, p384Pub, rsaPub := ed.public(t), p256.public(t), p384.public(t), rsaK.public(t)
	edAgain, err := ParsePublicKey(selfSigned(t, ed)) // the same key, registered from a certificate
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	otherPub := newTestKey("other", otherPriv).public(t)
	payload := statementJSON("https://example.com/p", "", subject("a", sha256A))
	pae := dsse.PAE(PayloadType, payload)
	edSig := ed25519.Sign(ed.priv.(ed25519.PrivateKey), pae)
	zeroDER, _ := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(0), big.NewInt(0)})

	// payloadType changed after signing: signed as application/json, then
	// relabelled as an in-toto payload.
	relabelled := bytes.Replace(signDSSE(t, "application/json", payload, ed), []byte(`"application/json"`), []byte(`"`+PayloadType+`"`), 1)

	tests := []struct {
		name  string
		env   []byte
		keys  []*PublicKey
		ids   []*PublicKey // expected signers
		want  string
		frags []string
	}{
		{"one key", signDSSE(t, PayloadType, payload, ed), []*PublicKey{edPub}, []*PublicKey{edPub}, "", nil},
		{"four keys", signDSSE(t, PayloadType, payload, rsaK, p384, ed, p256), []*PublicKey{p256Pub, rsaPub, edPub, p384Pub}, []*PublicKey{edPub, p256Pub, p384Pub, rsaPub}, "", nil},
		{"signer not among keys", signDSSE(t, PayloadType, payload, ed, rsaK), []*PublicKey{edPub, p256Pub}, []*PublicKey{edPub}, "", nil},
		{"unknown key only", signDSSE(t, PayloadType, payload, ed), []*PublicKey{p256Pub, rsaPub}, nil, "nosig", []string{"checked 1 signature(s) against 2 key(s)"}},
		{"no keys", signDSSE(t, PayloadType, payload, ed), nil, nil, "nosig", []string{"against 0 key(s)"}},
		{"payloadType changed after signing", relabelled, []*PublicKey{edPub}, nil, "nosig", nil},
		{"signature over the raw payload", rawEnvelope(PayloadType, payload, Signature{KeyID: edPub.ID, Sig: ed25519.Sign(ed.priv.(ed25519.PrivateKey), payload)}), []*PublicKey{edPub}, nil, "nosig", nil},
		{"signature over the base64 payload", rawEnvelope(PayloadType, payload, Signature{KeyID: edPub.ID, Sig: ed25519.Sign(ed.priv.(ed25519.PrivateKey), []byte(base64.StdEncoding.EncodeToString(payload)))}), []*PublicKey{edPub}, nil, "nosig", nil},
		{"keyid is only a hint: empty", rawEnvelope(PayloadType, payload, Signature{Sig: edSig}), []*PublicKey{p256Pub, edPub}, []*PublicKey{edPub}, "", nil},
		{"keyid is only a hint: unknown", rawEnvelope(PayloadType, payload, Signature{KeyID: "someone-else", Sig: edSig}), []*PublicKey{rsaPub, edPub}, []*PublicKey{edPub}, "", nil},
		{"keyid names another registered key", rawEnvelope(PayloadType, payload, Signature{KeyID: otherPub.ID, Sig: edSig}), []*PublicKey{otherPub, edPub}, nil, "nosig", nil},
		{"keyid names a key of another type", rawEnvelope(PayloadType, payload, Signature{KeyID: rsaPub.ID, Sig: edSig}), []*PublicKey{rsaPub, edPub}, nil, "input", []string{"signature 0: RSA signatures for this key are 256 bytes, got 64"}},
		{"same signature twice counts once", rawEnvelope(PayloadType, payload, Signature{KeyID: edPub.ID, Sig: edSig}, Signature{KeyID: edPub.ID, Sig: edSig}), []*PublicKey{edPub}, []*PublicKey{edPub}, "", nil},
		{"two signatures by one key count once", signDSSE(t, PayloadType, payload, p256, p256, p256), []*PublicKey{p256Pub}, []*PublicKey{p256Pub}, "", nil},
		{"same key registered twice counts once", signDSSE(t, PayloadType, payload, ed), []*PublicKey{edPub, edAgain, edPub}, []*PublicKey{edPub}, "", nil},
		{"truncated signature, named key", rawEnvelope(PayloadType, payload, Signature{KeyID: edPub.ID, Sig: edSig[:12]}), []*PublicKey{edPub}, nil, "input", []string{"signature 0: ed25519 signatures are 64 bytes, got 12"}},
		{"truncated signature, unnamed key", rawEnvelope(PayloadType, payload, Signature{Sig: edSig[:12]}), []*PublicKey{edPub}, nil, "nosig", nil},
		{"ECDSA r=s=0, named key", rawEnvelope(PayloadType, payload, Signature{KeyID: p256Pub.ID, Sig: zeroDER}), []*PublicKey{p256Pub}, nil, "input", []string{"signature 0: ECDSA signature has r or s outside [1, N-1]"}},
		{"ECDSA r=s=0, unnamed key", rawEnvelope(PayloadType, payload, Signature{Sig: zeroDER}), []*PublicKey{p256Pub, p384Pub}, nil, "nosig", nil},
		{"malformed and valid", rawEnvelope(PayloadType, payload, Signature{KeyID: edPub.ID, Sig: edSig[:3]}, Signature{KeyID: edPub.ID, Sig: edSig}), []*PublicKey{edPub}, []*PublicKey{edPub}, "", nil},
		{"nil and zero keys skipped", signDSSE(t, PayloadType, payload, ed), []*PublicKey{nil, {}, {ID: edPub.ID}, edPub}, []*PublicKey{edPub}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := mustParseEnvelope(t, tt.env)
			got, err := VerifySignatures(env, tt.keys)
			wantErr(t, err, tt.want, tt.frags...)
			var want []string
			for _, k := range tt.ids {
				want = append(want, k.ID)
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("verified %v, want %v", got, want)
			}
			if tt.want == "input" && !errors.Is(err, ErrMalformedSignature) {
				t.Errorf("%v does not wrap ErrMalformedSignature", err)
			}
		})
	}
}

// TestVerifySignaturesOrder: the same envelope and keys in any order give
// the same answer (in-toto-golang #466 was a decision that depended on map
// order).
func TestVerifySignaturesOrder(t *testing.T) {
	var keys []*PublicKey
	var signers []*testKey
	for _, k := range testKeys(t) {
		keys = append(keys, k.public(t), k.public(t))
		signers = append(signers, k)
	}
	payload := statementJSON("https://example.com/p", "", subject("a", sha256A))
	env := mustParseEnvelope(t, signDSSE(t, PayloadType, payload, signers...))
	env.Signatures = append(env.Signatures, Signature{KeyID: keys[0].ID, Sig: []byte{1, 2, 3}})
	first, err := VerifySignatures(env, keys)
	if err != nil || len(first) != len(signers) {
		t.Fatalf("VerifySignatures = %v, %v", first, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		rng.Shuffle(len(env.Signatures), func(i, j int) { env.Signatures[i], env.Signatures[j] = env.Signatures[j], env.Signatures[i] })
		got, err := VerifySignatures(env, keys)
		if err != nil || !slices.Equal(got, first) {
			t.Fatalf("shuffled: %v, %v; first %v", got, err, first)
		}
	}
}

func TestVerifySignaturesNilEnvelope(t *testing.T) {
	_, err := VerifySignatures(nil, nil)
	wantErr(t, err, "input", "envelope")
}
