package attestor

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/attestd/attestd/attestation"
)

func TestGenerateKeyRoundTrip(t *testing.T) {
	for _, kind := range KeyKinds() {
		t.Run(kind, func(t *testing.T) {
			priv, pub, err := GenerateKey(kind)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(priv, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Errorf("private key is not PKCS#8 PEM:\n%s", priv)
			}
			if !bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----\n")) {
				t.Errorf("public key is not PKIX PEM:\n%s", pub)
			}
			s, err := LoadSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.PublicPEM(), pub) {
				t.Errorf("PublicPEM() =\n%s\nwant\n%s", s.PublicPEM(), pub)
			}
			pk, err := attestation.ParsePublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyID() != pk.ID {
				t.Errorf("KeyID() = %s, attestation.ParsePublicKey says %s", s.KeyID(), pk.ID)
			}
			checkInTotoKeyID(t, priv, s.KeyID())
			checkInTotoKeyID(t, pub, s.KeyID())
		})
	}
}

// checkInTotoKeyID loads a key file with in-toto-golang, as in-toto-run and
// in-toto-verify would, and compares its key id with ours.
func checkInTotoKeyID(t *testing.T, pemBytes []byte, want string) {
	t.Helper()
	var k intoto.Key
	if err := k.LoadKeyReaderDefaults(bytes.NewReader(pemBytes)); err != nil {
		t.Fatalf("in-toto-golang cannot load the key: %v", err)
	}
	if k.KeyID != want {
		t.Errorf("in-toto-golang key id %s, ours %s", k.KeyID, want)
	}
}

func TestGenerateKeyUnknownKind(t *testing.T) {
	if _, _, err := GenerateKey("rsa"); err == nil || !strings.Contains(err.Error(), "ed25519") {
		t.Fatalf("GenerateKey(rsa) = %v, want an error listing the kinds", err)
	}
}

func TestLoadSignerOtherEncodings(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8RSA, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"rsa pkcs1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)},
		"rsa pkcs8": {Type: "PRIVATE KEY", Bytes: pkcs8RSA},
		"ec sec1":   {Type: "EC PRIVATE KEY", Bytes: sec1},
	} {
		t.Run(name, func(t *testing.T) {
			priv := pem.EncodeToMemory(block)
			s, err := LoadSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			pk, err := attestation.ParsePublicKey(s.PublicPEM())
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyID() != pk.ID {
				t.Errorf("KeyID() = %s, want %s", s.KeyID(), pk.ID)
			}
			checkInTotoKeyID(t, priv, s.KeyID())
			verifyEnvelope(t, s, []byte(`{"x":1}`))
		})
	}
}

func TestLoadSignerRefuses(t *testing.T) {
	_, pub, err := GenerateKey(KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521DER, err := x509.MarshalPKCS8PrivateKey(p521)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
		want string
	}{
		{"garbage", []byte("not a key"), "no PEM block"},
		{"public key", pub, "this is a public key"},
		{"encrypted", []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), "encrypted"},
		{"small rsa", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), "too small"},
		{"p-521", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p521DER}), "P-521"},
		{"bad der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSigner(tt.pem)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSigner = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
