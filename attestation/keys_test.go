package attestation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
)

// selfSigned returns a PEM certificate for k's key.
func selfSigned(t *testing.T, k *testKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "functionary"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.priv.Public(), k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestKeyIDParity: ParsePublicKey's ID is what in-toto-golang v0.11.0
// computes with LoadKeyReaderDefaults, for the public key, the private key and
// a certificate, and what securesystemslib's signerverifier.LoadKey computes.
//
// Result: all three agree for every key type. Both libraries use the scheme
// "ecdsa-sha2-nistp256" in the id of every ECDSA key, P-384 included, so the
// id of a P-384 key is computed with that scheme although PublicKey.Scheme is
// "ecdsa-sha2-nistp384". securesystemslib's LoadKey does not read
// certificates (it fails on them); in-toto-golang hashes only the public key
// of a certificate, so a certificate has the id of its key.
func TestKeyIDParity(t *testing.T) {
	for _, k := range testKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			pub := k.public(t)
			cert, err := ParsePublicKey(selfSigned(t, k))
			if err != nil {
				t.Fatal(err)
			}
			if cert.ID != pub.ID || cert.Fingerprint() != pub.Fingerprint() || cert.PEM != pub.PEM {
				t.Errorf("certificate key %+v differs from public key %+v", cert, pub)
			}
			for what, pemBytes := range map[string][]byte{"public": k.publicPEM, "private": k.privatePEM, "certificate": selfSigned(t, k)} {
				var ik intoto.Key
				if err := ik.LoadKeyReaderDefaults(bytes.NewReader(pemBytes)); err != nil {
					t.Fatalf("in-toto LoadKeyReaderDefaults(%s): %v", what, err)
				}
				if ik.KeyID != pub.ID {
					t.Errorf("in-toto-golang id of the %s key %s, ours %s", what, ik.KeyID, pub.ID)
				}
				if ik.KeyType != pub.KeyType {
					t.Errorf("in-toto-golang key type %s, ours %s", ik.KeyType, pub.KeyType)
				}
			}
			for what, pemBytes := range map[string][]byte{"public": k.publicPEM, "private": k.privatePEM} {
				sk, err := signerverifier.LoadKey(pemBytes)
				if err != nil {
					t.Fatalf("securesystemslib LoadKey(%s): %v", what, err)
				}
				if sk.KeyID != pub.ID {
					t.Errorf("securesystemslib id of the %s key %s, ours %s", what, sk.KeyID, pub.ID)
				}
			}
			wantScheme := map[string]string{"ed25519": SchemeED25519, "ecdsa-p256": SchemeECDSAP256,
				"ecdsa-p384": SchemeECDSAP384, "rsa": SchemeRSASSAPSSSHA256}[k.name]
			if pub.Scheme != wantScheme {
				t.Errorf("scheme %s, want %s", pub.Scheme, wantScheme)
			}
			sum := sha256.Sum256(mustDER(t, pub.PEM))
			if pub.Fingerprint() != strings.ToLower(fmtHex(sum[:])) {
				t.Errorf("fingerprint %s", pub.Fingerprint())
			}
		})
	}
}

func mustDER(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "PUBLIC KEY" {
		t.Fatalf("PEM %q", s)
	}
	return b.Bytes
}

func fmtHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestParsePublicKeyNormalizes(t *testing.T) {
	k := keyByName(t, "ecdsa-p256")
	messy := append([]byte("\n\t\n"), bytes.ReplaceAll(k.publicPEM, []byte("\n"), []byte("\r\n"))...)
	messy = append(messy, "\n\n"...)
	a, err := ParsePublicKey(messy)
	if err != nil {
		t.Fatal(err)
	}
	if b := k.public(t); a.ID != b.ID || a.PEM != b.PEM || a.PEM != string(k.publicPEM) {
		t.Errorf("normalized %+v, want %+v", a, b)
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	ed := keyByName(t, "ed25519")
	rsaKey := keyByName(t, "rsa").priv.(*rsa.PrivateKey)
	ecKey := keyByName(t, "ecdsa-p256").priv.(*ecdsa.PrivateKey)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	pkix := func(pub crypto.PublicKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("PUBLIC KEY", der)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(ed.priv)
	tests := []struct {
		name string
		in   []byte
		frag string
	}{
		{"empty", nil, "no PEM block"},
		{"not PEM", []byte("ssh-ed25519 AAAA"), "no PEM block"},
		{"PKCS8 private key", ed.privatePEM, "private key given where a public key is expected"},
		{"PKCS1 private key", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "private key given"},
		{"SEC1 private key", pemOf("EC PRIVATE KEY", ecDER), "private key given"},
		{"private key labelled public", pemOf("PUBLIC KEY", privDER), "private key given"},
		{"encrypted private key", pemOf("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "private key given"},
		{"trailing garbage", append(slicesClone(ed.publicPEM), "garbage"...), "trailing data"},
		{"two blocks", append(slicesClone(ed.publicPEM), ed.publicPEM...), "trailing data"},
		{"leading garbage", append([]byte("hello\n"), ed.publicPEM...), "text before"},
		{"malformed block first", append([]byte("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n"), ed.publicPEM...), "malformed PEM block"},
		{"PKCS1 public key", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), `"RSA PUBLIC KEY" is not supported`},
		{"bad DER", pemOf("PUBLIC KEY", []byte{0x30, 0x03, 1, 2, 3}), "not a PKIX public key"},
		{"DER with trailing bytes", pemOf("PUBLIC KEY", append(mustDER(t, ed.public(t).PEM), 0)), "not a PKIX public key"},
		{"bad certificate", pemOf("CERTIFICATE", []byte{0x30, 0}), "not an X.509 certificate"},
		{"RSA 1024", pkix(&small.PublicKey), "RSA key of 1024 bits"},
		{"P-521", pkix(&p521.PublicKey), "curve P-521 is not supported"},
		{"P-224", pkix(&p224.PublicKey), "curve P-224 is not supported"},
		{"too long", append(slicesClone(ed.publicPEM), bytes.Repeat([]byte("\n"), 64<<10)...), "too long"},
		{"headers", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: mustDER(t, ed.public(t).PEM)}), "headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKey(tt.in)
			wantErr(t, err, "input", "key: ", tt.frag)
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

func TestVerify(t *testing.T) {
	msg := []byte("DSSEv1 28 application/vnd.in-toto+json 2 {}")
	for _, k := range testKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			pub := k.public(t)
			sig, err := k.signer(t).Sign(t.Context(), msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Verify(msg, sig); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := pub.Verify(append(slicesClone(msg), '!'), sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("other message: %v, want ErrBadSignature", err)
			}
			flipped := slicesClone(sig)
			flipped[len(flipped)-1] ^= 1
			if err := pub.Verify(msg, flipped); err == nil {
				t.Error("flipped signature verified")
			}
			if err := pub.Verify(msg, sig[:len(sig)-1]); !errors.Is(err, ErrMalformedSignature) {
				t.Errorf("truncated signature: %v, want ErrMalformedSignature", err)
			}
			if err := pub.Verify(msg, nil); !errors.Is(err, ErrMalformedSignature) {
				t.Errorf("empty signature: %v, want ErrMalformedSignature", err)
			}
		})
	}
}

func TestVerifyDegenerate(t *testing.T) {
	msg := []byte("message")
	der := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, name := range []string{"ecdsa-p256", "ecdsa-p384"} {
		pub := keyByName(t, name).public(t)
		n := keyByName(t, name).priv.(*ecdsa.PrivateKey).Params().N
		for what, sig := range map[string][]byte{
			"r=s=0":          der(big.NewInt(0), big.NewInt(0)),
			"r=0":            der(big.NewInt(0), big.NewInt(1)),
			"negative":       der(big.NewInt(-1), big.NewInt(1)),
			"r=N":            der(n, big.NewInt(1)),
			"trailing bytes": append(der(big.NewInt(1), big.NewInt(1)), 0),
			"not DER":        {0x30, 0x80},
		} {
			if err := pub.Verify(msg, sig); !errors.Is(err, ErrMalformedSignature) {
				t.Errorf("%s %s: %v, want ErrMalformedSignature", name, what, err)
			}
		}
		if err := pub.Verify(msg, der(big.NewInt(1), big.NewInt(1))); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s r=s=1: %v, want ErrBadSignature", name, err)
		}
	}
	ed := keyByName(t, "ed25519").public(t)
	err := ed.Verify(msg, make([]byte, 12))
	if !errors.Is(err, ErrMalformedSignature) || !strings.Contains(err.Error(), "ed25519 signatures are 64 bytes, got 12") {
		t.Errorf("ed25519 12-byte signature: %v", err)
	}
	if err := ed.Verify(msg, make([]byte, ed25519.SignatureSize)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("ed25519 zero signature: %v, want ErrBadSignature", err)
	}
	var zero PublicKey
	if err := zero.Verify(msg, make([]byte, 64)); err == nil {
		t.Error("zero PublicKey verified a signature")
	}
}
