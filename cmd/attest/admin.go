package main

import (
	"context"
	"fmt"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

// This file holds the commands that manage projects and tokens: one call
// each, a table or protojson out.

// call connects, runs f with a context bounded by --timeout and turns its
// error into "<what>: <CODE>: <message>".
func (e *env) call(what string, f func(ctx context.Context, c *attestor.Client) error) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.rpcContext()
	defer cancel()
	if err := f(ctx, c); err != nil {
		return e.rpcError(what, err)
	}
	return nil
}

// positional checks that exactly the named positional arguments were given.
func (e *env) positional(args []string, names ...string) error {
	if len(args) == len(names) {
		return nil
	}
	if len(args) < len(names) {
		return usageError(e.cmdName(), "missing %s", strings.Join(names[len(args):], " "))
	}
	return usageError(e.cmdName(), "unexpected argument %q", args[len(names)])
}

func projectCreateCommand() *command {
	return &command{
		name: "project create", args: "NAME",
		summary: "create a project (server-admin token)",
		help:    "Creates a project: a tenant with its own keys, tokens and attestations. Needs a server-admin token.",
		example: "attest project create acme",
		run: func(e *env, args []string) error {
			fs := e.newFlagSet()
			pos, err := e.parse(fs, args, true)
			if err != nil {
				return err
			}
			if err := e.positional(pos, "NAME"); err != nil {
				return err
			}
			var resp *attestdv1.CreateProjectResponse
			err = e.call("create project "+pos[0], func(ctx context.Context, c *attestor.Client) (err error) {
				resp, err = c.Projects.CreateProject(ctx, &attestdv1.CreateProjectRequest{Name: pos[0]})
				return err
			})
			if err != nil {
				return err
			}
			if e.g.json {
				return e.printProto(resp)
			}
			fmt.Fprintf(e.stdout, "created project %s\n", resp.GetProject().GetName())
			return nil
		},
	}
}

func projectListCommand() *command {
	return &command{
		name: "project list", args: "",
		summary: "list the projects (server-admin token)",
		help:    "Lists every project. Needs a server-admin token.",
		example: "attest project list --json",
		run: func(e *env, args []string) error {
			fs := e.newFlagSet()
			pos, err := e.parse(fs, args, true)
			if err != nil {
				return err
			}
			if err := e.positional(pos); err != nil {
				return err
			}
			var resp *attestdv1.ListProjectsResponse
			err = e.call("list projects", func(ctx context.Context, c *attestor.Client) (err error) {
				resp, err = c.Projects.ListProjects(ctx, &attestdv1.ListProjectsRequest{})
				return err
			})
			if err != nil {
				return err
			}
			if e.g.json {
				return e.printProto(resp)
			}
			tw := e.table("NAME", "CREATED")
			for _, p := range resp.GetProjects() {
				row(tw, p.GetName(), fmtTime(p.GetCreateTime()))
			}
			return tw.Flush()
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
			project := fs.String("project", "", "the `PROJECT` (default: the token's own)")
			role := fs.String("role", "", "`ROLE`: server-admin, admin, attestor, reader or verifier")
			steps := fs.String("steps", "", "attestor tokens: the only `STEPS` (comma-separated) it may submit")
			description := fs.String("description", "", "a `DESCRIPTION` for people")
			pos, err := e.parse(fs, args, true)
			if err != nil {
				return err
			}
			if err := e.positional(pos); err != nil {
				return err
			}
			if *role == "" {
				return usageError(e.cmdName(), "--role is required")
			}
			req := &attestdv1.CreateTokenRequest{Project: *project, Role: *role, Steps: splitList(*steps), Description: *description}
			var resp *attestdv1.CreateTokenResponse
			err = e.call("create token", func(ctx context.Context, c *attestor.Client) (err error) {
				resp, err = c.Tokens.CreateToken(ctx, req)
				return err
			})
			if err != nil {
				return err
			}
			if e.g.json {
				return e.printProto(resp)
			}
			fmt.Fprintln(e.stdout, resp.GetSecret())
			return nil
		},
	}
}

func tokenListCommand() *command {
	return &command{
		name: "token list", args: "[--project P]",
		summary: "list tokens (never their secrets)",
		help:    "Lists the tokens of a project, revoked ones included. Secrets are never shown.",
		example: "attest token list --project acme",
		run: func(e *env, args []string) error {
			fs := e.newFlagSet()
			project := fs.String("project", "", "the `PROJECT` (default: the token's own)")
			pos, err := e.parse(fs, args, true)
			if err != nil {
				return err
			}
			if err := e.positional(pos); err != nil {
				return err
			}
			var resp *attestdv1.ListTokensResponse
			err = e.call("list tokens", func(ctx context.Context, c *attestor.Client) (err error) {
				resp, err = c.Tokens.ListTokens(ctx, &attestdv1.ListTokensRequest{Project: *project})
				return err
			})
			if err != nil {
				return err
			}
			if e.g.json {
				return e.printProto(resp)
			}
			tw := e.table("ID", "PROJECT", "ROLE", "STEPS", "CREATED", "REVOKED", "DESCRIPTION")
			for _, t := range resp.GetTokens() {
				row(tw, t.GetId(), t.GetProject(), t.GetRole(), strings.Join(t.GetSteps(), ","),
					fmtTime(t.GetCreateTime()), fmtTime(t.GetRevokeTime()), t.GetDescription())
			}
			return tw.Flush()
		},
	}
}

func tokenRevokeCommand() *command {
	return &command{
		name: "token revoke", args: "[--project P] ID",
		summary: "revoke a token",
		help:    "Revokes a token by its id (as 'attest token list' shows it). Calls with it fail from then on.",
		example: "attest token revoke --project acme tok_3fa2c1",
		run: func(e *env, args []string) error {
			fs := e.newFlagSet()
			project := fs.String("project", "", "the `PROJECT` (default: the token's own)")
			pos, err := e.parse(fs, args, true)
			if err != nil {
				return err
			}
			if err := e.positional(pos, "ID"); err != nil {
				return err
			}
			var resp *attestdv1.RevokeTokenResponse
			err = e.call("revoke token "+pos[0], func(ctx context.Context, c *attestor.Client) (err error) {
				resp, err = c.Tokens.RevokeToken(ctx, &attestdv1.RevokeTokenRequest{Project: *project, Id: pos[0]})
				return err
			})
			if err != nil {
				return err
			}
			if e.g.json {
				return e.printProto(resp)
			}
			fmt.Fprintf(e.stdout, "revoked token %s\n", resp.GetToken().GetId())
			return nil
		},
	}
}
