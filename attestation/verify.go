package attestation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// VerifySignatures checks env's signatures over env.SignedBytes against keys,
// the keys the caller trusts for this envelope (for attestd: the project's
// registered, unrevoked, currently valid keys). It returns the sorted, distinct
// IDs of the keys that made at least one valid signature.
//
// The keyid of a signature is only a hint, never a proof: a signature whose
// keyid is one of the IDs of one of keys (see PublicKey.IDs: python in-toto
// names ECDSA keys by other ids) is checked against that key only; any other
// signature is checked against every key. Keys are counted by Fingerprint,
// so one key registered twice, or one signature repeated, counts once; a
// signature by a key not in keys is ignored. Nil keys and keys not made by
// ParsePublicKey are skipped. The result does not depend on the order of
// keys.
//
// When no signature verifies, the error is an *InputError if a signature was
// malformed for the key its keyid names ("signature 0: ed25519 signatures are
// 64 bytes, got 12"; it wraps ErrMalformedSignature), and otherwise wraps
// ErrNoValidSignature.
func VerifySignatures(env *Envelope, keys []*PublicKey) ([]string, error) {
	if env == nil {
		return nil, inputErr("envelope", "missing")
	}
	// One entry per distinct key, in fingerprint order so that the work done
	// (and so any error reported) does not depend on the order of keys.
	byPrint := make(map[string]*PublicKey, len(keys))
	for _, k := range keys {
		if k == nil || k.key == nil || k.fingerprint == "" {
			continue
		}
		if have, ok := byPrint[k.fingerprint]; !ok || k.ID < have.ID {
			byPrint[k.fingerprint] = k
		}
	}
	distinct := make([]*PublicKey, 0, len(byPrint))
	for _, k := range byPrint {
		distinct = append(distinct, k)
	}
	slices.SortFunc(distinct, func(a, b *PublicKey) int { return strings.Compare(a.fingerprint, b.fingerprint) })

	verified := make(map[string]bool) // fingerprint -> verified
	var malformed error               // the first signature malformed for its named key
	for i, sig := range env.Signatures {
		var named []*PublicKey
		for _, k := range distinct {
			if k.HasID(sig.KeyID) {
				named = append(named, k)
			}
		}
		candidates := named
		if len(named) == 0 {
			candidates = distinct
		}
		for _, k := range candidates {
			if verified[k.fingerprint] {
				continue // nothing more to learn from this key
			}
			err := k.Verify(env.SignedBytes, sig.Sig)
			if err == nil {
				verified[k.fingerprint] = true
				break
			}
			var me *malformedError
			if len(named) > 0 && malformed == nil && errors.As(err, &me) {
				malformed = &InputError{Field: fmt.Sprintf("signature %d", i), Reason: me.reason, err: err}
			}
		}
	}

	ids := make([]string, 0, len(verified))
	for _, k := range distinct {
		if verified[k.fingerprint] {
			ids = append(ids, k.ID)
		}
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		return slices.Compact(ids), nil
	}
	if malformed != nil {
		return nil, malformed
	}
	return nil, fmt.Errorf("%w: checked %d signature(s) against %d key(s), none verified", ErrNoValidSignature, len(env.Signatures), len(distinct))
}
