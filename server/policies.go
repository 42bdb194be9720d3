package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/verifier"
)

func checkPolicyName(name string) error {
	if !layoutNameRE.MatchString(name) {
		return invalidf("policy name %q: want 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit", clip(name))
	}
	return nil
}

func checkPolicyKind(kind string) error {
	for _, k := range verifier.Kinds {
		if kind == k {
			return nil
		}
	}
	return invalidf("kind %q: want one of %s", clip(kind), strings.Join(verifier.Kinds, ", "))
}

// SetPolicy creates or replaces a policy. The name, kind and pattern are checked first (verifier.CheckPolicyPattern
// compiles the pattern with the bounded matcher that Verify uses, and refuses what it refuses), then that the
// layout exists in the project, and the store keeps the project under store.MaxPoliciesPerProject.
func (s *Server) SetPolicy(ctx context.Context, req *attestdv1.SetPolicyRequest) (*attestdv1.SetPolicyResponse, error) {
	p, proj, err := s.resolveProject(ctx, req.GetProject(), "set policies", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(req.GetName()); err != nil {
		return nil, err
	}
	if err := checkPolicyKind(req.GetKind()); err != nil {
		return nil, err
	}
	if _, err := verifier.CheckPolicyPattern(req.GetKind(), req.GetMatch()); err != nil {
		return nil, err
	}
	if err := checkLayoutName(req.GetLayout()); err != nil {
		return nil, err
	}
	notFound := notFoundf("layout %q not found in project %q: push it first (attest layout push)", req.GetLayout(), proj.Name)
	layouts, err := s.store.ListLayouts(ctx, proj.ID, req.GetLayout())
	if err != nil {
		return nil, err
	}
	if len(layouts) == 0 {
		return nil, notFound
	}
	if req.GetRequireRekor() && proj.RekorURL == "" {
		return nil, failedPreconditionf("project %q does not anchor its attestations in Rekor, so no attestation could satisfy require_rekor: set a Rekor server first (attest project set --rekor-url URL --rekor-key FILE)", proj.Name)
	}
	stored, err := s.store.SetPolicy(ctx, store.Policy{
		ProjectID:    proj.ID,
		Name:         req.GetName(),
		Kind:         req.GetKind(),
		Match:        req.GetMatch(),
		Layout:       req.GetLayout(),
		SetterID:     p.token.ID,
		RequireRekor: req.GetRequireRekor(),
		UpdatedAt:    s.now(),
	}, store.MaxPoliciesPerProject)
	switch {
	case errors.Is(err, store.ErrLimitReached):
		return nil, &attestation.LimitError{Limit: "max-policies-per-project, fixed", Max: store.MaxPoliciesPerProject,
			Got: store.MaxPoliciesPerProject + 1, What: "policies in project " + proj.Name + " (delete one first)"}
	case errors.Is(err, store.ErrNotFound):
		return nil, notFound
	case err != nil:
		return nil, fmt.Errorf("store policy %q: %w", req.GetName(), err)
	}
	s.logger.InfoContext(ctx, "policy set", "project", proj.Name, "name", stored.Name, "kind", stored.Kind,
		"match", stored.Match, "layout", stored.Layout)
	return &attestdv1.SetPolicyResponse{Policy: policyPB(stored, proj.Name)}, nil
}

// ListPolicies lists the project's policies by name, of every kind or of one.
func (s *Server) ListPolicies(ctx context.Context, req *attestdv1.ListPoliciesRequest) (*attestdv1.ListPoliciesResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "list policies", rolesRead...)
	if err != nil {
		return nil, err
	}
	if req.GetKind() != "" {
		if err := checkPolicyKind(req.GetKind()); err != nil {
			return nil, err
		}
	}
	list, err := s.store.ListPolicies(ctx, proj.ID, req.GetKind())
	if err != nil {
		return nil, err
	}
	out := make([]*attestdv1.Policy, 0, len(list))
	for _, pol := range list {
		out = append(out, policyPB(pol, proj.Name))
	}
	return &attestdv1.ListPoliciesResponse{Policies: out}, nil
}

// DeletePolicy deletes one policy. Artifacts that only it covered are denied from then on.
func (s *Server) DeletePolicy(ctx context.Context, req *attestdv1.DeletePolicyRequest) (*attestdv1.DeletePolicyResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "delete policies", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(req.GetName()); err != nil {
		return nil, err
	}
	err = s.store.DeletePolicy(ctx, proj.ID, req.GetName())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFoundf("policy %q not found in project %q", req.GetName(), proj.Name)
	}
	if err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "policy deleted", "project", proj.Name, "name", req.GetName())
	return &attestdv1.DeletePolicyResponse{}, nil
}

func policyPB(p store.Policy, project string) *attestdv1.Policy {
	return &attestdv1.Policy{
		Project:      project,
		Name:         p.Name,
		Kind:         p.Kind,
		Match:        p.Match,
		Layout:       p.Layout,
		CreateTime:   ts(p.CreatedAt),
		UpdateTime:   ts(p.UpdatedAt),
		Setter:       p.SetterID,
		RequireRekor: p.RequireRekor,
	}
}
