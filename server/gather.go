package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/verifier"
)

// Bounds of the candidate gathering of Verify.
const (
	// maxVerifyCandidates bounds the attestations gathered for one decision.
	maxVerifyCandidates = 10000
	// stepHintCount bounds the attestations of one step that Verify adds by the step's name alone, to explain
	// a broken chain (see gathered.hints).
	stepHintCount = 10
)

// gathered is what gatherCandidates found for one decision.
type gathered struct {
	// walked and consumed are the digests the walk back asked for as subjects and the consumer pass as
	// materials; truncated says that a query returned as many rows as it could (so more may exist). They say
	// what a later attestation must touch to change the result (see keptGathering).
	walked, consumed map[store.Digest]bool
	truncated        bool
	// hintSteps are the steps whose newest attestations were asked for as hints: a new one changes them.
	hintSteps []string

	// related are connected to the artifact by digests: found walking back from it through subjects and
	// materials, or consuming a digest seen on that walk. Sorted by id.
	related []store.Attestation
	// hints are the newest attestations of a step that nothing related has, found by the step's name alone,
	// disjoint from related, sorted by id. They only explain a denial (verifier.VerifyWithHints never lets them
	// allow).
	hints []store.Attestation
}

// hintIDs returns the ids of the hints, for verifier.VerifyWithHints.
func (g gathered) hintIDs() []string {
	ids := make([]string, 0, len(g.hints))
	for _, h := range g.hints {
		ids = append(ids, h.ID)
	}
	return ids
}

// all returns related and hints together, sorted by id.
func (g gathered) all() []store.Attestation {
	out := append(slices.Clone(g.related), g.hints...)
	slices.SortFunc(out, func(a, b store.Attestation) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// gatherCandidates gathers the candidates of a decision about the artifact with digest alg:value against
// layout, in three passes, each a few set-based queries (one per level, whatever the number of digests), the
// rows read without their envelopes:
//
//  1. The walk back: the attestations whose subject is the digest, then those whose subject is a material of
//     one of them, level by level, at most one level more than the layout has steps, each digest visited once.
//  2. Consumers: for the steps of the layout that the walk found nothing of, the attestations of those steps
//     whose materials include a digest seen so far, then those consuming their products, and so on, at most
//     as many levels as the layout has steps. A "test" step, which consumes the build's products and
//     produces a report nothing else consumes, is found here, and so is a side branch of several steps
//     (compile the tests, then run them).
//  3. Hints: for every step still without a candidate that the last step is, or that a rule of a step with
//     candidates MATCHes FROM, its newest stepHintCount attestations by name, so that the engine can name
//     the product that does not match ("product app.tar of build does not match material app.tar of
//     package") instead of only "step build has no attestation".
//
// The candidates of all three count toward maxVerifyCandidates (more is a *attestation.LimitError); each query
// of pass 2 reads at most that many rows, newest first: a material that everything consumes (a base image)
// can leave a step without attestation, never allow more. The step names of passes 2 and 3 are the indexed
// columns: they only select; the engine judges the signed statements.
func (s *Server) gatherCandidates(ctx context.Context, projectID int64, alg, value string, layout *verifier.Layout) (gathered, error) {
	byID := map[string]store.Attestation{}
	add := func(a store.Attestation) error {
		if _, ok := byID[a.ID]; ok {
			return nil
		}
		byID[a.ID] = a
		if len(byID) > maxVerifyCandidates {
			return candidateLimit(len(byID))
		}
		return nil
	}

	walked, consumed, truncated := map[store.Digest]bool{}, map[store.Digest]bool{}, false

	// 1. The walk back.
	start := store.Digest{Algorithm: alg, Value: value}
	visited := map[store.Digest]bool{start: true}
	seen := []store.Digest{start} // in the order visited
	frontier := []store.Digest{start}
	for depth := 0; depth <= len(layout.Steps) && len(frontier) > 0; depth++ {
		limit := maxVerifyCandidates + 1 - len(byID)
		rows, err := s.related(ctx, projectID, frontier, nil, limit)
		if err != nil {
			return gathered{}, err
		}
		for _, d := range frontier {
			walked[d] = true
		}
		truncated = truncated || len(rows) >= limit
		var next []store.Digest
		for _, a := range rows {
			if _, dup := byID[a.ID]; dup {
				continue
			}
			if err := add(a); err != nil {
				return gathered{}, err
			}
			for _, m := range a.Materials {
				md := store.Digest{Algorithm: m.Algorithm, Value: m.Digest}
				if !visited[md] {
					visited[md] = true
					seen = append(seen, md)
					next = append(next, md)
				}
			}
		}
		frontier = next
	}

	hasStep := func() map[string]bool {
		out := map[string]bool{}
		for _, a := range byID {
			out[a.Step] = true
		}
		return out
	}

	// 2. Consumers of what was seen, for the steps the walk found nothing of, and the consumers of their
	// products in turn.
	found := hasStep()
	missing := map[string]bool{}
	for _, st := range layout.Steps {
		if !found[st.Name] {
			missing[st.Name] = true
		}
	}
	frontier = seen
	for depth := 0; depth < len(layout.Steps) && len(frontier) > 0 && len(missing) > 0; depth++ {
		rows, err := s.related(ctx, projectID, nil, frontier, maxVerifyCandidates)
		if err != nil {
			return gathered{}, err
		}
		for _, d := range frontier {
			consumed[d] = true
		}
		truncated = truncated || len(rows) >= maxVerifyCandidates
		var next []store.Digest
		for _, a := range rows {
			if _, dup := byID[a.ID]; dup || !missing[a.Step] {
				continue
			}
			if err := add(a); err != nil {
				return gathered{}, err
			}
			for _, p := range a.Subjects {
				pd := store.Digest{Algorithm: p.Algorithm, Value: p.Digest}
				if !visited[pd] {
					visited[pd] = true
					next = append(next, pd)
				}
			}
		}
		frontier = next
	}
	out := gathered{related: sortedAttestations(byID), walked: walked, consumed: consumed, truncated: truncated}

	// 3. Hints, for the steps whose absence breaks the chain.
	found = hasStep()
	referenced := map[string]bool{}
	if n := len(layout.Steps); n > 0 {
		referenced[layout.Steps[n-1].Name] = true
	}
	for _, st := range layout.Steps {
		if !found[st.Name] {
			continue
		}
		for _, r := range append(slices.Clone(st.Materials), st.Products...) {
			if r.Type == verifier.RuleMatch {
				referenced[r.DstStep] = true
			}
		}
	}
	hints := map[string]store.Attestation{}
	for _, st := range layout.Steps {
		if found[st.Name] || !referenced[st.Name] {
			continue
		}
		out.hintSteps = append(out.hintSteps, st.Name)
		page, err := s.store.ListAttestations(ctx, projectID, store.Filter{Step: st.Name, Limit: stepHintCount})
		if err != nil {
			return gathered{}, err
		}
		for _, a := range page {
			if _, dup := byID[a.ID]; dup {
				continue
			}
			if err := add(a); err != nil {
				return gathered{}, err
			}
			hints[a.ID] = a
		}
	}
	out.hints = sortedAttestations(hints)
	return out, nil
}

// gatherKey names a kept gathering: the project, the layout's bytes (whose steps bound the walk) and the
// artifact's digest.
type gatherKey struct {
	project  int64
	layoutID string
	digest   store.Digest
}

// gatherEntry is a kept gathering and what a later row must touch to change it, hashed as the feed hashes
// digests: a subject among walked, a material among consumed, or a step among hintSteps.
type gatherEntry struct {
	feed *leafFeed
	pos  uint64 // the feed's position up to which the gathering is known to hold
	id   uint64 // names the gathering (decisionKey); kept while it is carried forward

	walked, consumed map[uint64]bool
	hintSteps        map[string]bool
	result           gathered
}

// keptGathering returns the kept gathering of key, and its id, if no row settled since it was made could
// change it: with none of the project's rows since touching what it asked for, a new gathering would find
// what the kept one found. It reads the sequencer's feed, not the database; a gathering older than the feed
// remembers is not returned.
func (s *Server) keptGathering(key gatherKey, feed *leafFeed) (gathered, uint64, bool) {
	kept, ok := s.cache.gathers.Get(key)
	if !ok || kept.feed != feed {
		return gathered{}, 0, false
	}
	entries, next, ok := feed.since(kept.pos)
	if !ok {
		return gathered{}, 0, false
	}
	for _, e := range entries {
		if e.project != key.project {
			continue
		}
		if kept.hintSteps[e.step] {
			return gathered{}, 0, false
		}
		for _, h := range e.subjects {
			if kept.walked[h] {
				return gathered{}, 0, false
			}
		}
		for _, h := range e.materials {
			if kept.consumed[h] {
				return gathered{}, 0, false
			}
		}
	}
	if next > kept.pos {
		kept.pos = next
		s.cache.gathers.Add(key, kept)
	}
	return kept.result, kept.id, true
}

// keepGathering keeps g for key, made from rows all visible at the feed's position pos, and returns its id; 0
// when it may not be kept: a query returned as many rows as it could (more may exist beyond them).
func (s *Server) keepGathering(key gatherKey, feed *leafFeed, pos uint64, g gathered) uint64 {
	if g.truncated {
		return 0
	}
	e := gatherEntry{feed: feed, pos: pos, id: s.cache.gatherSeq.Add(1), result: g,
		walked: make(map[uint64]bool, len(g.walked)), consumed: make(map[uint64]bool, len(g.consumed)),
		hintSteps: make(map[string]bool, len(g.hintSteps))}
	for d := range g.walked {
		e.walked[feed.digestHash(d)] = true
	}
	for d := range g.consumed {
		e.consumed[feed.digestHash(d)] = true
	}
	for _, st := range g.hintSteps {
		e.hintSteps[st] = true
	}
	s.cache.gathers.Add(key, e)
	return e.id
}

func candidateLimit(got int) error {
	return &attestation.LimitError{Limit: "max-verify-candidates, fixed", Max: maxVerifyCandidates,
		Got: got, What: "candidate attestations gathered for one decision"}
}

// related returns the attestations with a subject among subjects or a material among materials, newest first,
// at most limit (at least 1), in as many queries as the store's bound on digests per query needs.
func (s *Server) related(ctx context.Context, projectID int64, subjects, materials []store.Digest, limit int) ([]store.Attestation, error) {
	limit = max(limit, 1)
	var out []store.Attestation
	for len(subjects)+len(materials) > 0 && len(out) < limit {
		n := min(len(subjects), store.MaxRelatedDigests)
		m := min(len(materials), store.MaxRelatedDigests-n)
		rows, err := s.store.RelatedAttestations(ctx, projectID, subjects[:n], materials[:m], limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("gather candidates: %w", err)
		}
		out = append(out, rows...)
		subjects, materials = subjects[n:], materials[m:]
	}
	return out, nil
}

// sortedAttestations returns the candidates by id, leaving out verification summaries: they are attestd's own
// statements about an artifact, not steps of its pipeline, and would only add noise to a decision's reasons.
func sortedAttestations(m map[string]store.Attestation) []store.Attestation {
	out := make([]store.Attestation, 0, len(m))
	for _, a := range m {
		if a.PredicateType == VSAPredicateType {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b store.Attestation) int { return strings.Compare(a.ID, b.ID) })
	return out
}
