package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/verifier"
)

// maxLayoutPushBytes bounds a pushed signed layout. Real layouts are a few KiB; a large organisation's with
// hundreds of keys and steps stays well under it.
const maxLayoutPushBytes = 1 << 20

var layoutNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func checkLayoutName(name string) error {
	if !layoutNameRE.MatchString(name) {
		return invalidf("layout name %q: want 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit", clip(name))
	}
	return nil
}

// PushLayout checks a signed layout and stores it as the next version of its name. Every check runs before
// anything is written: signatures by the project's valid layout-owner keys first, then the layout itself
// (verifier.ParseLayout refuses what attestd cannot enforce), its expiry, and last the history of the name,
// which refuses bytes it had before so that a superseded layout cannot become active again.
func (s *Server) PushLayout(ctx context.Context, req *attestdv1.PushLayoutRequest) (*attestdv1.PushLayoutResponse, error) {
	p, proj, err := s.resolveProject(ctx, req.GetProject(), "push layouts", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	if err := checkLayoutName(req.GetName()); err != nil {
		return nil, err
	}
	raw := req.GetContent()
	if len(raw) == 0 {
		return nil, invalidf("content: the signed layout is empty")
	}
	if len(raw) > maxLayoutPushBytes {
		return nil, &attestation.LimitError{Limit: "max-layout-push-bytes, fixed", Max: maxLayoutPushBytes, Got: len(raw), What: "signed layout bytes"}
	}
	owners, err := s.ownerKeys(ctx, proj)
	if err != nil {
		return nil, err
	}
	signedJSON, signers, err := verifier.VerifyLayoutSignatures(raw, owners)
	if errors.Is(err, verifier.ErrLayoutUnsigned) {
		return nil, deniedf("layout is not signed: sign it with a layout-owner key of project %q (attest layout sign --key OWNER.pem)", proj.Name)
	}
	if errors.Is(err, attestation.ErrNoValidSignature) {
		if len(owners) == 0 {
			return nil, deniedf("layout is not signed by a layout-owner key of project %q (it has no valid one: register one with attest key add --owner)", proj.Name)
		}
		return nil, deniedf("layout is not signed by a layout-owner key of project %q", proj.Name)
	}
	if err != nil {
		return nil, err
	}
	layout, err := verifier.ParseLayout(signedJSON)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !layout.Expires.After(now) {
		return nil, invalidf("layout expired at %s (expires); set a later expiry and sign it again", layout.Expires.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	sum := sha256.Sum256(raw)
	l := store.Layout{
		ProjectID:    proj.ID,
		Name:         req.GetName(),
		ID:           hex.EncodeToString(sum[:]),
		Content:      raw,
		SignerKeyIDs: signers,
		ExpiresAt:    layout.Expires.UTC(),
		PusherID:     p.token.ID,
	}
	// Refuse a replay before its leaf is appended; recordLayout checks again under the store's lock.
	history, err := s.store.ListLayouts(ctx, proj.ID, l.Name)
	if err != nil {
		return nil, fmt.Errorf("load history of layout %q: %w", l.Name, err)
	}
	for _, h := range history {
		if h.ID == l.ID {
			return nil, replayError(l.Name, h.Version)
		}
	}
	stored, err := s.recordLayout(ctx, proj.Name, l)
	var exists *store.LayoutExistsError
	if errors.As(err, &exists) {
		return nil, replayError(l.Name, exists.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("store layout %q: %w", req.GetName(), err)
	}
	s.logger.InfoContext(ctx, "layout pushed", "project", proj.Name, "name", stored.Name, "version", stored.Version,
		"id", stored.ID, "signers", stored.SignerKeyIDs)
	return &attestdv1.PushLayoutResponse{Layout: layoutPB(stored, proj.Name, false)}, nil
}

func replayError(name string, version int64) error {
	return fmt.Errorf("%w: layout %q already pushed as version %d; a superseded layout cannot become active again",
		errFailedPrecondition, name, version)
}

// recordLayout is the layout push's commit, as record is Submit's: leaf first, row second. A leaf whose row
// does not commit becomes an orphan, which a retry of the same push claims.
func (s *Server) recordLayout(ctx context.Context, project string, l store.Layout) (store.Layout, error) {
	q := s.sequencer()
	if q == nil {
		return store.Layout{}, fmt.Errorf("%w: the log is not reconciled yet", errLogUnavailable)
	}
	entry := layoutEntryFor(project, l)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	idx, err := q.sequence(dctx, entry)
	if err != nil {
		return store.Layout{}, fmt.Errorf("%w: layout %q: %v", errLogUnavailable, l.Name, err)
	}
	l.LogIndex = &idx
	l.CreatedAt = s.now()
	stored, err := s.store.AddLayout(dctx, l)
	if err != nil {
		s.orphanLeaf(dctx, q, entry, idx)
		return store.Layout{}, err
	}
	q.settle(idx)
	return stored, nil
}

// ownerKeys returns the project's layout-owner keys that are valid now.
func (s *Server) ownerKeys(ctx context.Context, proj store.Project) ([]*attestation.PublicKey, error) {
	keys, err := s.store.ListKeys(ctx, proj.ID)
	if err != nil {
		return nil, fmt.Errorf("load keys of project %q: %w", proj.Name, err)
	}
	now := s.now()
	var out []*attestation.PublicKey
	for _, k := range keys {
		if !k.Owner || (k.RevokedAt != nil && !k.RevokedAt.After(now)) || (k.ExpiresAt != nil && !k.ExpiresAt.After(now)) {
			continue
		}
		pub, err := attestation.ParsePublicKey([]byte(k.PublicPEM))
		if err != nil {
			s.logger.ErrorContext(ctx, "stored key does not parse", "project", proj.Name, "key_id", k.KeyID, "err", err)
			continue
		}
		out = append(out, pub)
	}
	return out, nil
}

// ListLayouts lists the history of the project's layouts, without their bytes.
func (s *Server) ListLayouts(ctx context.Context, req *attestdv1.ListLayoutsRequest) (*attestdv1.ListLayoutsResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "list layouts", rolesRead...)
	if err != nil {
		return nil, err
	}
	if req.GetName() != "" {
		if err := checkLayoutName(req.GetName()); err != nil {
			return nil, err
		}
	}
	list, err := s.store.ListLayouts(ctx, proj.ID, req.GetName())
	if err != nil {
		return nil, err
	}
	out := make([]*attestdv1.Layout, 0, len(list))
	for _, l := range list {
		out = append(out, layoutPB(l, proj.Name, false))
	}
	return &attestdv1.ListLayoutsResponse{Layouts: out}, nil
}

// GetLayout returns one version of a layout (0: the active one) with its signed bytes.
func (s *Server) GetLayout(ctx context.Context, req *attestdv1.GetLayoutRequest) (*attestdv1.GetLayoutResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "read layouts", rolesRead...)
	if err != nil {
		return nil, err
	}
	if err := checkLayoutName(req.GetName()); err != nil {
		return nil, err
	}
	if req.GetVersion() < 0 {
		return nil, invalidf("version %d: want 1 or more, or 0 for the active version", req.GetVersion())
	}
	l, err := s.store.GetLayout(ctx, proj.ID, req.GetName(), req.GetVersion())
	if errors.Is(err, store.ErrNotFound) {
		if req.GetVersion() == 0 {
			return nil, notFoundf("layout %q not found in project %q", req.GetName(), proj.Name)
		}
		return nil, notFoundf("layout %q version %d not found in project %q", req.GetName(), req.GetVersion(), proj.Name)
	}
	if err != nil {
		return nil, err
	}
	return &attestdv1.GetLayoutResponse{Layout: layoutPB(l, proj.Name, true)}, nil
}

func layoutPB(l store.Layout, project string, withContent bool) *attestdv1.Layout {
	out := &attestdv1.Layout{
		Project:      project,
		Name:         l.Name,
		Version:      l.Version,
		Id:           l.ID,
		SignerKeyIds: slices.Clone(l.SignerKeyIDs),
		ExpireTime:   ts(l.ExpiresAt),
		CreateTime:   ts(l.CreatedAt),
		Pusher:       l.PusherID,
		LogIndex:     l.LogIndex,
	}
	if withContent {
		out.Content = l.Content
	}
	return out
}
