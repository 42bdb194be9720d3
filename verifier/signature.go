package verifier

import (
	"github.com/attestd/attestd/attestation"
)

// VerifyLayoutSignatures parses raw, a layout signed as a DSSE envelope or as
// a classic in-toto metablock, and checks its signatures against ownerKeys,
// the project's layout-owner keys. It returns the signed layout JSON, for
// ParseLayout, and the sorted ids of the owner keys that signed it; an
// envelope with no valid owner signature is an error wrapping
// attestation.ErrNoValidSignature. Signatures are checked before the layout
// is read.
func VerifyLayoutSignatures(raw []byte, ownerKeys []*attestation.PublicKey) (signedJSON []byte, signers []string, err error) {
	env, err := attestation.ParseEnvelope(raw, attestation.Limits{MaxEnvelopeBytes: 2 * MaxLayoutBytes})
	if err != nil {
		return nil, nil, err
	}
	signers, err = attestation.VerifySignatures(env, ownerKeys)
	if err != nil {
		return nil, nil, err
	}
	return env.Payload, signers, nil
}
