package attestor

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/attestd/attestd/attestation"
)

// The kinds of key GenerateKey makes.
const (
	KeyEd25519   = "ed25519"
	KeyECDSAP256 = "ecdsa-p256"
	KeyECDSAP384 = "ecdsa-p384"
)

// KeyKinds lists the kinds GenerateKey accepts, the default first.
func KeyKinds() []string { return []string{KeyEd25519, KeyECDSAP256, KeyECDSAP384} }

// minRSABits is the smallest RSA modulus attestd accepts for a functionary key.
const minRSABits = 2048

// GenerateKey makes a new key pair of the given kind (one of KeyKinds) and
// returns it as PEM: the private key in PKCS#8 ("PRIVATE KEY") and the public
// key in PKIX ("PUBLIC KEY"). in-toto-golang and securesystemslib load both.
func GenerateKey(kind string) (privatePEM, publicPEM []byte, err error) {
	var priv crypto.Signer
	switch kind {
	case KeyEd25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case KeyECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, nil, fmt.Errorf("unknown key type %q (want one of %s)", kind, strings.Join(KeyKinds(), ", "))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", kind, err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s private key: %w", kind, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s public key: %w", kind, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// A Signer signs payloads with one private key and wraps them in DSSE
// envelopes. It is safe for concurrent use.
type Signer struct {
	keyID     string
	publicPEM []byte
	sv        dsse.Signer
}

// LoadSigner reads a PEM private key: PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA
// PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"). It accepts Ed25519, ECDSA on P-256
// or P-384, and RSA of 2048 bits or more, which signs with RSASSA-PSS and
// SHA-256 (the in-toto scheme rsassa-pss-sha256). Encrypted keys are refused:
// decrypt them first (openssl pkcs8 -in enc.pem -out key.pem).
func LoadSigner(privatePEM []byte) (*Signer, error) {
	priv, err := parsePrivateKey(privatePEM)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pub, err := attestation.ParsePublicKey(publicPEM)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	sv, err := newSignerVerifier(priv, pub.ID, publicPEM)
	if err != nil {
		return nil, err
	}
	return &Signer{keyID: pub.ID, publicPEM: publicPEM, sv: sv}, nil
}

// KeyID returns the in-toto key id of the signer's public key: lowercase hex,
// the same id that in-toto-golang computes and attestd registers.
func (s *Signer) KeyID() string { return s.keyID }

// PublicPEM returns the public key in PKIX PEM, as "attest key add" registers it.
func (s *Signer) PublicPEM() []byte { return append([]byte(nil), s.publicPEM...) }

// Sign signs payload, exactly the bytes given, under payloadType (PayloadType
// for in-toto statements) and returns the DSSE envelope as JSON. The envelope
// has one signature whose keyid is KeyID().
func (s *Signer) Sign(ctx context.Context, payloadType string, payload []byte) ([]byte, error) {
	if payloadType == "" {
		return nil, errors.New("sign: empty payload type")
	}
	es, err := dsse.NewEnvelopeSigner(s.sv)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	env, err := es.SignPayload(ctx, payloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign with key %s: %w", s.keyID, err)
	}
	// dsse.Envelope is a plain Go struct (not a protobuf message), so
	// encoding/json writes exactly the DSSE field names.
	out, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return out, nil
}

// parsePrivateKey decodes one PEM private key and checks that attestd can use
// it. The checks come before any securesystemslib call: a key of the wrong
// type or size makes those panic.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("private key: no PEM block found")
	}
	if strings.Contains(block.Type, "ENCRYPTED") || block.Headers["Proc-Type"] != "" {
		return nil, errors.New("private key: encrypted keys are not supported; decrypt it first")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PUBLIC KEY":
		return nil, errors.New("private key: this is a public key; signing needs the private key file")
	default:
		return nil, fmt.Errorf("private key: unsupported PEM type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("private key: ed25519 key of %d bytes", len(k))
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("private key: ECDSA curve %s is not supported (use P-256 or P-384)", k.Curve.Params().Name)
		}
		return k, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("private key: RSA key of %d bits is too small (at least %d)", k.N.BitLen(), minRSABits)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("private key: unsupported key type %T", key)
	}
}

// newSignerVerifier builds the securesystemslib signer for priv, so that the
// signature algorithms (hash, PSS salt length, ASN.1 ECDSA) are exactly the
// ones in-toto verifiers expect.
func newSignerVerifier(priv crypto.Signer, keyID string, publicPEM []byte) (dsse.Signer, error) {
	key := &signerverifier.SSLibKey{
		KeyIDHashAlgorithms: signerverifier.KeyIDHashAlgorithms,
		KeyID:               keyID,
	}
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		key.KeyType, key.Scheme = signerverifier.ED25519KeyType, signerverifier.ED25519KeyType
		key.KeyVal.Public = hex.EncodeToString(k.Public().(ed25519.PublicKey))
		key.KeyVal.Private = hex.EncodeToString(k)
		return signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("encode private key: %w", err)
		}
		key.KeyVal.Public = strings.TrimSpace(string(publicPEM))
		key.KeyVal.Private = strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
		if _, ok := k.(*rsa.PrivateKey); ok {
			key.KeyType, key.Scheme = signerverifier.RSAKeyType, signerverifier.RSAKeyScheme
			return signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(key)
		}
		key.KeyType, key.Scheme = signerverifier.ECDSAKeyType, signerverifier.ECDSAKeyScheme
		return signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
	default:
		return nil, fmt.Errorf("unsupported key type %T", priv)
	}
}
