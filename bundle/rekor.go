package bundle

import (
	"context"
	"fmt"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/rekor"
	"github.com/attestd/attestd/verifier"
)

// Anchor states, as attestd reports them (Anchor.state).
const (
	anchorPending = "pending"
	anchorFailed  = "failed"
)

// requireAnchors keeps the candidates whose Rekor entry verifies offline against the project's Rekor key in b
// and is bound to the candidate's envelope (rekor.VerifyEntry), and says why each other one does not count,
// in the words of attestd's Verify under a policy that requires Rekor. Nothing is fetched: the entry, its
// inclusion proof and Rekor's checkpoint are all in the bundle.
func requireAnchors(ctx context.Context, b *attestdv1.Bundle, cands []verifier.Attestation) (kept []verifier.Attestation, reasons []string) {
	byID := make(map[string]*attestdv1.Attestation, len(b.GetAttestations()))
	for _, ba := range b.GetAttestations() {
		byID[ba.GetAttestation().GetReceipt().GetId()] = ba.GetAttestation()
	}
	key := b.GetRekor().GetPublicKey()
	for _, c := range cands {
		a := byID[c.ID]
		r := anchorProblem(ctx, a.GetAnchor(), a.GetEnvelope(), key)
		if r == "" {
			kept = append(kept, c)
			continue
		}
		reasons = append(reasons, fmt.Sprintf("attestation %s does not count: the policy requires a Rekor entry, and %s", c.ID, r))
	}
	return kept, reasons
}

// anchorProblem says why anchor does not anchor envelope in the Rekor log of key, or "" when it does.
func anchorProblem(ctx context.Context, anchor *attestdv1.Anchor, envelope, key []byte) string {
	switch {
	case anchor == nil:
		return "it has none: it was accepted while its project did not anchor in Rekor"
	case anchor.GetState() == anchorPending:
		msg := "its upload to Rekor is still pending"
		switch n := anchor.GetAttempts(); {
		case n == 1:
			msg += " (1 attempt: " + anchor.GetLastError() + ")"
		case n > 1:
			msg += fmt.Sprintf(" (%d attempts, the last: %s)", n, anchor.GetLastError())
		}
		return msg
	case anchor.GetState() == anchorFailed:
		return "Rekor refused it: " + anchor.GetLastError()
	case len(key) == 0:
		return "the project has no Rekor key to verify its entry with (anchoring was turned off)"
	}
	e, err := rekor.ParseEntry(anchor.GetEntry().GetEntryJson())
	if err != nil {
		return "its stored Rekor entry does not parse: " + err.Error()
	}
	if err := rekor.VerifyEntry(ctx, e, envelope, key); err != nil {
		return "its Rekor entry does not verify: " + err.Error()
	}
	return ""
}
