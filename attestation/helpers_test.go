package attestation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
)

// testKey is a generated key pair in the forms the tests need.
type testKey struct {
	name       string // "ed25519", "ecdsa-p256", "ecdsa-p384", "rsa"
	priv       crypto.Signer
	privatePEM []byte // PKCS#8
	publicPEM  []byte // PKIX
}

var (
	keysOnce sync.Once
	allKeys  []*testKey
)

// testKeys returns one key of every supported type, generated once per run
// (RSA generation is slow).
func testKeys(t testing.TB) []*testKey {
	t.Helper()
	keysOnce.Do(func() {
		_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
		p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		allKeys = []*testKey{
			newTestKey("ed25519", edPriv),
			newTestKey("ecdsa-p256", p256),
			newTestKey("ecdsa-p384", p384),
			newTestKey("rsa", rsaKey),
		}
	})
	return allKeys
}

func newTestKey(name string, priv crypto.Signer) *testKey {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		panic(err)
	}
	return &testKey{
		name:       name,
		priv:       priv,
		privatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		publicPEM:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
	}
}

// keyByName returns the generated key called name.
func keyByName(t testing.TB, name string) *testKey {
	t.Helper()
	for _, k := range testKeys(t) {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no test key %q", name)
	return nil
}

// public parses the key's public PEM with ParsePublicKey.
func (k *testKey) public(t testing.TB) *PublicKey {
	t.Helper()
	pk, err := ParsePublicKey(k.publicPEM)
	if err != nil {
		t.Fatalf("ParsePublicKey(%s): %v", k.name, err)
	}
	return pk
}

// signer returns a securesystemslib signer for the key, loaded the way
// in-toto tooling loads it.
func (k *testKey) signer(t testing.TB) dsse.SignerVerifier {
	t.Helper()
	sk, err := signerverifier.LoadKey(k.privatePEM)
	if err != nil {
		t.Fatalf("signerverifier.LoadKey(%s): %v", k.name, err)
	}
	var sv dsse.SignerVerifier
	switch sk.KeyType {
	case signerverifier.ED25519KeyType:
		sv, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(sk)
	case signerverifier.ECDSAKeyType:
		sv, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(sk)
	case signerverifier.RSAKeyType:
		sv, err = signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(sk)
	}
	if err != nil || sv == nil {
		t.Fatalf("signer for %s: %v", k.name, err)
	}
	return sv
}

// signDSSE signs payload as payloadType with securesystemslib's DSSE signer
// and returns the envelope JSON as tools write it.
func signDSSE(t testing.TB, payloadType string, payload []byte, keys ...*testKey) []byte {
	t.Helper()
	var signers []dsse.Signer
	for _, k := range keys {
		signers = append(signers, k.signer(t))
	}
	es, err := dsse.NewEnvelopeSigner(signers...)
	if err != nil {
		t.Fatal(err)
	}
	env, err := es.SignPayload(context.Background(), payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawEnvelope builds DSSE JSON by hand from a payload type, payload and
// (keyid, raw signature) pairs.
func rawEnvelope(payloadType string, payload []byte, sigs ...Signature) []byte {
	env := dsse.Envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	for _, s := range sigs {
		env.Signatures = append(env.Signatures, dsse.Signature{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(s.Sig)})
	}
	b, _ := json.Marshal(env)
	return b
}

const (
	sha256A = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	sha256B = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"
)

// statementJSON returns a Statement v1 with the given subjects and predicate.
func statementJSON(predicateType, predicate string, subjects ...string) []byte {
	if predicate == "" {
		predicate = "{}"
	}
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[%s],"predicateType":%q,"predicate":%s}`,
		strings.Join(subjects, ","), predicateType, predicate)
}

// subject returns a ResourceDescriptor with a sha256 digest.
func subject(name, sha string) string {
	n, _ := json.Marshal(name)
	return fmt.Sprintf(`{"name":%s,"digest":{"sha256":%q}}`, n, sha)
}

// wantErr checks that err is of the kind named by want ("input", "limit",
// "nosig", "" for none) and that its message contains every fragment.
func wantErr(t testing.TB, err error, want string, fragments ...string) {
	t.Helper()
	var ie *InputError
	var le *LimitError
	switch want {
	case "":
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	case "input":
		if !errors.As(err, &ie) {
			t.Fatalf("got %T %v, want *InputError", err, err)
		}
	case "limit":
		if !errors.As(err, &le) {
			t.Fatalf("got %T %v, want *LimitError", err, err)
		}
	case "nosig":
		if !errors.Is(err, ErrNoValidSignature) {
			t.Fatalf("got %T %v, want ErrNoValidSignature", err, err)
		}
	default:
		t.Fatalf("bad want %q", want)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}
