package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

// setupTimeout bounds each call the tool makes to set a run up.
const setupTimeout = time.Minute

// session is the project a run loads and the clients it uses.
type session struct {
	project string
	admin   *attestor.Client  // with the project admin token
	tokens  map[string]string // role -> secret of the tokens the tool created
	tokenID map[string]string // role -> token id, to revoke them at the end
	signer  *attestor.Signer  // the functionary key, registered in the project
	conns   []*attestor.Client
}

// dial connects to attestd with token, in plaintext (the server is on loopback).
func dial(ctx context.Context, server, token string) (*attestor.Client, error) {
	return attestor.Dial(ctx, server, attestor.DialOptions{Token: token, Plaintext: true})
}

// setup prepares the project of a run: with a server-admin token it creates the project "load-<unix time>"
// and an admin token for it; then it registers a new functionary key of --key and creates the attestor,
// reader and verifier tokens the load uses.
func setup(ctx context.Context, cfg *config) (*session, error) {
	s := &session{project: cfg.project, tokens: map[string]string{}, tokenID: map[string]string{}}
	adminToken := cfg.adminToken
	if cfg.token != "" {
		root, err := dial(ctx, cfg.server, cfg.token)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		if s.project, err = createProject(ctx, root); err != nil {
			return nil, err
		}
		tok, err := createToken(ctx, root, s.project, "admin")
		if err != nil {
			return nil, err
		}
		adminToken = tok.GetSecret()
		s.tokenID["admin"] = tok.GetToken().GetId()
	}
	var err error
	if s.admin, err = dial(ctx, cfg.server, adminToken); err != nil {
		return nil, err
	}
	for _, role := range []string{"attestor", "reader", "verifier"} {
		tok, err := createToken(ctx, s.admin, s.project, role)
		if err != nil {
			s.close()
			return nil, err
		}
		s.tokens[role], s.tokenID[role] = tok.GetSecret(), tok.GetToken().GetId()
	}
	if s.signer, err = newSigner(cfg.keyKind); err != nil {
		s.close()
		return nil, err
	}
	if err := s.addKey(ctx, s.signer, false); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// createProject creates load-<unix time>, or load-<unix time>-N if another run took that name this second.
func createProject(ctx context.Context, root *attestor.Client) (string, error) {
	base := "load-" + strconv.FormatInt(time.Now().Unix(), 10)
	for n := 1; n <= 10; n++ {
		name := base
		if n > 1 {
			name += "-" + strconv.Itoa(n)
		}
		cctx, cancel := context.WithTimeout(ctx, setupTimeout)
		_, err := root.Projects.CreateProject(cctx, &attestdv1.CreateProjectRequest{Name: name})
		cancel()
		if status.Code(err) == codes.AlreadyExists {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create project %s: %w", name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("create project %s: ten names taken", base)
}

func createToken(ctx context.Context, c *attestor.Client, project, role string) (*attestdv1.CreateTokenResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	resp, err := c.Tokens.CreateToken(cctx, &attestdv1.CreateTokenRequest{Project: project, Role: role, Description: "attestd-load"})
	if err != nil {
		return nil, fmt.Errorf("create %s token in project %s: %w", role, project, err)
	}
	return resp, nil
}

// addKey registers the public key of signer in the project, as a layout-owner key if owner.
func (s *session) addKey(ctx context.Context, signer *attestor.Signer, owner bool) error {
	cctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, err := s.admin.Keys.AddKey(cctx, &attestdv1.AddKeyRequest{Project: s.project, PublicKeyPem: string(signer.PublicPEM()),
		Description: "attestd-load", Owner: owner})
	if err != nil {
		return fmt.Errorf("register key %s in project %s: %w", signer.KeyID(), s.project, err)
	}
	return nil
}

// connect opens n connections with the token of role for the load.
func (s *session) connect(ctx context.Context, server, role string, n int) error {
	for range n {
		c, err := dial(ctx, server, s.tokens[role])
		if err != nil {
			return err
		}
		s.conns = append(s.conns, c)
	}
	return nil
}

// conn is the connection of client w: the clients are spread evenly over the connections.
func (s *session) conn(w int) *attestor.Client { return s.conns[w%len(s.conns)] }

// revoke revokes the tokens the run created, so that a finished run leaves no live secret behind; the
// project and its attestations stay.
func (s *session) revoke(ctx context.Context) error {
	var errs []error
	for _, role := range []string{"attestor", "reader", "verifier", "admin"} {
		id, ok := s.tokenID[role]
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, setupTimeout)
		_, err := s.admin.Tokens.RevokeToken(cctx, &attestdv1.RevokeTokenRequest{Project: s.project, Id: id})
		cancel()
		if err != nil && status.Code(err) != codes.NotFound {
			errs = append(errs, fmt.Errorf("revoke the %s token: %w", role, err))
		}
	}
	return errors.Join(errs...)
}

func (s *session) close() {
	for _, c := range s.conns {
		c.Close()
	}
	if s.admin != nil {
		s.admin.Close()
	}
}

// grpcCode names the gRPC status of err as the gRPC specification writes it (UNAUTHENTICATED,
// DEADLINE_EXCEEDED); "" for nil.
func grpcCode(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "DEADLINE_EXCEEDED"
	}
	if errors.Is(err, context.Canceled) {
		return "CANCELLED"
	}
	return codeName(status.Code(err))
}

func codeName(c codes.Code) string {
	names := [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	if int(c) < len(names) {
		return names[c]
	}
	return "CODE_" + strconv.Itoa(int(c))
}
