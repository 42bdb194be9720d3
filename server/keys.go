package server

import (
	"context"
	"errors"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
)

// maxKeyPEMBytes bounds a submitted public key; an RSA-8192 PEM is under 1.5 KiB, a certificate a few KiB.
const maxKeyPEMBytes = 16 << 10

// AddKey registers a functionary public key with the project, or a layout-owner key when req.owner is set.
func (s *Server) AddKey(ctx context.Context, req *attestdv1.AddKeyRequest) (*attestdv1.AddKeyResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "register keys", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	if len(req.GetPublicKeyPem()) > maxKeyPEMBytes {
		return nil, &attestation.LimitError{Limit: "key PEM size, fixed", Max: maxKeyPEMBytes, Got: len(req.GetPublicKeyPem()), What: "public key PEM bytes"}
	}
	pub, err := attestation.ParsePublicKey([]byte(req.GetPublicKeyPem()))
	if err != nil {
		return nil, err
	}
	if err := checkDescription(req.GetDescription()); err != nil {
		return nil, err
	}
	now := s.now()
	k := store.Key{
		ProjectID:   proj.ID,
		KeyID:       pub.ID,
		KeyType:     pub.KeyType,
		Scheme:      pub.Scheme,
		PublicPEM:   pub.PEM,
		Description: req.GetDescription(),
		CreatedAt:   now,
		Owner:       req.GetOwner(),
	}
	if req.GetExpireTime() != nil {
		if err := req.GetExpireTime().CheckValid(); err != nil {
			return nil, invalidf("expire_time: %v", err)
		}
		exp := req.GetExpireTime().AsTime().UTC()
		if !exp.After(now) {
			return nil, invalidf("expire_time %s is not in the future", exp.Format("2006-01-02T15:04:05Z07:00"))
		}
		k.ExpiresAt = &exp
	}
	if err := s.store.AddKey(ctx, k); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, alreadyExistsf("key %s is already registered in project %q", pub.ID, proj.Name)
		}
		return nil, err
	}
	s.logger.InfoContext(ctx, "key added", "project", proj.Name, "key_id", k.KeyID, "scheme", k.Scheme, "owner", k.Owner)
	return &attestdv1.AddKeyResponse{Key: keyPB(k, proj.Name)}, nil
}

// ListKeys lists the project's keys, revoked and expired ones included. Public keys are not secret: every
// project role may list them.
func (s *Server) ListKeys(ctx context.Context, req *attestdv1.ListKeysRequest) (*attestdv1.ListKeysResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "list keys", rolesRead...)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.ListKeys(ctx, proj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*attestdv1.Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyPB(k, proj.Name))
	}
	return &attestdv1.ListKeysResponse{Keys: out}, nil
}

// RevokeKey revokes a key: signatures by it are refused from now on.
func (s *Server) RevokeKey(ctx context.Context, req *attestdv1.RevokeKeyRequest) (*attestdv1.RevokeKeyResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "revoke keys", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	if req.GetKeyId() == "" {
		return nil, invalidf("key_id is required")
	}
	if err := s.store.RevokeKey(ctx, proj.ID, req.GetKeyId(), s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFoundf("key %q not found in project %q", clip(req.GetKeyId()), proj.Name)
		}
		return nil, err
	}
	keys, err := s.store.ListKeys(ctx, proj.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.KeyID == req.GetKeyId() {
			s.logger.InfoContext(ctx, "key revoked", "project", proj.Name, "key_id", k.KeyID)
			return &attestdv1.RevokeKeyResponse{Key: keyPB(k, proj.Name)}, nil
		}
	}
	return nil, notFoundf("key %q not found in project %q", clip(req.GetKeyId()), proj.Name)
}
