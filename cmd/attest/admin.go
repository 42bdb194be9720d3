package main

import (
	"context"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

// This file holds the commands that manage projects and tokens: one call
// each, a table or protojson out.

func projectCreateCommand() *command {
	return &command{
		name: "project create", args: "NAME",
		summary: "create a project (server-admin token)",
		help:    "Creates a project: a tenant with its own keys, tokens and attestations. Needs a server-admin token.",
		example: "attest project create acme",
		run: func(e *env, args []string) error {
			pos, err := e.parseArgs(e.newFlagSet(), args, "NAME")
			if err != nil {
				return err
			}
			return callAndPrint(e, "create project "+pos[0], func(ctx context.Context, c *attestor.Client) (*attestdv1.CreateProjectResponse, error) {
				return c.Projects.CreateProject(ctx, &attestdv1.CreateProjectRequest{Name: pos[0]})
			}, func(resp *attestdv1.CreateProjectResponse) error {
				return e.printf("created project %s\n", resp.GetProject().GetName())
			})
		},
	}
}

func projectListCommand() *command {
	return &command{
		name: "project list", args: "",
		summary: "list the projects (all with a server-admin token, else the token's own)",
		help:    "Lists every project. Needs a server-admin token.",
		example: "attest project list --json",
		run: func(e *env, args []string) error {
			if _, err := e.parseArgs(e.newFlagSet(), args); err != nil {
				return err
			}
			return callAndPrint(e, "list projects", func(ctx context.Context, c *attestor.Client) (*attestdv1.ListProjectsResponse, error) {
				return c.Projects.ListProjects(ctx, &attestdv1.ListProjectsRequest{})
			}, func(resp *attestdv1.ListProjectsResponse) error {
				tw := e.table("NAME", "CREATED")
				for _, p := range resp.GetProjects() {
					row(tw, p.GetName(), fmtTime(p.GetCreateTime()))
				}
				return tw.Flush()
			})
		},
	}
}

func tokenCreateCommand() *command {
	return &command{
		name: "token create", args: "[--project P] --role ROLE [--steps a,b] [--description D]",
		summary: "issue a bearer token; prints the secret",
		help: `Issues a bearer token and prints its secret alone on stdout (with --json, the
token and its secret as JSON). The secret is never shown again.

Roles: server-admin (no project), admin, attestor, reader, verifier. An
attestor token limited with --steps may only submit those steps.`,
		example: `attest token create --project acme --role attestor --steps build,test --description "CI runner"`,
		run: func(e *env, args []string) error {
			fs := e.newFlagSet()
			project := projectFlag(fs)
			role := fs.String("role", "", "`ROLE`: server-admin, admin, attestor, reader or verifier")
			steps := fs.String("steps", "", "attestor tokens: the only `STEPS` (comma-separated) it may submit")
			description := fs.String("description", "", "a `DESCRIPTION` for people")
			if _, err := e.parseArgs(fs, args); err != nil {
				return err
			}
			if *role == "" {
				return usageError(e.cmdName(), "--role is required")
			}
			req := &attestdv1.CreateTokenRequest{Project: *project, Role: *role, Steps: splitList(*steps), Description: *description}
			return callAndPrint(e, "create token", func(ctx context.Context, c *attestor.Client) (*attestdv1.CreateTokenResponse, error) {
				return c.Tokens.CreateToken(ctx, req)
			}, func(resp *attestdv1.CreateTokenResponse) error {
				return e.printf("%s\n", resp.GetSecret())
			})
		},
	}
}

func tokenListCommand() *command {
	return &command{
		name: "token list", args: "[--project P]",
		summary: "list tokens (never their secrets)",
		help:    "Lists the tokens of a project, revoked ones included. Secrets are never shown.",
		example: "attest token list --project acme",
		run: projectRPC("list tokens", nil, func(ctx context.Context, c *attestor.Client, project string, _ []string) (*attestdv1.ListTokensResponse, error) {
			return c.Tokens.ListTokens(ctx, &attestdv1.ListTokensRequest{Project: project})
		}, printTokens),
	}
}

func printTokens(e *env, resp *attestdv1.ListTokensResponse) error {
	tw := e.table("ID", "PROJECT", "ROLE", "STEPS", "CREATED", "REVOKED", "DESCRIPTION")
	for _, t := range resp.GetTokens() {
		row(tw, t.GetId(), t.GetProject(), t.GetRole(), strings.Join(t.GetSteps(), ","),
			fmtTime(t.GetCreateTime()), fmtTime(t.GetRevokeTime()), t.GetDescription())
	}
	return tw.Flush()
}

func tokenRevokeCommand() *command {
	return &command{
		name: "token revoke", args: "[--project P] ID",
		summary: "revoke a token",
		help:    "Revokes a token by its id (as 'attest token list' shows it). Calls with it fail from then on.",
		example: "attest token revoke --project acme tok_3fa2c1",
		run: projectRPC("revoke token", []string{"ID"}, func(ctx context.Context, c *attestor.Client, project string, pos []string) (*attestdv1.RevokeTokenResponse, error) {
			return c.Tokens.RevokeToken(ctx, &attestdv1.RevokeTokenRequest{Project: project, Id: pos[0]})
		}, func(e *env, resp *attestdv1.RevokeTokenResponse) error {
			return e.printf("revoked token %s\n", resp.GetToken().GetId())
		}),
	}
}
