package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/attestd/attestd/internal/store"
)

// principal is the authenticated caller of one request.
type principal struct {
	token   store.Token
	project store.Project // zero for server-admin tokens
}

func (p principal) isServerAdmin() bool { return p.token.Role == store.RoleServerAdmin }

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// maxTokenBytes bounds what is hashed and looked up; real tokens are far shorter.
const maxTokenBytes = 512

// HashToken is how bearer secrets are stored: only their sha256.
func HashToken(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// authenticate resolves the bearer token in ctx's metadata to a principal.
func (s *Server) authenticate(ctx context.Context) (principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return principal{}, fmt.Errorf("%w: missing bearer token (authorization metadata)", errUnauthenticated)
	}
	if len(values) > 1 {
		return principal{}, fmt.Errorf("%w: more than one authorization header", errUnauthenticated)
	}
	scheme, secret, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || secret == "" {
		return principal{}, fmt.Errorf("%w: authorization must be \"Bearer <token>\"", errUnauthenticated)
	}
	if len(secret) > maxTokenBytes {
		return principal{}, fmt.Errorf("%w: unknown token", errUnauthenticated)
	}
	h := sha256.Sum256([]byte(secret))
	p, ok, epoch := s.auth.lookup(h)
	if ok {
		return p, nil
	}
	tok, proj, err := s.store.Authenticate(ctx, h[:])
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, fmt.Errorf("%w: unknown token", errUnauthenticated)
	}
	if err != nil {
		return principal{}, fmt.Errorf("look up token: %w", err)
	}
	if tok.RevokedAt != nil {
		return principal{}, fmt.Errorf("%w: token %s was revoked", errUnauthenticated, tok.ID)
	}
	p = principal{token: tok, project: proj}
	s.auth.keep(h, p, epoch)
	return p, nil
}

// resolveProject finds the project a request acts on and checks that the caller may act on it in one of the
// given roles. A project the caller cannot see is NOT_FOUND, whether or not it exists.
func (s *Server) resolveProject(ctx context.Context, name, action string, roles ...string) (principal, store.Project, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		return principal{}, store.Project{}, fmt.Errorf("%w: no principal", errUnauthenticated)
	}
	if p.isServerAdmin() {
		if name == "" {
			return p, store.Project{}, invalidf("project is required with a server-admin token")
		}
		if err := checkProjectName(name); err != nil {
			return p, store.Project{}, err
		}
		proj, err := s.store.ProjectByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return p, store.Project{}, notFoundf("project %q not found", name)
		}
		return p, proj, err
	}
	if name != "" && name != p.project.Name {
		return p, store.Project{}, notFoundf("project %q not found", name)
	}
	if !slices.Contains(roles, p.token.Role) {
		return p, store.Project{}, deniedf("a %s token may not %s", p.token.Role, action)
	}
	return p, p.project, nil
}

// Role sets used by the handlers.
var (
	rolesRead   = []string{store.RoleAdmin, store.RoleAttestor, store.RoleReader, store.RoleVerifier}
	rolesSubmit = []string{store.RoleAdmin, store.RoleAttestor}
	rolesAdmin  = []string{store.RoleAdmin}
)
