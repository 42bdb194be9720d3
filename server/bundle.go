package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/bundle"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/verifier"
)

// ExportBundle gathers what Verify would judge for one artifact and returns it as an offline bundle signed by
// the verifier key (package bundle, docs/bundles.md): the policy and active layout Verify selects, with the
// layout's inclusion proof; every key of the project; the candidates Verify gathers, with their envelopes,
// inclusion proofs against one checkpoint (the current one, also in the bundle) and, under a policy that
// requires Rekor, their anchors; the log's key; and the decision Verify would make now, which is not recorded.
//
// A denial is exported like an allowed decision (an auditor may want to see why). An artifact that nothing
// can be verified against (no policy covers it, its layout is missing or not in the log) is
// FAILED_PRECONDITION, and so is an attestd without a verifier key. Over a bound of package bundle (envelope
// bytes, keys, size of the signed bundle) is RESOURCE_EXHAUSTED naming it. Same roles as Verify.
func (s *Server) ExportBundle(ctx context.Context, req *attestdv1.ExportBundleRequest) (*attestdv1.ExportBundleResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "export bundles", rolesVerify...)
	if err != nil {
		return nil, err
	}
	art, err := checkArtifact(req.GetKind(), req.GetName(), req.GetDigest())
	if err != nil {
		return nil, err
	}
	if s.vsa == nil {
		return nil, failedPreconditionf("this attestd has no verifier key, so it cannot sign bundles")
	}
	if err := s.requireLog(); err != nil {
		return nil, err
	}
	cov, reason, err := s.cover(ctx, proj, art)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return nil, failedPreconditionf("%s: there is nothing to verify a bundle against", reason)
	}
	if len(cov.keys) > bundle.MaxKeys {
		return nil, &attestation.LimitError{Limit: "max-bundle-keys, fixed", Max: bundle.MaxKeys, Got: len(cov.keys), What: "keys in one bundle"}
	}
	cands, _, err := s.gather(ctx, proj.ID, cov.stored.ID, art.alg, art.value, cov.layout)
	if err != nil {
		return nil, err
	}
	rawCP, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	if idx := *cov.stored.LogIndex; idx >= cp.Size { // cover proved it against a checkpoint; this one is older
		if rawCP, cp, err = s.log.AwaitIntegration(ctx, idx); err != nil {
			return nil, fmt.Errorf("%w: layout %q version %d: %v", errLogUnavailable, cov.stored.Name, cov.stored.Version, err)
		}
	}
	layoutProof, err := s.log.InclusionProof(ctx, *cov.stored.LogIndex, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion proof of leaf %d: %v", errLogUnavailable, *cov.stored.LogIndex, err)
	}
	now := s.now()
	d, notLogged, _, err := s.decideGathered(ctx, proj, cov.keys, cp, cands, cov.input(art, now), cov.requireRekor)
	if err != nil {
		return nil, err
	}
	atts, err := s.bundleAttestations(ctx, proj, cands, cp, cov.requireRekor)
	if err != nil {
		return nil, err
	}
	decision := decisionPB(store.Decision{Allowed: d.Allowed, Policy: cov.policy.Name, Layout: cov.policy.Layout,
		LayoutVersion: cov.stored.Version, Reasons: verifier.AnswerReasons(d, notLogged), DecidedAt: now,
		Kind: art.kind, Name: art.name, Digest: art.alg + ":" + art.value})
	decision.Steps = stepsPB(d.Steps)
	b := &attestdv1.Bundle{
		Project:        proj.Name,
		Kind:           art.kind,
		Name:           art.name,
		Digest:         art.alg + ":" + art.value,
		Policy:         policyPB(cov.row, proj.Name),
		Layout:         layoutPB(cov.stored, proj.Name, true),
		LayoutProof:    &attestdv1.InclusionProof{LogIndex: *cov.stored.LogIndex, TreeSize: cp.Size, Hashes: layoutProof},
		Attestations:   atts,
		Checkpoint:     rawCP,
		LogVerifierKey: s.log.VerifierKey(),
		ExportTime:     ts(now),
		Decision:       decision,
	}
	for _, k := range cov.keys {
		b.Keys = append(b.Keys, keyPB(k, proj.Name))
	}
	if cov.requireRekor {
		b.Rekor = &attestdv1.RekorSettings{Url: proj.RekorURL, PublicKey: proj.RekorPublicKey}
	}
	payload, err := bundle.Encode(b)
	if err != nil {
		return nil, err
	}
	signed, err := s.vsa.Sign(ctx, bundle.PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	if len(signed) > bundle.MaxBytes {
		return nil, &attestation.LimitError{Limit: "max-bundle-bytes, fixed", Max: bundle.MaxBytes, Got: len(signed), What: "signed bundle bytes"}
	}
	s.logger.InfoContext(ctx, "bundle exported", "project", proj.Name, "kind", art.kind, "name", art.name,
		"digest", b.Digest, "attestations", len(atts), "bytes", len(signed), "tree_size", cp.Size, "allowed", d.Allowed)
	return &attestdv1.ExportBundleResponse{Bundle: signed}, nil
}

// bundleAttestations returns the candidates of a bundle, sorted by id: each with its envelope and an inclusion
// proof against cp, or, when cp does not cover its leaf, with neither (the offline verifier then says what
// Verify says: not yet covered). A candidate whose row is gone since it was gathered is left out, as Verify
// leaves it out. Subjects and materials are left out too: the offline verifier reads them from the envelope.
// With requireRekor, each carries its anchor, entry included even when it does not parse (the offline
// verifier then says so, as Verify does).
func (s *Server) bundleAttestations(ctx context.Context, proj store.Project, cands gathered, cp tlog.Checkpoint, requireRekor bool) ([]*attestdv1.BundleAttestation, error) {
	isHint := make(map[string]bool, len(cands.hints))
	for _, h := range cands.hints {
		isHint[h.ID] = true
	}
	var out []*attestdv1.BundleAttestation
	var covered []store.Attestation
	for _, a := range cands.all() {
		if a.LogIndex != nil && *a.LogIndex < cp.Size {
			covered = append(covered, a)
			continue
		}
		pb := bundleAttestationPB(a, proj.Name)
		pb.Receipt.LogEntry = nil // the envelope was not read: an entry computed without it would be wrong
		out = append(out, &attestdv1.BundleAttestation{Attestation: pb, Hint: isHint[a.ID]})
	}
	full, err := s.loadEnvelopes(ctx, proj.ID, covered)
	if err != nil {
		return nil, err
	}
	var anchors map[string]store.Anchor
	if requireRekor {
		if anchors, err = s.anchorsOf(ctx, proj.ID, full); err != nil {
			return nil, err
		}
	}
	total := 0
	indices := make([]uint64, 0, len(full))
	for _, a := range full {
		total += len(a.Envelope) + len(anchors[a.ID].Entry)
		if total > bundle.MaxEnvelopeBytes {
			return nil, &attestation.LimitError{Limit: "max-bundle-envelope-bytes, fixed", Max: bundle.MaxEnvelopeBytes,
				Got: total, What: "envelope and Rekor entry bytes in one bundle (and more candidates to come)"}
		}
		indices = append(indices, *a.LogIndex)
	}
	proofs, err := s.log.InclusionProofs(ctx, indices, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion proofs of %d leaves: %v", errLogUnavailable, len(indices), err)
	}
	for i, a := range full {
		pb := bundleAttestationPB(a, proj.Name)
		pb.Envelope = a.Envelope
		pb.Receipt.InclusionProof = &attestdv1.InclusionProof{LogIndex: *a.LogIndex, TreeSize: cp.Size, Hashes: proofs[i]}
		if an, ok := anchors[a.ID]; ok {
			pb.Anchor = anchorPB(an)
			if pb.Anchor.Entry == nil && len(an.Entry) > 0 {
				pb.Anchor.Entry = &attestdv1.RekorEntry{EntryJson: an.Entry}
			}
		}
		out = append(out, &attestdv1.BundleAttestation{Attestation: pb, Hint: isHint[a.ID]})
	}
	slices.SortFunc(out, func(a, b *attestdv1.BundleAttestation) int {
		return strings.Compare(a.GetAttestation().GetReceipt().GetId(), b.GetAttestation().GetReceipt().GetId())
	})
	return out, nil
}

// bundleAttestationPB is a in a bundle: attestationPB without envelope, subjects and materials.
func bundleAttestationPB(a store.Attestation, project string) *attestdv1.Attestation {
	pb := attestationPB(a, project, false)
	pb.Subjects, pb.Materials = nil, nil
	return pb
}

// anchorsOf returns the anchors of atts, by attestation id, read store.MaxGetAttestations at a time.
func (s *Server) anchorsOf(ctx context.Context, projectID int64, atts []store.Attestation) (map[string]store.Anchor, error) {
	out := make(map[string]store.Anchor, len(atts))
	for chunk := range slices.Chunk(atts, store.MaxGetAttestations) {
		ids := make([]string, 0, len(chunk))
		for _, a := range chunk {
			ids = append(ids, a.ID)
		}
		page, err := s.store.GetAnchors(ctx, projectID, ids)
		if err != nil {
			return nil, fmt.Errorf("read anchors: %w", err)
		}
		for _, an := range page {
			out[an.AttestationID] = an
		}
	}
	return out, nil
}
