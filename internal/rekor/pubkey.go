package rekor

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// CheckPublicKey reports whether pemBytes is a public key that VerifyEntry can verify entries with: a PEM
// block of an ECDSA, Ed25519 or RSA public key, as Rekor's /api/v1/log/publicKey serves it.
func CheckPublicKey(pemBytes []byte) error {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return fmt.Errorf("not a PEM public key: %w", err)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		return nil
	default:
		return fmt.Errorf("a %T key: want ECDSA, Ed25519 or RSA", pub)
	}
}
