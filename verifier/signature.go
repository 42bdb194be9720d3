package verifier

import (
	"encoding/json"
	"fmt"

	"github.com/attestd/attestd/attestation"
)

// ErrLayoutUnsigned is VerifyLayoutSignatures' answer to a layout that carries no signature at all: a bare
// layout, or an envelope with an empty or missing list of signatures. It wraps
// attestation.ErrNoValidSignature: an unsigned layout is refused as one signed by nobody the project trusts,
// not as malformed input.
var ErrLayoutUnsigned = fmt.Errorf("%w: the layout carries no signature", attestation.ErrNoValidSignature)

// VerifyLayoutSignatures parses raw, a layout signed as a DSSE envelope or as
// a classic in-toto metablock, and checks its signatures against ownerKeys,
// the project's layout-owner keys. It returns the signed layout JSON, for
// ParseLayout, and the sorted ids of the owner keys that signed it; an
// envelope with no valid owner signature is an error wrapping
// attestation.ErrNoValidSignature, and one with no signature at all
// ErrLayoutUnsigned. Signatures are checked before the layout is read.
func VerifyLayoutSignatures(raw []byte, ownerKeys []*attestation.PublicKey) (signedJSON []byte, signers []string, err error) {
	env, err := attestation.ParseEnvelope(raw, attestation.Limits{MaxEnvelopeBytes: 2 * MaxLayoutBytes})
	if err != nil {
		if unsigned(raw) {
			return nil, nil, ErrLayoutUnsigned
		}
		return nil, nil, err
	}
	signers, err = attestation.VerifySignatures(env, ownerKeys)
	if err != nil {
		return nil, nil, err
	}
	return env.Payload, signers, nil
}

// unsigned reports whether raw, which is not a valid envelope, is a JSON object that is a layout itself
// ("_type" at the top) or an envelope whose signatures are missing, null or empty. Only called on input that
// ParseEnvelope refused, within its size bound.
func unsigned(raw []byte) bool {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return false
	}
	if _, ok := top["_type"]; ok {
		return true
	}
	_, signed := top["signed"]
	_, payload := top["payload"]
	if !signed && !payload {
		return false
	}
	sigs, ok := top["signatures"]
	if !ok {
		return true
	}
	var list []json.RawMessage
	return json.Unmarshal(sigs, &list) == nil && len(list) == 0
}
