package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Bounds of the graph walks of Provenance and Dependents.
const (
	defaultGraphDepth = 16
	maxGraphDepth     = 64
	defaultGraphNodes = 500
	maxGraphNodes     = 5000
	// maxGraphArtifacts bounds the subjects and materials of the attestations in one answer (a step may list
	// thousands of files, and the answer names each): the walk stops there as it does at max_nodes. The first
	// attestation always fits, whatever its size.
	maxGraphArtifacts = 100_000
	// maxGraphDigests bounds the digests that one walk asks about, so that a graph of steps that list
	// thousands of files each stays a few queries per level; the digests past it are not followed.
	maxGraphDigests = 4 * store.MaxRelatedDigests
)

// graphWalk walks breadth first from a digest through the project's logged attestations: back from each digest
// to the attestations that have it as a subject and on to their materials (Provenance), or forward to those
// that have it as a material and on to their subjects (Dependents). Each level is one query (more only past
// store.MaxRelatedDigests digests) whatever the number of digests, read without envelopes or names; each digest
// is asked about once, so that cycles end.
type graphWalk struct {
	store     store.Store
	projectID int64
	forward   bool
	maxDepth  int
	maxNodes  int

	// nodes are the attestations of the graph in the order they were taken: by depth, newest first.
	nodes []graphNode
	index map[string]int // position in nodes, by id
	// found holds, for every digest asked about in a query that answered in full, the ids of all the
	// attestations that have it (as a subject walking back, as a material walking forward), taken or not.
	found     map[store.Digest][]string
	asked     map[store.Digest]bool
	artifacts int // subjects and materials of nodes
	truncated bool
}

// graphNode is one attestation of the graph: a row as RelatedAttestations returns it (digests without names).
type graphNode struct {
	row   store.Attestation
	depth int
	// via is the smallest of the digests of the level before it (the asked one at depth 1) that it has: the
	// way the walk came to it.
	via store.Digest
}

func newGraphWalk(st store.Store, projectID int64, forward bool, maxDepth, maxNodes int) *graphWalk {
	return &graphWalk{store: st, projectID: projectID, forward: forward, maxDepth: maxDepth, maxNodes: maxNodes,
		index: map[string]int{}, found: map[store.Digest][]string{}, asked: map[store.Digest]bool{}}
}

// run walks from start until no digest is left to follow. Past max_depth it asks one level more without
// taking anything, to tell a graph that ends there from one that goes on (truncated) and to know the sources
// of the deepest level.
func (w *graphWalk) run(ctx context.Context, start store.Digest) error {
	w.asked[start] = true
	frontier := []store.Digest{start}
	for depth := 1; len(frontier) > 0; depth++ {
		rows, complete, err := w.query(ctx, frontier)
		if err != nil {
			return err
		}
		inFrontier := make(map[store.Digest]bool, len(frontier))
		for _, d := range frontier {
			inFrontier[d] = true
		}
		if complete {
			for _, d := range frontier {
				w.found[d] = nil
			}
			for _, a := range rows {
				for _, d := range w.inward(a) {
					if inFrontier[d] && !slices.Contains(w.found[d], a.ID) {
						w.found[d] = append(w.found[d], a.ID)
					}
				}
			}
		} else {
			w.truncated = true // more rows than a level may take: some were not read
		}
		frontier = nil
		for _, a := range rows {
			if _, dup := w.index[a.ID]; dup {
				continue
			}
			if depth > w.maxDepth || !w.fits(a) {
				w.truncated = true
				break
			}
			w.take(a, depth, inFrontier)
			for _, d := range w.outward(a) {
				if w.asked[d] {
					continue
				}
				if len(w.asked) >= maxGraphDigests {
					w.truncated = true
					break
				}
				w.asked[d] = true
				frontier = append(frontier, d)
			}
		}
	}
	return nil
}

// fits reports whether a may join the graph within max_nodes and maxGraphArtifacts.
func (w *graphWalk) fits(a store.Attestation) bool {
	if len(w.nodes) >= w.maxNodes {
		return false
	}
	return len(w.nodes) == 0 || w.artifacts+len(a.Subjects)+len(a.Materials) <= maxGraphArtifacts
}

// take adds a to the graph at depth.
func (w *graphWalk) take(a store.Attestation, depth int, inFrontier map[store.Digest]bool) {
	n := graphNode{row: a, depth: depth}
	first := true
	for _, d := range w.inward(a) {
		if inFrontier[d] && (first || compareGraphDigests(d, n.via) < 0) {
			n.via, first = d, false
		}
	}
	w.index[a.ID] = len(w.nodes)
	w.nodes = append(w.nodes, n)
	w.artifacts += len(a.Subjects) + len(a.Materials)
}

// inward returns the digests by which the walk reaches a (its subjects walking back, its materials walking
// forward); outward, those it goes on with.
func (w *graphWalk) inward(a store.Attestation) []store.Digest {
	if w.forward {
		return graphDigests(a.Materials)
	}
	return graphDigests(a.Subjects)
}

func (w *graphWalk) outward(a store.Attestation) []store.Digest {
	if w.forward {
		return graphDigests(a.Subjects)
	}
	return graphDigests(a.Materials)
}

// query returns the attestations that have one of digests (as a subject walking back, as a material walking
// forward), each once, newest first, and whether that is all of them: at most max_nodes + 1, which is one more
// than the level can take even if every attestation already in the graph comes back.
func (w *graphWalk) query(ctx context.Context, digests []store.Digest) ([]store.Attestation, bool, error) {
	limit := w.maxNodes + 1
	var out []store.Attestation
	seen := map[string]bool{}
	complete := true
	for len(digests) > 0 {
		n := min(len(digests), store.MaxRelatedDigests)
		var subjects, materials []store.Digest
		if w.forward {
			materials = digests[:n]
		} else {
			subjects = digests[:n]
		}
		rows, err := w.store.RelatedAttestations(ctx, w.projectID, subjects, materials, limit-len(out))
		if err != nil {
			return nil, false, fmt.Errorf("walk the provenance graph through %d digests: %w", n, err)
		}
		full := len(rows) >= limit-len(out)
		for _, a := range rows {
			if !seen[a.ID] {
				seen[a.ID] = true
				out = append(out, a)
			}
		}
		digests = digests[n:]
		if full {
			complete = false
			break
		}
	}
	// Past store.MaxRelatedDigests digests the rows come from several queries: newest first across them.
	slices.SortFunc(out, func(a, b store.Attestation) int { return cmp.Compare(b.Seq, a.Seq) })
	return out, complete, nil
}

// names reads the graph's attestations with the names of their artifacts, by id, MaxGetAttestations at a time.
func (w *graphWalk) names(ctx context.Context) (map[string]store.Attestation, error) {
	ids := make([]string, len(w.nodes))
	for i, n := range w.nodes {
		ids[i] = n.row.ID
	}
	out := make(map[string]store.Attestation, len(ids))
	for chunk := range slices.Chunk(ids, store.MaxGetAttestations) {
		rows, err := w.store.GetAttestationsWithoutEnvelope(ctx, w.projectID, chunk)
		if err != nil {
			return nil, fmt.Errorf("read the %d attestations of the provenance graph: %w", len(ids), err)
		}
		for _, a := range rows {
			out[a.ID] = a
		}
	}
	return out, nil
}

// sorted returns the nodes by depth, then newest first (integrated time), then by id.
func (w *graphWalk) sorted() []graphNode {
	out := slices.Clone(w.nodes)
	slices.SortFunc(out, func(a, b graphNode) int {
		return cmp.Or(cmp.Compare(a.depth, b.depth), graphNewestFirst(a.row.CreatedAt, b.row.CreatedAt),
			strings.Compare(a.row.ID, b.row.ID))
	})
	return out
}

func graphNewestFirst(a, b time.Time) int { return b.Compare(a) }

func graphDigests(list []store.Artifact) []store.Digest {
	out := make([]store.Digest, len(list))
	for i, a := range list {
		out[i] = store.Digest{Algorithm: a.Algorithm, Value: a.Digest}
	}
	return out
}

func compareGraphDigests(a, b store.Digest) int {
	return cmp.Or(strings.Compare(a.Algorithm, b.Algorithm), strings.Compare(a.Value, b.Value))
}

func graphDigestString(d store.Digest) string { return d.Algorithm + ":" + d.Value }
