package server

import (
	"context"
	"errors"
	"fmt"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
)

// The LogService handlers. The log is public by design (its entries are opaque commitments, and the same
// tiles are served over HTTP), so any authenticated caller may read checkpoints, entries and consistency
// proofs; proofs by attestation id are scoped to the caller's project like every other attestation read.

func (s *Server) requireLog() error {
	if s.log == nil {
		return fmt.Errorf("%w: no log configured", errLogUnavailable)
	}
	return nil
}

// GetCheckpoint returns the latest signed checkpoint.
func (s *Server) GetCheckpoint(ctx context.Context, _ *attestdv1.GetCheckpointRequest) (*attestdv1.GetCheckpointResponse, error) {
	if err := s.requireLog(); err != nil {
		return nil, err
	}
	raw, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	return &attestdv1.GetCheckpointResponse{Checkpoint: raw, Origin: cp.Origin, TreeSize: cp.Size, RootHash: cp.Hash,
		VerifierKey: s.log.VerifierKey()}, nil
}

// GetInclusionProof proves an attestation's leaf against a checkpoint.
func (s *Server) GetInclusionProof(ctx context.Context, req *attestdv1.GetInclusionProofRequest) (*attestdv1.GetInclusionProofResponse, error) {
	if err := s.requireLog(); err != nil {
		return nil, err
	}
	if req.GetAttestationId() == "" && req.LogIndex != nil {
		size, err := s.log.IntegratedSize(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
		}
		if req.GetLogIndex() >= size {
			return nil, fmt.Errorf("%w: leaf %d is beyond the log (size %d)", errOutOfRange, req.GetLogIndex(), size)
		}
		proof, err := s.inclusionProof(ctx, req.GetLogIndex(), req.GetTreeSize(), req.GetWait())
		if err != nil {
			return nil, err
		}
		entry, err := s.log.Entry(ctx, req.GetLogIndex())
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", errLogUnavailable, req.GetLogIndex(), err)
		}
		return &attestdv1.GetInclusionProofResponse{Proof: proof, LogEntry: entry}, nil
	}
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "read attestations", rolesRead...)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetAttestationId()); err != nil {
		return nil, err
	}
	a, err := s.store.GetAttestation(ctx, proj.ID, req.GetAttestationId())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFoundf("attestation %s not found", req.GetAttestationId())
	}
	if err != nil {
		return nil, err
	}
	proof, err := s.inclusionProof(ctx, *a.LogIndex, req.GetTreeSize(), req.GetWait())
	if err != nil {
		return nil, err
	}
	return &attestdv1.GetInclusionProofResponse{Proof: proof, LogEntry: entryFor(proj.Name, a)}, nil
}

// inclusionProof proves leaf index in the tree of treeSize (0: the latest checkpoint, waiting for one that
// covers the leaf when wait is set). The checkpoint is included when the proof is against the latest one.
func (s *Server) inclusionProof(ctx context.Context, index, treeSize uint64, wait bool) (*attestdv1.InclusionProof, error) {
	raw, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	if cp.Size <= index && wait && (treeSize == 0 || treeSize > cp.Size) {
		raw, cp, err = s.log.AwaitIntegration(ctx, index)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
		}
	}
	size := treeSize
	if size == 0 {
		size = cp.Size
	}
	switch {
	case size > cp.Size:
		return nil, fmt.Errorf("%w: tree size %d is beyond the latest checkpoint (%d)", errOutOfRange, size, cp.Size)
	case index >= size && treeSize == 0:
		return nil, fmt.Errorf("%w: leaf %d is not yet covered by a published checkpoint (size %d); retry shortly, or ask to wait",
			errNotIntegrated, index, cp.Size)
	case index >= size:
		return nil, invalidf("leaf %d is not in a tree of size %d", index, size)
	}
	hashes, err := s.log.InclusionProof(ctx, index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: inclusion proof: %v", errLogUnavailable, err)
	}
	p := &attestdv1.InclusionProof{LogIndex: index, TreeSize: size, Hashes: hashes}
	if size == cp.Size {
		p.Checkpoint = raw
	}
	return p, nil
}

// GetConsistencyProof proves that the tree of to_size extends the tree of from_size.
func (s *Server) GetConsistencyProof(ctx context.Context, req *attestdv1.GetConsistencyProofRequest) (*attestdv1.GetConsistencyProofResponse, error) {
	if err := s.requireLog(); err != nil {
		return nil, err
	}
	raw, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	from, to := req.GetFromSize(), req.GetToSize()
	if to == 0 {
		to = cp.Size
	}
	switch {
	case to > cp.Size:
		return nil, fmt.Errorf("%w: to_size %d is beyond the latest checkpoint (%d)", errOutOfRange, to, cp.Size)
	case from > to:
		return nil, invalidf("from_size %d is larger than to_size %d", from, to)
	}
	resp := &attestdv1.GetConsistencyProofResponse{FromSize: from, ToSize: to}
	if from > 0 && from < to {
		if resp.Hashes, err = s.log.ConsistencyProof(ctx, from, to); err != nil {
			return nil, fmt.Errorf("%w: consistency proof: %v", errLogUnavailable, err)
		}
	}
	if to == cp.Size {
		resp.Checkpoint = raw
	}
	return resp, nil
}

// GetEntry returns the entry bytes of one leaf.
func (s *Server) GetEntry(ctx context.Context, req *attestdv1.GetEntryRequest) (*attestdv1.GetEntryResponse, error) {
	if err := s.requireLog(); err != nil {
		return nil, err
	}
	_, cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errLogUnavailable, err)
	}
	if req.GetLogIndex() >= cp.Size {
		return nil, fmt.Errorf("%w: leaf %d is beyond the latest checkpoint (size %d)", errOutOfRange, req.GetLogIndex(), cp.Size)
	}
	entry, err := s.log.Entry(ctx, req.GetLogIndex())
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d: %v", errLogUnavailable, req.GetLogIndex(), err)
	}
	return &attestdv1.GetEntryResponse{LogIndex: req.GetLogIndex(), Entry: entry}, nil
}
