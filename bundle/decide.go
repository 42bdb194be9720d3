package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/verifier"
)

// clockSkew is how far ahead of the verifying machine's clock attestd's may have been when it exported.
const clockSkew = 5 * time.Minute

// Options are what a decision from a bundle depends on besides the bundle.
type Options struct {
	// Now is the time of the decision (the layout's expiry, MaxAge). Required.
	Now time.Time
	// Kind, Name and Digest ("sha256:HEX") are the artifact being verified; the bundle must be about exactly
	// it (ErrWrongArtifact). Required. Project, if not empty, must be the bundle's project.
	Kind, Name, Digest string
	Project            string
	// LogKey is the note verifier key of attestd's log that the caller trusts (pinned, or given), if any: the
	// bundle's must then be the same (ErrLogKey). Empty: the bundle's, which the verifier key vouches for.
	LogKey string
	// MaxAge refuses a bundle exported longer ago than this (ErrTooOld); 0: no limit.
	MaxAge time.Duration
	// Limits are those envelopes are read with (verifier.ReadAttestation); zero: attestd's defaults.
	Limits attestation.Limits
}

// Result is a decision made from a bundle.
type Result struct {
	// Decision is the answer as attestd's Verify words it: allowed, policy, layout and version, steps with the
	// attestations used, every reason; decided at Options.Now. Requester and id are empty: it is not recorded.
	Decision *attestdv1.Decision
	// NotCounted says why each candidate that does not count does not (in a denial's reasons too, capped).
	NotCounted []string
	// Bundle is the bundle decided from; Checkpoint its verified checkpoint; Exported its export time.
	Bundle     *attestdv1.Bundle
	Checkpoint tlog.Checkpoint
	Exported   time.Time
}

// Verify opens raw with verifierKey (Open) and decides from it (Decide).
func Verify(ctx context.Context, raw []byte, verifierKey *attestation.PublicKey, opts Options) (*Result, error) {
	b, err := Open(raw, verifierKey)
	if err != nil {
		return nil, err
	}
	return Decide(ctx, b, opts)
}

// Decide decides about the artifact of opts from b, which Open returned: it checks the artifact, the export
// time, the checkpoint, the layout and its leaf, then judges each candidate as attestd's Verify does and runs
// the engine. A candidate that fails a check does not count (Result.NotCounted); a bundle that contradicts
// itself is an error wrapping ErrMalformed, never a decision.
func Decide(ctx context.Context, b *attestdv1.Bundle, opts Options) (*Result, error) {
	if err := checkBounds(b); err != nil {
		return nil, err
	}
	alg, value, err := checkArtifact(b, opts)
	if err != nil {
		return nil, err
	}
	exported, err := checkExportTime(b, opts)
	if err != nil {
		return nil, err
	}
	logKey := strings.TrimSpace(b.GetLogVerifierKey())
	if opts.LogKey != "" && strings.TrimSpace(opts.LogKey) != logKey {
		return nil, fmt.Errorf("%w: the bundle's log key is %s, the trusted one %s", ErrLogKey, clip(logKey), clip(strings.TrimSpace(opts.LogKey)))
	}
	cp, err := tlog.VerifyCheckpoint(b.GetCheckpoint(), logKey)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrMalformed, err)
	}
	layout, err := checkLayout(b, cp)
	if err != nil {
		return nil, err
	}
	in := verifier.Input{Layout: layout, Now: opts.Now, Artifact: verifier.Artifact{Name: b.GetName(), Digest: map[string]string{alg: value}}}
	var pubs []*attestation.PublicKey
	for _, k := range b.GetKeys() {
		if k.GetOwner() {
			continue
		}
		in.Keys = append(in.Keys, verifier.Key{ID: k.GetKeyId(), NotBefore: timeOf(k.GetCreateTime()),
			Expires: timeOf(k.GetExpireTime()), RevokedAt: timeOf(k.GetRevokeTime())})
		// As attestd: a key that does not parse verifies nothing.
		if pub, err := attestation.ParsePublicKey([]byte(k.GetPublicKeyPem())); err == nil {
			pubs = append(pubs, pub)
		}
	}
	cands, hints, notCounted, err := judge(b, cp, pubs, opts.Limits)
	if err != nil {
		return nil, err
	}
	if b.GetPolicy().GetRequireRekor() {
		var dropped []string
		cands, dropped = requireAnchors(ctx, b, cands)
		notCounted = append(notCounted, dropped...)
	}
	in.Attestations = cands
	d, err := verifier.VerifyWithHints(in, hints)
	if err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	out := &attestdv1.Decision{
		Allowed:       d.Allowed,
		LayoutName:    b.GetLayout().GetName(),
		LayoutVersion: b.GetLayout().GetVersion(),
		PolicyName:    b.GetPolicy().GetName(),
		Reasons:       verifier.AnswerReasons(d, notCounted),
		DecidedAt:     timestamppb.New(opts.Now),
		Kind:          b.GetKind(),
		Name:          b.GetName(),
		Digest:        b.GetDigest(),
	}
	for _, st := range d.Steps {
		out.Steps = append(out.Steps, &attestdv1.DecisionStep{Name: st.Name, AttestationIds: st.Used, Reasons: st.Reasons})
	}
	return &Result{Decision: out, NotCounted: notCounted, Bundle: b, Checkpoint: cp, Exported: exported}, nil
}

// checkArtifact checks that b is about the artifact of opts and returns its digest.
func checkArtifact(b *attestdv1.Bundle, opts Options) (alg, value string, err error) {
	if opts.Kind == "" || opts.Name == "" || opts.Digest == "" {
		return "", "", errors.New("decide: the artifact to verify (Options.Kind, Name, Digest) is not set")
	}
	if opts.Now.IsZero() {
		return "", "", errors.New("decide: Options.Now is not set")
	}
	alg, value, err = attestation.ParseDigest(b.GetDigest())
	if err != nil || alg != "sha256" {
		return "", "", fmt.Errorf("%w: digest %q is not sha256:HEX", ErrMalformed, clip(b.GetDigest()))
	}
	wantAlg, wantValue, err := attestation.ParseDigest(opts.Digest)
	if err != nil {
		return "", "", fmt.Errorf("decide: digest to verify: %w", err)
	}
	if b.GetKind() != opts.Kind || b.GetName() != opts.Name || alg != wantAlg || value != wantValue {
		return "", "", fmt.Errorf("%w: it is about %s %q %s, not %s %q %s", ErrWrongArtifact, clip(b.GetKind()), clip(b.GetName()),
			b.GetDigest(), opts.Kind, opts.Name, opts.Digest)
	}
	if opts.Project != "" && b.GetProject() != opts.Project {
		return "", "", fmt.Errorf("%w: it is from project %q, not %q", ErrWrongArtifact, clip(b.GetProject()), opts.Project)
	}
	// The project is part of every log entry, whose preimage separates fields with NUL bytes.
	if b.GetProject() == "" || strings.IndexByte(b.GetProject(), 0) >= 0 {
		return "", "", fmt.Errorf("%w: project %q", ErrMalformed, clip(b.GetProject()))
	}
	return alg, value, nil
}

// checkExportTime returns the export time of b, checked against opts.Now and opts.MaxAge.
func checkExportTime(b *attestdv1.Bundle, opts Options) (time.Time, error) {
	t := b.GetExportTime()
	if t == nil {
		return time.Time{}, fmt.Errorf("%w: no export time", ErrMalformed)
	}
	if err := t.CheckValid(); err != nil {
		return time.Time{}, fmt.Errorf("%w: export time: %v", ErrMalformed, err)
	}
	exported := t.AsTime()
	if exported.After(opts.Now.Add(clockSkew)) {
		return time.Time{}, fmt.Errorf("%w: exported at %s, which is in the future (now %s)", ErrTooOld,
			exported.UTC().Format(time.RFC3339), opts.Now.UTC().Format(time.RFC3339))
	}
	if opts.MaxAge > 0 && opts.Now.Sub(exported) > opts.MaxAge {
		return time.Time{}, fmt.Errorf("%w: exported at %s, %s ago, more than the maximum age %s", ErrTooOld,
			exported.UTC().Format(time.RFC3339), opts.Now.Sub(exported).Round(time.Second), opts.MaxAge)
	}
	return exported, nil
}

// judge reads the candidates of b as attestd's Verify judges them: a candidate counts if a checkpoint covers
// its leaf, its envelope's sha256 is its id, its leaf (recomputed from the envelope) is proved against cp, a
// signature verifies with a functionary key and its statement parses. It returns those that count, sorted by
// id, the ids of the hints among all candidates, and why each other one does not count.
func judge(b *attestdv1.Bundle, cp tlog.Checkpoint, pubs []*attestation.PublicKey, lim attestation.Limits) (
	[]verifier.Attestation, []string, []string, error) {
	var out []verifier.Attestation
	var hints, reasons []string
	seen := make(map[string]bool, len(b.GetAttestations()))
	for _, ba := range b.GetAttestations() {
		a := ba.GetAttestation()
		r := a.GetReceipt()
		id := r.GetId()
		if !isLowerHex(id, 2*sha256.Size) {
			return nil, nil, nil, fmt.Errorf("%w: attestation id %q is not a sha256", ErrMalformed, clip(id))
		}
		if seen[id] {
			return nil, nil, nil, fmt.Errorf("%w: attestation %s twice", ErrMalformed, id)
		}
		seen[id] = true
		if ba.GetHint() {
			hints = append(hints, id)
		}
		p := r.GetInclusionProof()
		if p == nil || r.GetLogIndex() >= cp.Size {
			reasons = append(reasons, fmt.Sprintf("attestation %s does not count: it is not yet covered by the log's checkpoint (size %d)", id, cp.Size))
			continue
		}
		env := a.GetEnvelope()
		if sum := sha256.Sum256(env); hex.EncodeToString(sum[:]) != id {
			reasons = append(reasons, fmt.Sprintf("attestation %s does not count: its stored envelope's sha256 is not its id (changed behind attestd's back: run attestd audit)", id))
			continue
		}
		leaf := tlog.LeafHash(tlog.EntryForEnvelope(b.GetProject(), id, env))
		if p.GetLogIndex() != r.GetLogIndex() || p.GetTreeSize() != cp.Size ||
			tlog.VerifyInclusion(leaf, r.GetLogIndex(), cp.Size, p.GetHashes(), cp.Hash) != nil {
			reasons = append(reasons, fmt.Sprintf("attestation %s does not count: its inclusion proof at log index %d does not verify against the checkpoint of size %d", id, r.GetLogIndex(), cp.Size))
			continue
		}
		att, reason := verifier.ReadAttestation(id, env, pubs, lim)
		if reason != "" {
			reasons = append(reasons, reason)
			continue
		}
		att.IntegratedAt = timeOf(r.GetIntegratedTime())
		out = append(out, att)
	}
	slices.SortFunc(out, func(a, b verifier.Attestation) int { return strings.Compare(a.ID, b.ID) })
	return out, hints, reasons, nil
}

// timeOf is t as a time, the zero time (unbounded, for key windows) when absent.
func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
