package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
)

// Bounds on token requests.
const (
	maxTokenSteps     = 64
	maxStepNameBytes  = 128
	maxDescriptionLen = 256
	tokenSecretPrefix = "attd_"
)

// NewToken makes a fresh token: a public id and a secret of 256 random bits. Only its hash is ever stored.
func NewToken(role string, projectID int64) (store.Token, string, error) {
	var idBytes [8]byte
	var secretBytes [32]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return store.Token{}, "", fmt.Errorf("token id: %w", err)
	}
	if _, err := rand.Read(secretBytes[:]); err != nil {
		return store.Token{}, "", fmt.Errorf("token secret: %w", err)
	}
	secret := tokenSecretPrefix + base64.RawURLEncoding.EncodeToString(secretBytes[:])
	return store.Token{
		ID:        hex.EncodeToString(idBytes[:]),
		Hash:      HashToken(secret),
		ProjectID: projectID,
		Role:      role,
	}, secret, nil
}

func checkStepName(step string) error {
	if step == "" || len(step) > maxStepNameBytes || !utf8.ValidString(step) ||
		strings.ContainsFunc(step, func(r rune) bool { return unicode.IsControl(r) || r == ',' }) {
		return invalidf("step name %q: want 1-%d printable characters without commas", clip(step), maxStepNameBytes)
	}
	return nil
}

func checkDescription(d string) error {
	if len(d) > maxDescriptionLen || !utf8.ValidString(d) || strings.ContainsFunc(d, unicode.IsControl) {
		return invalidf("description: want at most %d printable characters", maxDescriptionLen)
	}
	return nil
}

// tokenScope finds the project whose tokens a request manages: server admins name one (or none, for
// server-admin tokens); project admins manage their own.
func (s *Server) tokenScope(ctx context.Context, project string) (store.Project, error) {
	p, _ := principalFrom(ctx)
	if p.isServerAdmin() && project == "" {
		return store.Project{}, nil
	}
	_, proj, err := s.resolveProject(ctx, project, "manage tokens", rolesAdmin...)
	return proj, err
}

// CreateToken issues a token. The secret is in the answer and nowhere else.
func (s *Server) CreateToken(ctx context.Context, req *attestdv1.CreateTokenRequest) (*attestdv1.CreateTokenResponse, error) {
	role := req.GetRole()
	switch role {
	case store.RoleServerAdmin:
		if err := s.requireServerAdmin(ctx, "create server-admin tokens"); err != nil {
			return nil, err
		}
		if req.GetProject() != "" {
			return nil, invalidf("a server-admin token belongs to no project: leave project empty")
		}
	case store.RoleAdmin, store.RoleAttestor, store.RoleReader, store.RoleVerifier:
		p, _ := principalFrom(ctx)
		if p.isServerAdmin() && req.GetProject() == "" {
			return nil, invalidf("project is required for a %s token", role)
		}
	default:
		return nil, invalidf("role %q: want one of server-admin, admin, attestor, reader, verifier", clip(role))
	}
	proj, err := s.tokenScope(ctx, req.GetProject())
	if err != nil {
		return nil, err
	}
	steps := req.GetSteps()
	if len(steps) > 0 && role != store.RoleAttestor {
		return nil, invalidf("steps limit attestor tokens only, not %s tokens", role)
	}
	if len(steps) > maxTokenSteps {
		return nil, invalidf("%d steps: at most %d", len(steps), maxTokenSteps)
	}
	for _, st := range steps {
		if err := checkStepName(st); err != nil {
			return nil, err
		}
	}
	if err := checkDescription(req.GetDescription()); err != nil {
		return nil, err
	}
	tok, secret, err := NewToken(role, proj.ID)
	if err != nil {
		return nil, err
	}
	tok.Steps = slices.Compact(slices.Sorted(slices.Values(steps)))
	tok.Description = req.GetDescription()
	tok.CreatedAt = s.now()
	if err := s.store.CreateToken(ctx, tok); err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "token created", "token_id", tok.ID, "role", role, "project", proj.Name)
	return &attestdv1.CreateTokenResponse{Token: tokenPB(tok, proj.Name), Secret: secret}, nil
}

// ListTokens lists a project's tokens (or the server-admin tokens), revoked ones included; never secrets.
func (s *Server) ListTokens(ctx context.Context, req *attestdv1.ListTokensRequest) (*attestdv1.ListTokensResponse, error) {
	proj, err := s.tokenScope(ctx, req.GetProject())
	if err != nil {
		return nil, err
	}
	toks, err := s.store.ListTokens(ctx, proj.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*attestdv1.Token, 0, len(toks))
	for _, t := range toks {
		out = append(out, tokenPB(t, proj.Name))
	}
	return &attestdv1.ListTokensResponse{Tokens: out}, nil
}

// RevokeToken revokes a token; from then on it is UNAUTHENTICATED.
func (s *Server) RevokeToken(ctx context.Context, req *attestdv1.RevokeTokenRequest) (*attestdv1.RevokeTokenResponse, error) {
	proj, err := s.tokenScope(ctx, req.GetProject())
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, invalidf("token id is required")
	}
	if proj.ID == 0 {
		if err := s.keepOneServerAdmin(ctx, req.GetId()); err != nil {
			return nil, err
		}
	}
	if err := s.store.RevokeToken(ctx, proj.ID, req.GetId(), s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFoundf("token %q not found", clip(req.GetId()))
		}
		return nil, err
	}
	toks, err := s.store.ListTokens(ctx, proj.ID)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if t.ID == req.GetId() {
			s.logger.InfoContext(ctx, "token revoked", "token_id", t.ID, "project", proj.Name)
			return &attestdv1.RevokeTokenResponse{Token: tokenPB(t, proj.Name)}, nil
		}
	}
	return nil, notFoundf("token %q not found", clip(req.GetId()))
}

// keepOneServerAdmin refuses to revoke the last active server-admin token: nothing could create another.
func (s *Server) keepOneServerAdmin(ctx context.Context, revoking string) error {
	toks, err := s.store.ListTokens(ctx, 0)
	if err != nil {
		return err
	}
	active := 0
	target := false
	for _, t := range toks {
		if t.RevokedAt == nil {
			active++
			target = target || t.ID == revoking
		}
	}
	if target && active == 1 {
		return fmt.Errorf("%w: token %s is the last active server-admin token; create another before revoking it", errFailedPrecondition, revoking)
	}
	return nil
}
