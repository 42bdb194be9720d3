package server

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/attestd/attestd/internal/rekor"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/verifier"
)

// rekorCheckKey names the offline check of one anchor's entry: the attestation, the entry's bytes and the
// Rekor key it was checked against. The same three always give the same answer.
type rekorCheckKey struct {
	id         string
	entry, key [sha256.Size]byte
}

// requireAnchors keeps the candidates whose anchor is done and whose Rekor entry verifies offline against the
// project's Rekor key and binds to the candidate's envelope (an entry for another envelope never counts), and
// says why each other one does not count. settled is false when a candidate's anchor is still pending: its
// decision may change without a new leaf, so it must not be kept.
func (s *Server) requireAnchors(ctx context.Context, proj store.Project, cands []verifier.Attestation) (kept []verifier.Attestation, reasons []string, settled bool, err error) {
	settled = true
	anchors := make(map[string]store.Anchor, len(cands))
	for start := 0; start < len(cands); start += store.MaxGetAttestations {
		var ids []string
		for _, c := range cands[start:min(start+store.MaxGetAttestations, len(cands))] {
			ids = append(ids, c.ID)
		}
		page, err := s.store.GetAnchors(ctx, proj.ID, ids)
		if err != nil {
			return nil, nil, false, fmt.Errorf("read anchors: %w", err)
		}
		for _, a := range page {
			anchors[a.AttestationID] = a
		}
	}
	keySum := sha256.Sum256(proj.RekorPublicKey)
	var unchecked []string // done, not checked yet: their envelopes are read in one query
	verdict := map[string]string{}
	for _, c := range cands {
		a, ok := anchors[c.ID]
		switch {
		case !ok:
			verdict[c.ID] = "it has none: it was accepted while its project did not anchor in Rekor"
		case a.State == store.AnchorPending:
			settled = false
			msg := "its upload to Rekor is still pending"
			switch {
			case a.Attempts == 1:
				msg += " (1 attempt: " + a.LastError + ")"
			case a.Attempts > 1:
				msg += fmt.Sprintf(" (%d attempts, the last: %s)", a.Attempts, a.LastError)
			}
			verdict[c.ID] = msg
		case a.State == store.AnchorFailed:
			verdict[c.ID] = "Rekor refused it: " + a.LastError
		case len(proj.RekorPublicKey) == 0:
			verdict[c.ID] = "the project has no Rekor key to verify its entry with (anchoring was turned off)"
		default:
			if r, ok := s.cache.rekorChecks.Get(rekorCheckKey{c.ID, sha256.Sum256(a.Entry), keySum}); ok {
				verdict[c.ID] = r
			} else {
				unchecked = append(unchecked, c.ID)
			}
		}
	}
	for start := 0; start < len(unchecked); start += store.MaxGetAttestations {
		full, err := s.store.GetAttestations(ctx, proj.ID, unchecked[start:min(start+store.MaxGetAttestations, len(unchecked))])
		if err != nil {
			return nil, nil, false, fmt.Errorf("read envelopes: %w", err)
		}
		for _, att := range full {
			a := anchors[att.ID]
			r := ""
			if e, err := rekor.ParseEntry(a.Entry); err != nil {
				r = "its stored Rekor entry does not parse: " + err.Error()
			} else if err := rekor.VerifyEntry(ctx, e, att.Envelope, proj.RekorPublicKey); err != nil {
				r = "its Rekor entry does not verify: " + err.Error()
			}
			s.cache.rekorChecks.Add(rekorCheckKey{att.ID, sha256.Sum256(a.Entry), keySum}, r)
			verdict[att.ID] = r
		}
	}
	for _, c := range cands {
		r, ok := verdict[c.ID]
		if !ok {
			r = "it is no longer in the database"
		}
		if r == "" {
			kept = append(kept, c)
			continue
		}
		reasons = append(reasons, fmt.Sprintf("attestation %s does not count: the policy requires a Rekor entry, and %s", c.ID, r))
	}
	return kept, reasons, settled, nil
}
