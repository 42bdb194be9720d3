package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
)

const (
	maxFilterBytes = 1024
	// maxPageBytes bounds the envelope bytes in one List answer; a page is cut short (with a next_page_token)
	// rather than grow past it.
	maxPageBytes = 32 << 20
)

// Submit verifies an envelope and stores it: the write path of DESIGN.md. Every check runs before anything is
// written, so a refused submission changes nothing.
func (s *Server) Submit(ctx context.Context, req *attestdv1.SubmitRequest) (*attestdv1.SubmitResponse, error) {
	p, proj, err := s.resolveProject(ctx, req.GetProject(), "submit attestations", rolesSubmit...)
	if err != nil {
		return nil, err
	}
	raw := req.GetEnvelope()
	env, err := attestation.ParseEnvelope(raw, s.limits)
	if err != nil {
		return nil, err
	}
	// Signatures first: nothing of the payload is interpreted before it is known to be signed by the project.
	signers, err := s.verifySigners(ctx, proj, env)
	if err != nil {
		return nil, err
	}
	stmt, err := attestation.ParseStatement(env.Payload, s.limits)
	if err != nil {
		return nil, err
	}
	if err := checkStepAllowed(p.token, stmt.Step); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	id := hex.EncodeToString(sum[:])
	if existing, found, err := s.stored(ctx, proj.ID, id); err != nil {
		return nil, err
	} else if found {
		s.metrics.accepted.WithLabelValues("existing").Inc()
		return s.submitResponse(ctx, existing, proj, false, req.GetWait())
	}
	a := store.Attestation{
		ProjectID:     proj.ID,
		ID:            id,
		Envelope:      raw,
		PayloadType:   payloadType(env),
		StatementType: stmt.Type,
		PredicateType: stmt.PredicateType,
		Step:          stmt.Step,
		Subjects:      artifacts(stmt.Subjects),
		Materials:     artifacts(stmt.Materials),
		SignerKeyIDs:  signers,
		SubmitterID:   p.token.ID,
	}
	stored, created, err := s.record(ctx, proj.Name, a)
	if err != nil {
		return nil, err
	}
	result := "existing"
	if created {
		result = "created"
	}
	s.metrics.accepted.WithLabelValues(result).Inc()
	s.logger.InfoContext(ctx, "attestation accepted", "project", proj.Name, "id", stored.ID, "step", stored.Step,
		"predicate_type", stored.PredicateType, "log_index", *stored.LogIndex, "created", created)
	return s.submitResponse(ctx, stored, proj, created, req.GetWait())
}

// stored returns the project's attestation id if it is stored already (found), asking the database only when
// the duplicate filter says that it may be.
func (s *Server) stored(ctx context.Context, projectID int64, id string) (a store.Attestation, found bool, err error) {
	if !s.filter.mayHold(projectID, id) {
		s.metrics.dupChecks.WithLabelValues(checkedByFilter).Inc()
		return store.Attestation{}, false, nil
	}
	s.metrics.dupChecks.WithLabelValues(checkedByDatabase).Inc()
	a, err = s.dedup.existing(ctx, projectID, id)
	switch {
	case err == nil:
		return a, true, nil
	case errors.Is(err, store.ErrNotFound):
		return store.Attestation{}, false, nil
	}
	return store.Attestation{}, false, err
}

// submitResponse is the receipt of a, with the state of its anchor when its project anchors in Rekor (a new
// pending anchor wakes the anchoring worker).
func (s *Server) submitResponse(ctx context.Context, a store.Attestation, proj store.Project, created, wait bool) (*attestdv1.SubmitResponse, error) {
	r := receiptPB(a, proj.Name, created)
	if proj.RekorURL != "" {
		anchor, err := s.store.GetAnchor(ctx, proj.ID, a.ID)
		switch {
		case err == nil:
			r.AnchorState = anchor.State
			if anchor.State == store.AnchorPending {
				s.anchors.nudge()
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("read anchor of %s: %w", a.ID, err)
		}
	}
	if wait {
		proof, err := s.inclusionProof(ctx, *a.LogIndex, 0, true)
		if err != nil {
			return nil, err
		}
		r.InclusionProof = proof
	}
	return &attestdv1.SubmitResponse{Receipt: r}, nil
}

// settleTimeout bounds the log append and the row insert of one submission. Both run detached from the
// caller's cancellation: once a leaf may exist, attestd must learn its index and settle it, or a retry would
// append a second leaf for the same envelope.
const settleTimeout = 30 * time.Second

// record is the write path's commit: leaf first, row second, acknowledged only when both hold. A leaf whose
// row does not commit becomes an orphan that a retry of the same envelope claims.
func (s *Server) record(ctx context.Context, project string, a store.Attestation) (store.Attestation, bool, error) {
	q := s.sequencer()
	if q == nil {
		return store.Attestation{}, false, fmt.Errorf("%w: the log is not reconciled yet", errLogUnavailable)
	}
	// In the filter before the row can be found by a query: see idFilter.
	s.filter.add(a.ProjectID, a.ID)
	entry := entryFor(project, a)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	start := time.Now()
	idx, err := q.sequence(dctx, entry)
	logged := time.Now()
	s.metrics.stages.WithLabelValues(stageLog).Observe(logged.Sub(start).Seconds())
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("%w: attestation %s: %v", errLogUnavailable, a.ID, err)
	}
	a.LogIndex = &idx
	a.CreatedAt = s.now()
	stored, created, err := s.store.InsertAttestation(dctx, a)
	s.metrics.stages.WithLabelValues(stageStore).Observe(time.Since(logged).Seconds())
	if err != nil {
		// The row may have committed all the same (an error after the commit): the feed hears of it, so that
		// no kept gathering misses it.
		q.feed.add(q.feed.entryOf(a))
		s.orphanLeaf(dctx, q, entry, idx)
		return store.Attestation{}, false, fmt.Errorf("store attestation %s: %w", a.ID, err)
	}
	if !created && (stored.LogIndex == nil || *stored.LogIndex != idx) {
		// Another request stored this envelope first with another leaf: ours is an orphan now.
		s.logger.WarnContext(ctx, "second leaf for one envelope", "id", a.ID, "log_index", idx)
		s.orphanLeaf(dctx, q, entry, idx)
		return stored, false, nil
	}
	q.settleRow(idx, stored)
	return stored, created, nil
}

// orphanLeaf records a leaf whose row did not commit. Until the record is stored it holds the watermark down,
// so that a crash leaves it to the next start-up's reconciliation.
func (s *Server) orphanLeaf(ctx context.Context, q *sequencer, entry []byte, idx uint64) {
	q.orphan(entry, idx)
	err := s.store.AddOrphanLeaves(ctx, []store.OrphanLeaf{{LogIndex: idx, Entry: entry, FoundAt: s.now()}})
	if err != nil {
		s.logger.WarnContext(ctx, "record orphan leaf", "log_index", idx, "err", err)
		return
	}
	q.settle(idx)
}

// verifySigners checks the envelope's signatures against the project's functionary keys that are valid now;
// layout-owner keys sign layouts, never attestations. When nothing verifies, it says why in terms an operator
// can act on: a revoked or expired key, an owner key, or no registered key at all.
func (s *Server) verifySigners(ctx context.Context, proj store.Project, env *attestation.Envelope) ([]string, error) {
	// The keys as of the project's generation, read with the caller's token: no query while they stay the
	// same, and as fresh as reading them here (a key added or revoked bumps the generation).
	snap, err := s.snapshot(ctx, proj)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var active, inactive, owners []*attestation.PublicKey
	inactiveWhy := map[string]string{}
	for _, k := range snap.keys {
		pub, ok := s.parsedKey(ctx, proj.Name, k)
		if !ok {
			continue
		}
		switch {
		case k.Owner:
			owners = append(owners, pub)
		case k.RevokedAt != nil && !k.RevokedAt.After(now):
			inactive = append(inactive, pub)
			inactiveWhy[pub.ID] = "was revoked at " + k.RevokedAt.UTC().Format("2006-01-02T15:04:05Z")
		case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
			inactive = append(inactive, pub)
			inactiveWhy[pub.ID] = "expired at " + k.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")
		default:
			active = append(active, pub)
		}
	}
	signers, err := attestation.VerifySignatures(env, active)
	if err == nil || !errors.Is(err, attestation.ErrNoValidSignature) {
		return signers, err
	}
	if len(inactive) > 0 {
		if old, oerr := attestation.VerifySignatures(env, inactive); oerr == nil && len(old) > 0 {
			reasons := make([]string, 0, len(old))
			for _, id := range old {
				reasons = append(reasons, fmt.Sprintf("key %s %s", id, inactiveWhy[id]))
			}
			return nil, fmt.Errorf("%w: signed only by keys that are no longer valid: %s", errDenied, strings.Join(reasons, "; "))
		}
	}
	if len(owners) > 0 {
		if by, oerr := attestation.VerifySignatures(env, owners); oerr == nil && len(by) > 0 {
			return nil, fmt.Errorf("%w: signed only by layout-owner keys (%s), which sign layouts, not attestations",
				errDenied, strings.Join(by, ", "))
		}
	}
	if len(active) == 0 {
		return nil, fmt.Errorf("%w (project %q has no valid registered functionary key)", err, proj.Name)
	}
	return nil, fmt.Errorf("%w: no signature is by a key registered in project %q", err, proj.Name)
}

// checkStepAllowed enforces a token's step list. The step comes from signed content only.
func checkStepAllowed(tok store.Token, step string) error {
	if len(tok.Steps) == 0 {
		return nil
	}
	if step == "" {
		return deniedf("token %s may submit only steps [%s]; this attestation names no step", tok.ID, strings.Join(tok.Steps, ", "))
	}
	if !slices.Contains(tok.Steps, step) {
		return deniedf("token %s may submit only steps [%s], not %q", tok.ID, strings.Join(tok.Steps, ", "), step)
	}
	return nil
}

func artifacts(ds []attestation.Descriptor) []store.Artifact {
	var out []store.Artifact
	for _, d := range ds {
		algs := make([]string, 0, len(d.Digest))
		for alg := range d.Digest {
			algs = append(algs, alg)
		}
		slices.Sort(algs)
		name := d.Name
		if name == "" {
			name = d.URI
		}
		for _, alg := range algs {
			out = append(out, store.Artifact{Name: name, Algorithm: alg, Digest: d.Digest[alg]})
		}
	}
	return out
}

func checkID(id string) error {
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return invalidf("attestation id %q: want the lowercase hex sha256 of the envelope (64 characters)", clip(id))
	}
	return nil
}

// Get returns one attestation of the caller's project.
func (s *Server) Get(ctx context.Context, req *attestdv1.GetRequest) (*attestdv1.GetResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "read attestations", rolesRead...)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetId()); err != nil {
		return nil, err
	}
	a, err := s.store.GetAttestation(ctx, proj.ID, req.GetId())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFoundf("attestation %s not found", req.GetId())
	}
	if err != nil {
		return nil, err
	}
	out := attestationPB(a, proj.Name, true)
	anchor, err := s.store.GetAnchor(ctx, proj.ID, a.ID)
	switch {
	case err == nil:
		out.Anchor = anchorPB(anchor)
		out.Receipt.AnchorState = anchor.State
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("read anchor of %s: %w", a.ID, err)
	}
	return &attestdv1.GetResponse{Attestation: out}, nil
}

// List returns the project's attestations matching every filter, newest first, a page at a time.
func (s *Server) List(ctx context.Context, req *attestdv1.ListRequest) (*attestdv1.ListResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "read attestations", rolesRead...)
	if err != nil {
		return nil, err
	}
	f, err := listFilter(req)
	if err != nil {
		return nil, err
	}
	withEnvelopes := !req.GetOmitEnvelopes()
	f.WithoutEnvelopes = !withEnvelopes
	atts, err := s.store.ListAttestations(ctx, proj.ID, f)
	if err != nil {
		return nil, err
	}
	resp := &attestdv1.ListResponse{Attestations: make([]*attestdv1.Attestation, 0, len(atts))}
	bytes := 0
	for i, a := range atts {
		if withEnvelopes {
			bytes += len(a.Envelope)
			if bytes > maxPageBytes && i > 0 {
				resp.NextPageToken = encodePageToken(atts[i-1].Seq)
				return resp, nil
			}
		}
		resp.Attestations = append(resp.Attestations, attestationPB(a, proj.Name, withEnvelopes))
	}
	if len(atts) == f.Limit && len(atts) > 0 {
		resp.NextPageToken = encodePageToken(atts[len(atts)-1].Seq)
	}
	if err := s.addAnchors(ctx, proj.ID, resp.Attestations); err != nil {
		return nil, err
	}
	return resp, nil
}

// addAnchors sets the anchor of each of the listed attestations that has one, in one read.
func (s *Server) addAnchors(ctx context.Context, projectID int64, atts []*attestdv1.Attestation) error {
	if len(atts) == 0 {
		return nil
	}
	ids := make([]string, 0, len(atts))
	for _, a := range atts {
		ids = append(ids, a.GetReceipt().GetId())
	}
	anchors, err := s.store.GetAnchors(ctx, projectID, ids)
	if err != nil {
		return fmt.Errorf("read anchors: %w", err)
	}
	byID := make(map[string]store.Anchor, len(anchors))
	for _, an := range anchors {
		byID[an.AttestationID] = an
	}
	for _, a := range atts {
		if an, ok := byID[a.GetReceipt().GetId()]; ok {
			a.Anchor = anchorPB(an)
			a.Receipt.AnchorState = an.State
		}
	}
	return nil
}

func listFilter(req *attestdv1.ListRequest) (store.Filter, error) {
	var f store.Filter
	for _, v := range []string{req.GetSubjectDigest(), req.GetMaterialDigest(), req.GetStep(), req.GetPredicateType(), req.GetSignerKeyId(), req.GetSubmitter(), req.GetPageToken()} {
		if len(v) > maxFilterBytes {
			return f, invalidf("a filter value is longer than %d bytes", maxFilterBytes)
		}
	}
	var err error
	if d := req.GetSubjectDigest(); d != "" {
		if f.SubjectAlgorithm, f.SubjectDigest, err = attestation.ParseDigest(d); err != nil {
			return f, invalidf("subject_digest: %v", err)
		}
	}
	if d := req.GetMaterialDigest(); d != "" {
		if f.MaterialAlgorithm, f.MaterialDigest, err = attestation.ParseDigest(d); err != nil {
			return f, invalidf("material_digest: %v", err)
		}
	}
	f.Step, f.PredicateType, f.SignerKeyID = req.GetStep(), req.GetPredicateType(), req.GetSignerKeyId()
	f.Submitter = req.GetSubmitter()
	if ts := req.GetSince(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return f, invalidf("since: %v", err)
		}
		f.Since = ts.AsTime()
	}
	if ts := req.GetUntil(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return f, invalidf("until: %v", err)
		}
		f.Until = ts.AsTime()
	}
	switch n := req.GetPageSize(); {
	case n < 0:
		return f, invalidf("page_size %d is negative", n)
	case n == 0:
		f.Limit = store.DefaultPageSize
	case n > store.MaxPageSize:
		f.Limit = store.MaxPageSize
	default:
		f.Limit = int(n)
	}
	if t := req.GetPageToken(); t != "" {
		seq, err := decodePageToken(t)
		if err != nil {
			return f, err
		}
		f.AfterSeq = seq
	}
	return f, nil
}

func encodePageToken(seq int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodePageToken(t string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) != 8 {
		return 0, invalidf("page_token is not one this server issued")
	}
	seq := int64(binary.BigEndian.Uint64(b))
	if seq <= 0 {
		return 0, invalidf("page_token is not one this server issued")
	}
	return seq, nil
}

// metablockPayloadType names, in storage and answers, the payload of a classic signed in-toto link, which
// has no DSSE payloadType of its own.
const metablockPayloadType = "application/vnd.in-toto.metablock+json"

func payloadType(env *attestation.Envelope) string {
	if env.Format == attestation.FormatMetablock {
		return metablockPayloadType
	}
	return env.PayloadType
}
