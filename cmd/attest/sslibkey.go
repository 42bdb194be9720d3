package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/attestd/attestd/attestation"
)

// This file reads public keys in securesystemslib's JSON key format, which
// python in-toto's in-toto-keygen writes for ed25519 and ecdsa keys:
//
//	{"keytype": "ed25519", "scheme": "ed25519", "keyid_hash_algorithms": [...],
//	 "keyval": {"public": "<64 hex digits>"}}
//	{"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", ..., "keyval": {"public": "<PEM>"}}
//
// attestd takes PKIX PEM, so attest converts such a file before sending it.

// sslibKey is a securesystemslib JSON key file.
type sslibKey struct {
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	KeyVal  struct {
		Public  string  `json:"public"`
		Private *string `json:"private"`
	} `json:"keyval"`
}

// publicKeyPEM returns the PEM of the public key in the file contents b: b
// itself unless it is a securesystemslib JSON key, whose key is returned as
// PKIX PEM. For a JSON key, sslibID is the key id securesystemslib (and so
// python in-toto) computes for the file, over keyval.public exactly as
// written; "" for PEM input.
func publicKeyPEM(b []byte) (pemBytes []byte, sslibID string, err error) {
	trimmed := bytes.TrimSpace(b)
	if !bytes.HasPrefix(trimmed, []byte("{")) {
		return b, "", nil
	}
	var k sslibKey
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&k); err != nil {
		return nil, "", fmt.Errorf("not a securesystemslib JSON key: %w", err)
	}
	if dec.More() {
		return nil, "", errors.New("trailing data after the securesystemslib JSON key")
	}
	if k.KeyVal.Private != nil && *k.KeyVal.Private != "" {
		return nil, "", errors.New("private key given where a public key is expected (give the .pub file)")
	}
	if k.KeyVal.Public == "" {
		return nil, "", errors.New("securesystemslib JSON key without keyval.public")
	}
	var want string // the attestation.KeyType the file must hold
	switch {
	case k.KeyType == attestation.KeyTypeED25519:
		if k.Scheme != attestation.SchemeED25519 {
			return nil, "", fmt.Errorf("ed25519 key with scheme %q; attestd verifies the scheme %q", k.Scheme, attestation.SchemeED25519)
		}
		raw, err := hex.DecodeString(k.KeyVal.Public)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, "", fmt.Errorf("keyval.public of an ed25519 key must be %d bytes in hex", ed25519.PublicKeySize)
		}
		der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(raw))
		if err != nil {
			return nil, "", fmt.Errorf("encode the ed25519 key: %w", err)
		}
		pemBytes = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		want = attestation.KeyTypeED25519
	// securesystemslib before 0.20 wrote the scheme as the keytype of ECDSA keys.
	case k.KeyType == attestation.KeyTypeECDSA || strings.HasPrefix(k.KeyType, "ecdsa-sha2-nistp"):
		if !strings.HasPrefix(k.Scheme, "ecdsa-sha2-nistp") {
			return nil, "", fmt.Errorf("ecdsa key with scheme %q; attestd verifies ecdsa-sha2-nistp256 and ecdsa-sha2-nistp384", k.Scheme)
		}
		pemBytes, want = []byte(k.KeyVal.Public), attestation.KeyTypeECDSA
	case k.KeyType == attestation.KeyTypeRSA:
		if k.Scheme != attestation.SchemeRSASSAPSSSHA256 {
			return nil, "", fmt.Errorf("rsa key with scheme %q; attestd verifies the scheme %q", k.Scheme, attestation.SchemeRSASSAPSSSHA256)
		}
		pemBytes, want = []byte(k.KeyVal.Public), attestation.KeyTypeRSA
	default:
		return nil, "", fmt.Errorf("securesystemslib key type %q is not supported; use ed25519, ecdsa or rsa", k.KeyType)
	}
	pk, err := attestation.ParsePublicKey(pemBytes)
	if err != nil {
		return nil, "", fmt.Errorf("keyval.public: %w", err)
	}
	if pk.KeyType != want {
		return nil, "", fmt.Errorf("keytype %q, but keyval.public holds an %s key", k.KeyType, pk.KeyType)
	}
	return pemBytes, sslibKeyID(k.KeyType, k.Scheme, k.KeyVal.Public), nil
}

// sslibKeyID is securesystemslib's key id: the sha256 of the canonical JSON
// of the key's public part, members sorted, strings escaping only '\' and '"'.
func sslibKeyID(keyType, scheme, public string) string {
	str := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	canon := `{"keyid_hash_algorithms":["sha256","sha512"],"keytype":` + str(keyType) +
		`,"keyval":{"public":` + str(public) + `},"scheme":` + str(scheme) + `}`
	sum := sha256.Sum256([]byte(canon))
	return hex.EncodeToString(sum[:])
}
