package attestation

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Key types and signature schemes, as securesystemslib and in-toto name them.
const (
	KeyTypeED25519 = "ed25519"
	KeyTypeECDSA   = "ecdsa"
	KeyTypeRSA     = "rsa"

	SchemeED25519         = "ed25519"
	SchemeECDSAP256       = "ecdsa-sha2-nistp256"
	SchemeECDSAP384       = "ecdsa-sha2-nistp384"
	SchemeRSASSAPSSSHA256 = "rsassa-pss-sha256"
)

// RSA modulus sizes accepted. The upper bound keeps one verification cheap.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// maxPEMBytes bounds the input of ParsePublicKey: a key is well under 2 KiB,
// a certificate rarely over 8 KiB.
const maxPEMBytes = 64 << 10

// PublicKey is a functionary's public key, checked and normalized.
type PublicKey struct {
	// ID is the in-toto / securesystemslib key id: the sha256 of the canonical
	// JSON of {"keyid_hash_algorithms": ["sha256", "sha512"], "keytype",
	// "keyval": {"public"}, "scheme"}, exactly as in-toto-golang v0.11.0's
	// (*Key).LoadKeyReaderDefaults and securesystemslib's signerverifier.LoadKey
	// compute it, so that keyids in envelopes made by in-toto tooling match.
	// Note that both use the scheme "ecdsa-sha2-nistp256" for every ECDSA key,
	// P-384 included, when computing the id; Scheme below is the true one.
	// ID is the id attestd registers, stores and reports; IDs lists the
	// other ids that name the same key.
	ID      string
	KeyType string // KeyTypeED25519, KeyTypeECDSA or KeyTypeRSA
	Scheme  string // SchemeED25519, SchemeECDSAP256, SchemeECDSAP384 or SchemeRSASSAPSSSHA256
	PEM     string // the key as a PKIX "PUBLIC KEY" PEM block, re-encoded

	key         crypto.PublicKey
	fingerprint string
	aliases     []string // ids other than ID that name this key; see IDs
}

// ParsePublicKey reads exactly one PEM block, either a PKIX "PUBLIC KEY" or an
// X.509 "CERTIFICATE" (whose subject key is taken; the certificate itself is
// not checked), holding an Ed25519, ECDSA P-256 or P-384, or RSA key of 2048
// to 8192 bits (used with RSASSA-PSS and SHA-256). Text before or after the
// block, PEM headers, more than 64 KiB, private keys (refused with a reason
// saying so), other curves and key types are *InputError with Field "key".
func ParsePublicKey(pemBytes []byte) (*PublicKey, error) {
	if len(pemBytes) > maxPEMBytes {
		return nil, inputErr("key", "%d bytes is too long for a public key or certificate (at most %d)", len(pemBytes), maxPEMBytes)
	}
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, inputErr("key", "no PEM block found")
	}
	// pem.Decode skips anything before the first well-formed block, even a
	// malformed block; refuse both.
	consumed := pemBytes[:len(pemBytes)-len(rest)]
	if bytes.Count(consumed, []byte("-----BEGIN")) != 1 {
		return nil, inputErr("key", "malformed PEM block before the key")
	}
	if before, _, _ := bytes.Cut(consumed, []byte("-----BEGIN")); len(bytes.TrimSpace(before)) > 0 {
		return nil, inputErr("key", "text before the PEM block")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, inputErr("key", "trailing data after the PEM block")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") || looksPrivate(block.Bytes) {
		return nil, inputErr("key", "private key given where a public key is expected")
	}
	if len(block.Headers) > 0 {
		return nil, inputErr("key", "PEM headers are not allowed")
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, inputErr("key", "not a PKIX public key: %v", err)
		}
		pub = k
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, inputErr("key", "not an X.509 certificate: %v", err)
		}
		pub = cert.PublicKey
	default:
		return nil, inputErr("key", "PEM block type %s is not supported; give a PUBLIC KEY or a CERTIFICATE", quote(block.Type))
	}
	return newPublicKey(pub)
}

// looksPrivate reports whether der is a private key in one of the encodings
// that in-toto-golang accepts whatever the PEM label says.
func looksPrivate(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}

// newPublicKey checks the key type and size and fills in the derived fields.
func newPublicKey(pub crypto.PublicKey) (*PublicKey, error) {
	k := &PublicKey{key: pub}
	idPublic := "" // keyval.public in the key id
	idScheme := "" // scheme in the key id
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, inputErr("key", "Ed25519 key of %d bytes", len(p))
		}
		k.KeyType, k.Scheme = KeyTypeED25519, SchemeED25519
		idPublic, idScheme = hex.EncodeToString(p), SchemeED25519
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			k.Scheme = SchemeECDSAP256
		case elliptic.P384():
			k.Scheme = SchemeECDSAP384
		default:
			return nil, inputErr("key", "ECDSA curve %s is not supported; use P-256 or P-384", p.Curve.Params().Name)
		}
		k.KeyType, idScheme = KeyTypeECDSA, SchemeECDSAP256
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, inputErr("key", "RSA key of %d bits; %d to %d bits are accepted", bits, minRSABits, maxRSABits)
		}
		k.KeyType, k.Scheme, idScheme = KeyTypeRSA, SchemeRSASSAPSSSHA256, SchemeRSASSAPSSSHA256
	case *ecdh.PublicKey:
		return nil, inputErr("key", "an X25519/ECDH key cannot sign; use Ed25519, ECDSA or RSA")
	default:
		return nil, inputErr("key", "key type %T is not supported; use Ed25519, ECDSA P-256/P-384 or RSA", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, inputErr("key", "cannot encode the key: %v", err)
	}
	k.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if idPublic == "" {
		idPublic = strings.TrimSpace(k.PEM)
	}
	sum := sha256.Sum256(der)
	k.fingerprint = hex.EncodeToString(sum[:])
	k.ID = keyID(k.KeyType, idScheme, idPublic)
	if k.KeyType == KeyTypeECDSA {
		k.aliases = ecdsaAliases(k.ID, k.PEM, k.Scheme)
	}
	return k, nil
}

// ecdsaAliases returns the key ids, other than the canonical one, under which
// securesystemslib's python implementation (and so python in-toto) names the
// ECDSA key whose PKIX PEM (with its final newline, as pem.EncodeToMemory and
// pyca/cryptography both write it) is pemText and whose true scheme is
// scheme. Python hashes keyval.public exactly as it holds it, and holds the
// PEM with its final newline when it made the PEM itself: in-toto-keygen -t
// ecdsa and generate_ecdsa_key, import_ecdsakey_from_private_pem, and the
// HSM and GCP signers' import_, which also use the true scheme, so a P-384
// key gets "ecdsa-sha2-nistp384" there. Its import_ecdsakey_from_public_pem
// trims the PEM but keeps the scheme it is given, as in-toto-golang's LoadKey
// does; with "ecdsa-sha2-nistp256" that is the canonical id, with
// "ecdsa-sha2-nistp384" one more alias of a P-384 key.
func ecdsaAliases(canonical, pemText, scheme string) []string {
	trimmed := strings.TrimSpace(pemText)
	withNewline := trimmed + "\n"
	ids := []string{keyID(KeyTypeECDSA, SchemeECDSAP256, withNewline)}
	if scheme == SchemeECDSAP384 {
		ids = append(ids, keyID(KeyTypeECDSA, SchemeECDSAP384, withNewline), keyID(KeyTypeECDSA, SchemeECDSAP384, trimmed))
	}
	return slices.DeleteFunc(slices.Compact(ids), func(id string) bool { return id == canonical })
}

// keyID computes the securesystemslib key id: sha256 over the canonical JSON
// of the public part of the key in securesystemslib's JSON key format.
func keyID(keyType, scheme, public string) string {
	var b bytes.Buffer
	b.WriteString(`{"keyid_hash_algorithms":["sha256","sha512"],"keytype":`)
	writeCanonicalString(&b, keyType)
	b.WriteString(`,"keyval":{"public":`)
	writeCanonicalString(&b, public)
	b.WriteString(`},"scheme":`)
	writeCanonicalString(&b, scheme)
	b.WriteString(`}`)
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// Fingerprint returns the lowercase hex sha256 of the key's PKIX DER
// encoding. Two PublicKeys with the same Fingerprint are the same key, however
// they were registered; "" for a PublicKey not made by ParsePublicKey.
func (k *PublicKey) Fingerprint() string {
	if k == nil {
		return ""
	}
	return k.fingerprint
}

// IDs returns every key id that names k: ID first, then, for an ECDSA key,
// the ids that securesystemslib's python implementation computes for the
// same key (over the PEM with its final newline, and for P-384 with the
// scheme "ecdsa-sha2-nistp384"), which python in-toto writes in layouts and
// signatures. Every id in IDs names the same key: where a key id written by
// other tooling is read (verifier.ParseLayout reads a layout's keys so), any
// of them is accepted, and ID is what attestd stores and reports. The result
// is a new slice; nil for a nil key.
func (k *PublicKey) IDs() []string {
	if k == nil {
		return nil
	}
	return append([]string{k.ID}, k.aliases...)
}

// HasID reports whether id is one of k.IDs(). The empty id names no key.
func (k *PublicKey) HasID(id string) bool {
	if k == nil || id == "" {
		return false
	}
	return id == k.ID || slices.Contains(k.aliases, id)
}

// String returns the key id and scheme, for logs.
func (k *PublicKey) String() string {
	if k == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s (%s)", k.ID, k.Scheme)
}

// Verify checks that sig is a signature by k over msg, with k's scheme:
// Ed25519 over msg itself; ECDSA (ASN.1 DER) over sha256(msg) for P-256 and
// sha384(msg) for P-384; RSASSA-PSS with SHA-256 (any salt length) over
// sha256(msg). It returns nil, ErrBadSignature, or an error wrapping
// ErrMalformedSignature when sig cannot be a signature of this key's type at
// all: an Ed25519 signature that is not 64 bytes, an RSA signature not the
// size of the modulus, an ECDSA signature that is not DER of two integers in
// [1, N-1] (r = s = 0 is refused here, before any arithmetic).
func (k *PublicKey) Verify(msg, sig []byte) error {
	if k == nil {
		return fmt.Errorf("%w: no key", ErrBadSignature)
	}
	switch p := k.key.(type) {
	case ed25519.PublicKey:
		if len(sig) != ed25519.SignatureSize {
			return malformedf("ed25519 signatures are %d bytes, got %d", ed25519.SignatureSize, len(sig))
		}
		if !ed25519.Verify(p, msg, sig) {
			return ErrBadSignature
		}
	case *ecdsa.PublicKey:
		if err := checkECDSASignature(p, sig); err != nil {
			return err
		}
		var digest []byte
		if p.Curve == elliptic.P384() {
			sum := sha512.Sum384(msg)
			digest = sum[:]
		} else {
			sum := sha256.Sum256(msg)
			digest = sum[:]
		}
		if !ecdsa.VerifyASN1(p, digest, sig) {
			return ErrBadSignature
		}
	case *rsa.PublicKey:
		if len(sig) != p.Size() {
			return malformedf("RSA signatures for this key are %d bytes, got %d", p.Size(), len(sig))
		}
		sum := sha256.Sum256(msg)
		if rsa.VerifyPSS(p, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}) != nil {
			return ErrBadSignature
		}
	default: // a PublicKey not made by ParsePublicKey
		return fmt.Errorf("%w: key %s was not parsed", ErrBadSignature, k.ID)
	}
	return nil
}

// checkECDSASignature checks that sig is DER of SEQUENCE { r, s } with both
// integers in [1, N-1] and nothing after it.
func checkECDSASignature(pub *ecdsa.PublicKey, sig []byte) error {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) > 0 {
		return malformedf("ECDSA signature is not ASN.1 DER of (r, s)")
	}
	n := pub.Curve.Params().N
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.Cmp(n) >= 0 || rs.S.Cmp(n) >= 0 {
		return malformedf("ECDSA signature has r or s outside [1, N-1]")
	}
	return nil
}

// malformedError is the error Verify returns for bytes that cannot be a
// signature of the key's type; reason is phrased for a person.
type malformedError struct{ reason string }

func malformedf(format string, args ...any) error {
	return &malformedError{reason: fmt.Sprintf(format, args...)}
}

func (e *malformedError) Error() string { return ErrMalformedSignature.Error() + ": " + e.reason }

func (e *malformedError) Unwrap() error { return ErrMalformedSignature }
