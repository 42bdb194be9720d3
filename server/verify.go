package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/verifier"
)

// maxArtifactNameBytes bounds the name of a verified artifact.
const maxArtifactNameBytes = 4096

// rolesVerify may ask for decisions.
var rolesVerify = []string{store.RoleAdmin, store.RoleReader, store.RoleVerifier}

// Verify decides whether an artifact went through the pipeline its project requires, and records the decision.
//
// The policy covering the artifact names a layout; its active version is judged against the candidates gathered
// by walking back from the artifact's digest (see gatherCandidates): the attestations whose subject is the
// digest, then those whose subject is one of their materials, and so on, at most one level more than the layout
// has steps; then, for the steps not found so far, those consuming a digest seen on the walk, and a few hints by
// step name; at most maxVerifyCandidates attestations (more is RESOURCE_EXHAUSTED). A candidate counts only if its leaf is covered
// by the log's current checkpoint and its inclusion proof verifies against it. A denial is an answer, not an
// error; an artifact that no policy covers is denied.
func (s *Server) Verify(ctx context.Context, req *attestdv1.VerifyRequest) (*attestdv1.VerifyResponse, error) {
	p, proj, err := s.resolveProject(ctx, req.GetProject(), "verify artifacts", rolesVerify...)
	if err != nil {
		return nil, err
	}
	art, err := checkArtifact(req.GetKind(), req.GetName(), req.GetDigest())
	if err != nil {
		return nil, err
	}
	kind, name, alg, value := art.kind, art.name, art.alg, art.value
	rec := store.Decision{ProjectID: proj.ID, RequesterID: p.token.ID, Kind: kind, Name: name, Digest: alg + ":" + value}

	cov, reason, err := s.cover(ctx, proj, art)
	if err != nil {
		return nil, err
	}
	rec.Policy, rec.Layout, rec.LayoutVersion = cov.policy.Name, cov.policy.Layout, cov.stored.Version
	if reason != "" {
		rec.Reasons = []string{reason}
		return s.answer(ctx, rec, nil)
	}

	now := s.now()
	in := cov.input(art, now)
	d, notLogged, err := s.decideArtifact(ctx, proj, cov, in, alg, value)
	if err != nil {
		return nil, err
	}
	rec.Allowed = d.Allowed
	if len(notLogged) > 0 {
		s.logger.WarnContext(ctx, "verify: candidates that do not count", "project", proj.Name,
			"count", len(notLogged), "reasons", notLogged[:min(len(notLogged), 100)])
	}
	rec.Reasons = verifier.AnswerReasons(d, notLogged)
	rec.DecidedAt = now
	resp, err := s.answer(ctx, rec, d.Steps)
	if err != nil || !req.GetVsa() || !rec.Allowed {
		return resp, err
	}
	return s.issueVSA(ctx, proj, vsaInput{kind: kind, name: name, alg: alg, value: value, policy: cov.policy.Name,
		layout: cov.stored.Name, layoutVersion: cov.stored.Version, layoutContent: cov.stored.Content,
		attestations: usedAttestations(d.Steps), decidedAt: now, requester: p.token.ID}, resp)
}

// artifactArgs are the checked arguments of Verify and ExportBundle: the artifact's kind, name and digest.
type artifactArgs struct {
	kind, name, alg, value string
}

// checkArtifact checks the artifact a decision is asked about.
func checkArtifact(kind, name, digest string) (artifactArgs, error) {
	if err := checkPolicyKind(kind); err != nil {
		return artifactArgs{}, err
	}
	if name == "" {
		return artifactArgs{}, invalidf("name: the artifact's name is empty")
	}
	if len(name) > maxArtifactNameBytes {
		return artifactArgs{}, &attestation.LimitError{Limit: "max-artifact-name-bytes, fixed", Max: maxArtifactNameBytes, Got: len(name), What: "artifact name bytes"}
	}
	if err := attestation.CheckName(name, attestation.Limits{}); err != nil {
		return artifactArgs{}, err
	}
	alg, value, err := attestation.ParseDigest(digest)
	if err != nil {
		return artifactArgs{}, err
	}
	if alg != "sha256" {
		return artifactArgs{}, invalidf("digest %q: want sha256:HEX", clip(digest))
	}
	return artifactArgs{kind: kind, name: name, alg: alg, value: value}, nil
}

// coverage is what a decision about an artifact is judged against: the policy that covers it, the active
// version of the policy's layout (stored, and parsed once its leaf is proved), and the project's keys.
type coverage struct {
	policy       verifier.Policy
	row          store.Policy // the policy as stored
	requireRekor bool
	stored       store.Layout
	layout       *verifier.Layout
	keys         []store.Key
	keysPrint    string         // keysFingerprint(keys)
	functionary  []verifier.Key // the keys that are not owner keys, as the engine reads them
}

// cover finds what a decision about art is judged against. When nothing can be (no policy covers the
// artifact, its layout is missing or not proved in the log), it returns why, as the reason of a denial, with
// what was found so far.
func (s *Server) cover(ctx context.Context, proj store.Project, art artifactArgs) (coverage, string, error) {
	snap, err := s.snapshot(ctx, proj)
	if err != nil {
		return coverage{}, "", err
	}
	var cov coverage
	pol, ok := snap.selector.Select(art.kind, art.name)
	if !ok {
		return cov, fmt.Sprintf("no policy covers %s %q", art.kind, art.name), nil
	}
	cov.policy, cov.keys, cov.keysPrint, cov.functionary = pol, snap.keys, snap.keysPrint, snap.functionary
	for _, sp := range snap.policies {
		if sp.Kind == pol.Kind && sp.Name == pol.Name {
			cov.row, cov.requireRekor = sp, sp.RequireRekor
		}
	}
	stored, err := s.activeLayout(ctx, snap, proj.ID, pol.Layout)
	if errors.Is(err, store.ErrNotFound) {
		return cov, fmt.Sprintf("policy %q names layout %q, which the project does not have", pol.Name, pol.Layout), nil
	}
	if err != nil {
		return coverage{}, "", fmt.Errorf("load layout %q: %w", pol.Layout, err)
	}
	cov.stored = stored
	if reason, err := s.checkLayoutInclusion(ctx, proj.Name, stored); err != nil {
		return coverage{}, "", err
	} else if reason != "" {
		return cov, reason, nil
	}
	if cov.layout, err = s.parseStoredLayout(stored); err != nil {
		return coverage{}, "", err
	}
	return cov, "", nil
}

// input is the engine's input for a decision about art at now, without the attestations. Its Keys are shared
// with the project's snapshot: the engine only reads them.
func (cov coverage) input(art artifactArgs, now time.Time) verifier.Input {
	return verifier.Input{
		Layout:   cov.layout,
		Now:      now,
		Artifact: verifier.Artifact{Name: art.name, Digest: map[string]string{art.alg: art.value}},
		Keys:     cov.functionary,
	}
}

// functionaryKeys returns the keys that are not owner keys, with their validity windows, as the engine reads
// them.
func functionaryKeys(keys []store.Key) []verifier.Key {
	var out []verifier.Key
	for _, k := range keys {
		if k.Owner {
			continue
		}
		vk := verifier.Key{ID: k.KeyID, NotBefore: k.CreatedAt}
		if k.ExpiresAt != nil {
			vk.Expires = *k.ExpiresAt
		}
		if k.RevokedAt != nil {
			vk.RevokedAt = *k.RevokedAt
		}
		out = append(out, vk)
	}
	return out
}

// decideArtifact gathers the candidates of the decision about the artifact alg:value, judges them and runs the
// engine on in (its Layout, Now, Artifact and Keys set), returning the engine's decision and why candidates
// did not count. With requireRekor only candidates with a verified Rekor entry count (requireAnchors). A
// decision over a kept gathering is kept (see decisionKey) and returned again as long as nothing it depends on
// has changed.
func (s *Server) decideArtifact(ctx context.Context, proj store.Project, cov coverage, in verifier.Input,
	alg, value string) (verifier.Decision, []string, error) {
	stored, pol, requireRekor, keys := cov.stored, cov.policy, cov.requireRekor, cov.keys
	if err := s.requireLog(); err != nil {
		return verifier.Decision{}, nil, err
	}
	cands, gathering, err := s.gather(ctx, proj.ID, stored.ID, alg, value, in.Layout)
	if err != nil {
		return verifier.Decision{}, nil, err
	}
	key, keep := decisionKeyOf(proj, in, alg, value, pol, requireRekor, stored, cov.keysPrint, gathering)
	if keep && in.Now.Before(in.Layout.Expires) {
		if hit, ok := s.cache.decisions.Get(key); ok {
			return hit.d, hit.notLogged, nil
		}
	}
	_, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return verifier.Decision{}, nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	d, notLogged, settled, err := s.decideGathered(ctx, proj, keys, cp, cands, in, requireRekor)
	if err != nil {
		return verifier.Decision{}, nil, err
	}
	if keep && settled && coveredBy(cands.all(), cp.Size) {
		s.cache.decisions.Add(key, decisionEntry{d: d, notLogged: notLogged})
	}
	return d, notLogged, nil
}

// decideGathered judges the gathered candidates against the checkpoint cp (judge, then requireAnchors with
// requireRekor) and runs the engine on in with those that count, the hints kept from allowing. settled is
// false when the decision may change without a new leaf (a Rekor anchor still pending).
func (s *Server) decideGathered(ctx context.Context, proj store.Project, keys []store.Key, cp tlog.Checkpoint,
	cands gathered, in verifier.Input, requireRekor bool) (d verifier.Decision, notLogged []string, settled bool, err error) {
	candidates, notLogged, err := s.judge(ctx, proj, keys, cp, cands.all())
	if err != nil {
		return verifier.Decision{}, nil, false, err
	}
	settled = true
	if requireRekor {
		var dropped []string
		candidates, dropped, settled, err = s.requireAnchors(ctx, proj, candidates)
		if err != nil {
			return verifier.Decision{}, nil, false, err
		}
		notLogged = append(notLogged, dropped...)
	}
	in.Attestations = candidates
	d, err = verifier.VerifyWithHints(in, cands.hintIDs())
	if err != nil {
		return verifier.Decision{}, nil, false, err
	}
	return d, notLogged, settled, nil
}

// coveredBy reports whether the leaf of every attestation is below size.
func coveredBy(atts []store.Attestation, size uint64) bool {
	for _, a := range atts {
		if a.LogIndex == nil || *a.LogIndex >= size {
			return false
		}
	}
	return true
}

// gather returns the candidates of the decision and the id of their kept gathering (0 if not kept): a kept
// gathering if no attestation since changes it, else a new one, kept in turn if it may be. Without a
// sequencer (another replica writes the log) nothing is kept.
func (s *Server) gather(ctx context.Context, projectID int64, layoutID, alg, value string, layout *verifier.Layout) (gathered, uint64, error) {
	q := s.sequencer()
	if q == nil {
		g, err := s.gatherCandidates(ctx, projectID, alg, value, layout)
		return g, 0, err
	}
	key := gatherKey{project: projectID, layoutID: layoutID, digest: store.Digest{Algorithm: alg, Value: value}}
	if g, id, ok := s.keptGathering(key, q.feed); ok {
		return g, id, nil
	}
	// Read before gathering: a row the queries below cannot see yet settles after this position.
	pos := q.feed.position()
	g, err := s.gatherCandidates(ctx, projectID, alg, value, layout)
	if err != nil {
		return gathered{}, 0, err
	}
	return g, s.keepGathering(key, q.feed, pos, g), nil
}

// parseStoredLayout returns the stored layout parsed, once per process for each layout's bytes. Its
// signatures were checked at push; what is parsed is what the leaf commits to (checkLayoutInclusion).
func (s *Server) parseStoredLayout(l store.Layout) (*verifier.Layout, error) {
	if sum := sha256.Sum256(l.Content); hex.EncodeToString(sum[:]) != l.ID {
		return nil, fmt.Errorf("stored layout %q version %d: its sha256 is not its id (changed behind attestd's back: run attestd audit)", l.Name, l.Version)
	}
	if parsed, ok := s.cache.layouts.Get(l.ID); ok {
		return parsed, nil
	}
	env, err := attestation.ParseEnvelope(l.Content, attestation.Limits{MaxEnvelopeBytes: 2 * verifier.MaxLayoutBytes})
	if err != nil {
		return nil, fmt.Errorf("stored layout %q version %d does not parse: %v", l.Name, l.Version, err)
	}
	parsed, err := verifier.ParseLayout(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("stored layout %q version %d does not parse: %v", l.Name, l.Version, err)
	}
	s.cache.layouts.Add(l.ID, parsed)
	return parsed, nil
}

// answer records the decision and returns it.
func (s *Server) answer(ctx context.Context, rec store.Decision, steps []verifier.StepResult) (*attestdv1.VerifyResponse, error) {
	if rec.DecidedAt.IsZero() {
		rec.DecidedAt = s.now()
	}
	stored, err := s.store.AddDecision(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("record decision: %w", err)
	}
	out := decisionPB(stored)
	out.Steps = stepsPB(steps)
	s.logger.InfoContext(ctx, "verified", "kind", rec.Kind, "name", rec.Name, "digest", rec.Digest,
		"allowed", rec.Allowed, "layout", rec.Layout, "version", rec.LayoutVersion, "decision", stored.ID)
	return &attestdv1.VerifyResponse{Decision: out}, nil
}

// stepsPB is the API form of the steps of a decision.
func stepsPB(steps []verifier.StepResult) []*attestdv1.DecisionStep {
	var out []*attestdv1.DecisionStep
	for _, st := range steps {
		out = append(out, &attestdv1.DecisionStep{Name: st.Name, AttestationIds: slices.Clone(st.Used),
			Reasons: slices.Clone(st.Reasons)})
	}
	return out
}

func decisionPB(d store.Decision) *attestdv1.Decision {
	return &attestdv1.Decision{
		Id:            d.ID,
		Allowed:       d.Allowed,
		LayoutName:    d.Layout,
		LayoutVersion: d.LayoutVersion,
		PolicyName:    d.Policy,
		Reasons:       slices.Clone(d.Reasons),
		DecidedAt:     ts(d.DecidedAt),
		Kind:          d.Kind,
		Name:          d.Name,
		Digest:        d.Digest,
		Requester:     d.RequesterID,
	}
}

// judge returns what the engine judges of each candidate, read from its envelope, which its log leaf commits
// to, rather than from the columns indexed at submission, which the leaf does not cover; and, for each
// candidate that does not count, why. A candidate counts if its leaf is covered by the log's current checkpoint
// and its inclusion proof verifies against it, its envelope's sha256 is its id, a signature verifies with a
// functionary key of the project (the engine judges the key's validity at IntegratedAt) and its statement
// parses. Step, predicate type, materials and products come from the signed statement. What was proved or
// read once is taken from the cache (see verifyCache); the others' envelopes are read in one query. The
// result is sorted by id.
func (s *Server) judge(ctx context.Context, proj store.Project, keys []store.Key, cp tlog.Checkpoint, cands []store.Attestation) ([]verifier.Attestation, []string, error) {
	if len(cands) == 0 {
		return nil, nil, nil
	}
	pubs := s.functionaryKeys(ctx, proj.Name, keys)
	fp := keySetFingerprint(pubs)
	var out []verifier.Attestation
	var reasons []string
	var misses []store.Attestation
	for _, a := range cands {
		if a.LogIndex == nil || *a.LogIndex >= cp.Size {
			reasons = append(reasons, fmt.Sprintf("attestation %s does not count: it is not yet covered by the log's checkpoint (size %d)", a.ID, cp.Size))
			continue
		}
		j, judged := s.cache.judged.Get(judgedKey{a.ID, fp})
		_, included := s.cache.included.Get(includedKey{proj.Name, a.ID, *a.LogIndex})
		if !judged || !included {
			misses = append(misses, a)
			continue
		}
		if j.reason != "" {
			reasons = append(reasons, j.reason)
			continue
		}
		att := j.att
		att.IntegratedAt = a.CreatedAt
		out = append(out, att)
	}
	full, err := s.loadEnvelopes(ctx, proj.ID, misses)
	if err != nil {
		return nil, nil, err
	}
	// The envelopes are read (parsed, signatures checked) in parallel, while this goroutine proves the leaves:
	// the reading is CPU, the proofs are the log's files.
	judged := make([]judgedEntry, len(full))
	bad := make([]string, len(full)) // why a candidate does not count whatever its envelope says
	var toRead []int
	for i, a := range full {
		if sum := sha256.Sum256(a.Envelope); hex.EncodeToString(sum[:]) != a.ID {
			bad[i] = fmt.Sprintf("attestation %s does not count: its stored envelope's sha256 is not its id (changed behind attestd's back: run attestd audit)", a.ID)
			continue
		}
		if j, ok := s.cache.judged.Get(judgedKey{a.ID, fp}); ok {
			judged[i] = j
		} else {
			toRead = append(toRead, i)
		}
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		s.readAll(full, toRead, pubs, judged)
	}()
	var proofErr error
	var prove []int
	var indices []uint64
	for i, a := range full {
		if bad[i] != "" {
			continue
		}
		if _, ok := s.cache.included.Get(includedKey{proj.Name, a.ID, *a.LogIndex}); !ok {
			prove, indices = append(prove, i), append(indices, *a.LogIndex)
		}
	}
	proofs, err := s.log.InclusionProofs(ctx, indices, cp.Size)
	if err != nil {
		proofErr = fmt.Errorf("%w: inclusion proofs of %d leaves: %v", errLogUnavailable, len(indices), err)
	}
	for k, i := range prove {
		if proofErr != nil {
			break
		}
		a := full[i]
		if err := tlog.VerifyInclusion(tlog.LeafHash(entryFor(proj.Name, a)), *a.LogIndex, cp.Size, proofs[k], cp.Hash); err != nil {
			bad[i] = fmt.Sprintf("attestation %s does not count: its inclusion proof at log index %d does not verify against the checkpoint of size %d", a.ID, *a.LogIndex, cp.Size)
			continue
		}
		s.cache.included.Add(includedKey{proj.Name, a.ID, *a.LogIndex}, cp.Size)
	}
	<-readDone
	if proofErr != nil {
		return nil, nil, proofErr
	}
	for _, i := range toRead {
		s.cache.judged.Add(judgedKey{full[i].ID, fp}, judged[i])
	}
	for i, a := range full {
		switch {
		case bad[i] != "":
			reasons = append(reasons, bad[i])
		case judged[i].reason != "":
			reasons = append(reasons, judged[i].reason)
		default:
			att := judged[i].att
			att.IntegratedAt = a.CreatedAt
			out = append(out, att)
		}
	}
	slices.SortFunc(out, func(a, b verifier.Attestation) int { return strings.Compare(a.ID, b.ID) })
	return out, reasons, nil
}

// readAll reads the envelopes full[i] for each i of which, into judged[i], on as many goroutines as there are
// processors.
func (s *Server) readAll(full []store.Attestation, which []int, pubs []*attestation.PublicKey, judged []judgedEntry) {
	workers := min(len(which), runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(which) {
					return
				}
				i := which[k]
				judged[i] = s.read(full[i], pubs)
			}
		}()
	}
	wg.Wait()
}

// read reads a's envelope as verifier.ReadAttestation does (IntegratedAt left for the row to set).
func (s *Server) read(a store.Attestation, pubs []*attestation.PublicKey) judgedEntry {
	att, reason := verifier.ReadAttestation(a.ID, a.Envelope, pubs, s.limits)
	return judgedEntry{att: att, reason: reason}
}

// functionaryKeys parses the project's functionary keys (owner keys sign layouts, never attestations), each
// once per process.
func (s *Server) functionaryKeys(ctx context.Context, project string, keys []store.Key) []*attestation.PublicKey {
	var pubs []*attestation.PublicKey
	for _, k := range keys {
		if k.Owner {
			continue
		}
		if pub, ok := s.parsedKey(ctx, project, k); ok {
			pubs = append(pubs, pub)
		}
	}
	return pubs
}

// parsedKey returns the stored key k parsed, once per process for each PEM; a key that does not parse (the
// row was changed behind attestd's back) is logged and reported as not ok.
func (s *Server) parsedKey(ctx context.Context, project string, k store.Key) (*attestation.PublicKey, bool) {
	if pub, ok := s.cache.keys.Get(k.PublicPEM); ok {
		return pub, true
	}
	pub, err := attestation.ParsePublicKey([]byte(k.PublicPEM))
	if err != nil {
		s.logger.ErrorContext(ctx, "stored key does not parse", "project", project, "key_id", k.KeyID, "err", err)
		return nil, false
	}
	s.cache.keys.Add(k.PublicPEM, pub)
	return pub, true
}

// loadEnvelopes returns the candidates with their envelopes, read in one query per store.MaxGetAttestations
// candidates for those gathered without; a candidate whose row is gone since is left out.
func (s *Server) loadEnvelopes(ctx context.Context, projectID int64, cands []store.Attestation) ([]store.Attestation, error) {
	var ids []string
	for _, a := range cands {
		if a.Envelope == nil {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return cands, nil
	}
	full := make(map[string]store.Attestation, len(ids))
	for chunk := range slices.Chunk(ids, store.MaxGetAttestations) {
		rows, err := s.store.GetAttestations(ctx, projectID, chunk)
		if err != nil {
			return nil, fmt.Errorf("load candidate envelopes: %w", err)
		}
		for _, a := range rows {
			full[a.ID] = a
		}
	}
	out := make([]store.Attestation, 0, len(cands))
	for _, a := range cands {
		if a.Envelope == nil {
			var ok bool
			if a, ok = full[a.ID]; !ok || a.LogIndex == nil {
				continue
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// checkLayoutInclusion returns why the stored layout may not be used, or "" if its leaf is in the log, proved
// against the current checkpoint: a layout row that attestd did not log (written behind its back) decides
// nothing.
func (s *Server) checkLayoutInclusion(ctx context.Context, project string, l store.Layout) (string, error) {
	if l.LogIndex == nil {
		return fmt.Sprintf("layout %q version %d is not in the transparency log (written behind attestd's back, or pushed before layouts were logged): push a new version", l.Name, l.Version), nil
	}
	ik := includedKey{project, "layout " + l.Name + " " + l.ID, *l.LogIndex}
	if _, ok := s.cache.included.Get(ik); ok {
		return "", nil
	}
	if err := s.requireLog(); err != nil {
		return "", err
	}
	_, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	if *l.LogIndex >= cp.Size {
		if _, cp, err = s.log.AwaitIntegration(ctx, *l.LogIndex); err != nil {
			return "", fmt.Errorf("%w: layout %q version %d: %v", errLogUnavailable, l.Name, l.Version, err)
		}
	}
	hashes, err := s.log.InclusionProof(ctx, *l.LogIndex, cp.Size)
	if err != nil {
		return "", fmt.Errorf("%w: inclusion proof of leaf %d: %v", errLogUnavailable, *l.LogIndex, err)
	}
	if err := tlog.VerifyInclusion(tlog.LeafHash(layoutEntryFor(project, l)), *l.LogIndex, cp.Size, hashes, cp.Hash); err != nil {
		return fmt.Sprintf("layout %q version %d does not match its leaf at log index %d (changed behind attestd's back: run attestd audit)", l.Name, l.Version, *l.LogIndex), nil
	}
	s.cache.included.Add(ik, cp.Size)
	return "", nil
}

// ListDecisions lists the project's recorded decisions, newest first.
func (s *Server) ListDecisions(ctx context.Context, req *attestdv1.ListDecisionsRequest) (*attestdv1.ListDecisionsResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "list decisions", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	if req.GetLimit() < 0 {
		return nil, invalidf("limit %d: want 0 (the default, %d) to %d", req.GetLimit(), store.DefaultPageSize, store.MaxPageSize)
	}
	if req.GetBeforeId() < 0 {
		return nil, invalidf("before_id %d: want 0 or more", req.GetBeforeId())
	}
	list, err := s.store.ListDecisions(ctx, proj.ID, req.GetBeforeId(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := make([]*attestdv1.Decision, 0, len(list))
	for _, d := range list {
		out = append(out, decisionPB(d))
	}
	return &attestdv1.ListDecisionsResponse{Decisions: out}, nil
}
