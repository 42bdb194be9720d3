package server

import (
	"cmp"
	"context"
	"slices"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// Provenance answers where an artifact came from: the attestations whose subject is its digest, then those
// whose subject is one of their materials, and so on back to the sources (graphWalk), bounded by max_depth,
// max_nodes and the fixed bounds of the walk. An edge joins a consumer to a producer of one of its materials;
// an attestation that lists a digest as both material and subject (a file a step passed through unchanged)
// is not its own producer: no edge joins it to itself, and the material is a source unless another
// attestation produced it.
func (s *Server) Provenance(ctx context.Context, req *attestdv1.ProvenanceRequest) (*attestdv1.ProvenanceResponse, error) {
	proj, start, w, named, err := s.walkGraph(ctx, req.GetProject(), req.GetDigest(), req.GetMaxDepth(), req.GetMaxNodes(), false)
	if err != nil {
		return nil, err
	}
	resp := &attestdv1.ProvenanceResponse{Digest: graphDigestString(start), Truncated: w.truncated}
	var nodes []store.Attestation // in the answer's order
	producers := map[store.Digest][]string{}
	for _, n := range w.sorted() {
		a, ok := named[n.row.ID]
		if !ok {
			continue // not possible while rows are never deleted; the graph is then simply without it
		}
		nodes = append(nodes, a)
		resp.Nodes = append(resp.Nodes, &attestdv1.ProvenanceNode{Attestation: graphAttestationPB(a, proj.Name),
			Depth: int32(n.depth)})
		for _, d := range graphDigests(a.Subjects) {
			if !slices.Contains(producers[d], a.ID) {
				producers[d] = append(producers[d], a.ID)
			}
		}
	}
	edges := map[graphEdgeKey]bool{}
	sources := map[store.Artifact]bool{}
	for _, a := range nodes {
		for _, m := range a.Materials {
			d := store.Digest{Algorithm: m.Algorithm, Value: m.Digest}
			produced := false
			for _, p := range producers[d] {
				if p != a.ID {
					edges[graphEdgeKey{consumer: a.ID, producer: p, material: m}] = true
					produced = true
				}
			}
			if !produced && w.source(d, a.ID) {
				sources[m] = true
			}
		}
	}
	resp.Edges = graphEdgesPB(edges)
	resp.Sources = graphSourcesPB(sources)
	return resp, nil
}

// source reports whether the walk knows that no attestation but consumer has d as a subject: d was asked
// about in a query that answered in full. Unknown for the digests left unasked when a bound cut the walk.
func (w *graphWalk) source(d store.Digest, consumer string) bool {
	ids, asked := w.found[d]
	if !asked {
		return false
	}
	for _, id := range ids {
		if id != consumer {
			return false
		}
	}
	return true
}

type graphEdgeKey struct {
	consumer, producer string
	material           store.Artifact
}

// graphEdgesPB returns the edges sorted by consumer, producer, then material name (and digest).
func graphEdgesPB(edges map[graphEdgeKey]bool) []*attestdv1.ProvenanceEdge {
	keys := make([]graphEdgeKey, 0, len(edges))
	for k := range edges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b graphEdgeKey) int {
		return cmp.Or(strings.Compare(a.consumer, b.consumer), strings.Compare(a.producer, b.producer),
			compareGraphArtifacts(a.material, b.material))
	})
	out := make([]*attestdv1.ProvenanceEdge, len(keys))
	for i, k := range keys {
		out[i] = &attestdv1.ProvenanceEdge{ConsumerId: k.consumer, ProducerId: k.producer, Material: graphRefPB(k.material)}
	}
	return out
}

// graphSourcesPB returns the sources sorted by name, then digest.
func graphSourcesPB(sources map[store.Artifact]bool) []*attestdv1.ArtifactRef {
	list := make([]store.Artifact, 0, len(sources))
	for a := range sources {
		list = append(list, a)
	}
	slices.SortFunc(list, compareGraphArtifacts)
	return artifactPBs(list)
}

// Dependents answers what was built from a digest: the subjects of the attestations that have it as a
// material, then those of the attestations that consume one of them, and so on (graphWalk forward), bounded
// as Provenance is. Each subject of each attestation is one Dependent, by depth, then newest first.
func (s *Server) Dependents(ctx context.Context, req *attestdv1.DependentsRequest) (*attestdv1.DependentsResponse, error) {
	_, start, w, named, err := s.walkGraph(ctx, req.GetProject(), req.GetDigest(), req.GetMaxDepth(), req.GetMaxNodes(), true)
	if err != nil {
		return nil, err
	}
	resp := &attestdv1.DependentsResponse{Digest: graphDigestString(start), Truncated: w.truncated}
	for _, n := range w.sorted() {
		a, ok := named[n.row.ID]
		if !ok {
			continue
		}
		subjects := slices.Clone(a.Subjects)
		slices.SortFunc(subjects, compareGraphArtifacts)
		for _, sub := range slices.Compact(subjects) {
			resp.Dependents = append(resp.Dependents, &attestdv1.Dependent{
				Artifact:       graphRefPB(sub),
				AttestationId:  a.ID,
				Step:           a.Step,
				Depth:          int32(n.depth),
				Via:            graphDigestString(n.via),
				IntegratedTime: ts(a.CreatedAt),
			})
		}
	}
	return resp, nil
}

// graphRequest checks the digest and bounds of a Provenance or Dependents request and returns them, the
// defaults put in for zeros.
// walkGraph is the common part of Provenance and Dependents: the caller's project, the checked request, the
// walk from its digest (forward for Dependents) and the walked attestations by id, with their names.
func (s *Server) walkGraph(ctx context.Context, project, digest string, maxDepth, maxNodes int32, forward bool) (
	store.Project, store.Digest, *graphWalk, map[string]store.Attestation, error) {
	_, proj, err := s.resolveProject(ctx, project, "read attestations", rolesRead...)
	if err != nil {
		return store.Project{}, store.Digest{}, nil, nil, err
	}
	start, depth, nodes, err := graphRequest(digest, maxDepth, maxNodes)
	if err != nil {
		return store.Project{}, store.Digest{}, nil, nil, err
	}
	w := newGraphWalk(s.store, proj.ID, forward, depth, nodes)
	if err := w.run(ctx, start); err != nil {
		return store.Project{}, store.Digest{}, nil, nil, err
	}
	named, err := w.names(ctx)
	if err != nil {
		return store.Project{}, store.Digest{}, nil, nil, err
	}
	return proj, start, w, named, nil
}

func graphRequest(digest string, maxDepth, maxNodes int32) (store.Digest, int, int, error) {
	if digest == "" {
		return store.Digest{}, 0, 0, invalidf("digest is required (ALG:HEX, e.g. sha256:9f86...)")
	}
	if len(digest) > maxFilterBytes {
		return store.Digest{}, 0, 0, invalidf("digest is longer than %d bytes", maxFilterBytes)
	}
	alg, value, err := attestation.ParseDigest(digest)
	if err != nil {
		return store.Digest{}, 0, 0, err // an *attestation.InputError naming the field "digest"
	}
	depth, err := graphBound("max_depth", maxDepth, defaultGraphDepth, maxGraphDepth)
	if err != nil {
		return store.Digest{}, 0, 0, err
	}
	nodes, err := graphBound("max_nodes", maxNodes, defaultGraphNodes, maxGraphNodes)
	if err != nil {
		return store.Digest{}, 0, 0, err
	}
	return store.Digest{Algorithm: alg, Value: value}, depth, nodes, nil
}

// graphBound is the value of a bound field: def for 0, v itself up to max; a negative v or one over max is
// INVALID_ARGUMENT naming the field and the bound.
func graphBound(field string, v int32, def, max int) (int, error) {
	switch {
	case v < 0:
		return 0, invalidf("%s %d is negative", field, v)
	case v == 0:
		return def, nil
	case int(v) > max:
		return 0, invalidf("%s %d is over the bound of %d", field, v, max)
	}
	return int(v), nil
}

// graphAttestationPB is a's message without its envelope, which a graph never carries. The log entry commits
// to the envelope's sha256, which is the id: it is computed from that (attestationPB would hash the absent
// envelope).
func graphAttestationPB(a store.Attestation, project string) *attestdv1.Attestation {
	out := attestationPB(a, project, false)
	if a.LogIndex != nil {
		out.Receipt.LogEntry = tlog.EntryFor(project, a.ID, a.ID)
	}
	return out
}

func graphRefPB(a store.Artifact) *attestdv1.ArtifactRef {
	return &attestdv1.ArtifactRef{Name: a.Name, Algorithm: a.Algorithm, Digest: a.Digest}
}

func compareGraphArtifacts(a, b store.Artifact) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Algorithm, b.Algorithm),
		strings.Compare(a.Digest, b.Digest))
}
