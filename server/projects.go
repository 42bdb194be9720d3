package server

import (
	"context"
	"errors"
	"regexp"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
)

var projectNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func checkProjectName(name string) error {
	if !projectNameRE.MatchString(name) {
		return invalidf("project name %q: want 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", clip(name))
	}
	return nil
}

func (s *Server) requireServerAdmin(ctx context.Context, action string) error {
	p, ok := principalFrom(ctx)
	if !ok || !p.isServerAdmin() {
		return deniedf("only a server-admin token may %s", action)
	}
	return nil
}

// CreateProject creates a tenant.
func (s *Server) CreateProject(ctx context.Context, req *attestdv1.CreateProjectRequest) (*attestdv1.CreateProjectResponse, error) {
	if err := s.requireServerAdmin(ctx, "create projects"); err != nil {
		return nil, err
	}
	if err := checkProjectName(req.GetName()); err != nil {
		return nil, err
	}
	proj, err := s.store.CreateProject(ctx, req.GetName())
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, alreadyExistsf("project %q already exists", req.GetName())
	}
	if err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "project created", "project", proj.Name)
	return &attestdv1.CreateProjectResponse{Project: projectPB(proj)}, nil
}

// ListProjects lists every project to a server admin, and its own project to any other token.
func (s *Server) ListProjects(ctx context.Context, _ *attestdv1.ListProjectsRequest) (*attestdv1.ListProjectsResponse, error) {
	p, _ := principalFrom(ctx)
	if !p.isServerAdmin() {
		return &attestdv1.ListProjectsResponse{Projects: []*attestdv1.Project{projectPB(p.project)}}, nil
	}
	projs, err := s.store.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*attestdv1.Project, 0, len(projs))
	for _, proj := range projs {
		out = append(out, projectPB(proj))
	}
	return &attestdv1.ListProjectsResponse{Projects: out}, nil
}

// clip shortens user input quoted in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
