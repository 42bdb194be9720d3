package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/verifier"
)

// checkLayout checks what a decision from b is judged against and returns the parsed layout: the policy
// covers b's artifact and names the layout; the layout's bytes are its id, its leaf is proved against cp, and
// it is signed by a layout-owner key of the project that was valid when it was pushed. attestd exports a
// bundle only when all of that holds, so a failure here is a bundle that contradicts itself (ErrMalformed).
func checkLayout(b *attestdv1.Bundle, cp tlog.Checkpoint) (*verifier.Layout, error) {
	pol, l := b.GetPolicy(), b.GetLayout()
	if pol == nil || l == nil {
		return nil, fmt.Errorf("%w: no policy or no layout", ErrMalformed)
	}
	vp := verifier.Policy{Name: pol.GetName(), Kind: pol.GetKind(), Match: pol.GetMatch(), Layout: pol.GetLayout()}
	if _, ok := verifier.SelectPolicy([]verifier.Policy{vp}, b.GetKind(), b.GetName()); !ok {
		return nil, fmt.Errorf("%w: policy %q (%s %q) does not cover %s %q", ErrMalformed, clip(pol.GetName()),
			clip(pol.GetKind()), clip(pol.GetMatch()), b.GetKind(), b.GetName())
	}
	name := l.GetName()
	if pol.GetLayout() != name || name == "" || strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("%w: policy %q names layout %q, the bundle has layout %q", ErrMalformed, clip(pol.GetName()),
			clip(pol.GetLayout()), clip(name))
	}
	what := fmt.Sprintf("layout %q version %d", name, l.GetVersion())
	content := l.GetContent()
	if sum := sha256.Sum256(content); l.GetVersion() < 1 || hex.EncodeToString(sum[:]) != l.GetId() {
		return nil, fmt.Errorf("%w: %s: its sha256 is not its id %q", ErrMalformed, what, clip(l.GetId()))
	}
	p := b.GetLayoutProof()
	if l.LogIndex == nil || p == nil || p.GetLogIndex() != l.GetLogIndex() || p.GetTreeSize() != cp.Size {
		return nil, fmt.Errorf("%w: %s has no inclusion proof against the checkpoint of size %d", ErrMalformed, what, cp.Size)
	}
	leaf := tlog.LeafHash(tlog.EntryForLayout(b.GetProject(), name, content))
	if err := tlog.VerifyInclusion(leaf, l.GetLogIndex(), cp.Size, p.GetHashes(), cp.Hash); err != nil {
		return nil, fmt.Errorf("%w: %s does not match its leaf at log index %d: %v", ErrMalformed, what, l.GetLogIndex(), err)
	}
	pushed := l.GetCreateTime()
	if pushed == nil || pushed.CheckValid() != nil {
		return nil, fmt.Errorf("%w: %s has no push time", ErrMalformed, what)
	}
	signed, _, err := verifier.VerifyLayoutSignatures(content, ownerKeysAt(b.GetKeys(), pushed.AsTime()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not signed by a layout-owner key of the project valid when it was pushed: %v", ErrMalformed, what, err)
	}
	layout, err := verifier.ParseLayout(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not parse: %v", ErrMalformed, what, err)
	}
	return layout, nil
}

// ownerKeysAt returns the layout-owner keys among keys that were valid at t, when the layout was pushed: attestd
// accepted the push only with a signature by one of them (PushLayout). A key revoked since still vouches for
// the layouts signed before.
func ownerKeysAt(keys []*attestdv1.Key, t time.Time) []*attestation.PublicKey {
	var out []*attestation.PublicKey
	for _, k := range keys {
		if !k.GetOwner() || (k.RevokeTime != nil && !timeOf(k.GetRevokeTime()).After(t)) ||
			(k.ExpireTime != nil && !timeOf(k.GetExpireTime()).After(t)) {
			continue
		}
		if pub, err := attestation.ParsePublicKey([]byte(k.GetPublicKeyPem())); err == nil {
			out = append(out, pub)
		}
	}
	return out
}
