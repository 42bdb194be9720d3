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

func projectGetCommand() *command {
	return &command{
		name: "project get", args: "[--project P]",
		summary: "show a project and its settings (Rekor anchoring)",
		help:    "Shows the project: its name, when it was created, and the Rekor server it anchors its attestations in, if any.",
		example: "attest project get --project acme --json",
		run: projectRPC("get project", nil, func(ctx context.Context, c *attestor.Client, project string, _ []string) (*attestdv1.GetProjectResponse, error) {
			return c.Projects.GetProject(ctx, &attestdv1.GetProjectRequest{Project: project})
		}, func(e *env, resp *attestdv1.GetProjectResponse) error {
			p := resp.GetProject()
			rekor := "off"
			if r := p.GetRekor(); r != nil {
				rekor = r.GetUrl()
			}
			return e.printf("project %s\ncreated %s\nrekor   %s\n", p.GetName(), fmtTime(p.GetCreateTime()), rekor)
		}),
	}
}

func projectSetCommand() *command {
	return &command{
		name: "project set", args: "[--project P] (--rekor-url URL --rekor-key FILE | --no-rekor)",
		summary: "anchor the project's attestations in a Rekor server, or stop",
		help: `With --rekor-url and --rekor-key, every attestation the project accepts from
then on is also uploaded to that Rekor server (v1 API, a dsse entry) by a
background worker: submissions never wait for it, and a pending upload is
retried with backoff until Rekor takes it, across restarts too. FILE is the
server's public key (PEM; curl URL/api/v1/log/publicKey), which verifies its
entries offline. --no-rekor stops anchoring new attestations. Uploading makes
the envelope public in that log: see docs/rekor.md. Needs an admin token.`,
		example: "attest project set --project acme --rekor-url https://rekor.example.com --rekor-key rekor.pub",
		run:     cmdProjectSet,
	}
}

func cmdProjectSet(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	rekorURL := fs.String("rekor-url", "", "the Rekor server's base `URL`")
	rekorKey := fs.String("rekor-key", "", "the Rekor server's public key `FILE` (PEM)")
	noRekor := fs.Bool("no-rekor", false, "stop anchoring in Rekor")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	req := &attestdv1.SetProjectRekorRequest{Project: *project}
	switch {
	case *noRekor && (*rekorURL != "" || *rekorKey != ""):
		return usageError(e.cmdName(), "--no-rekor goes alone, without --rekor-url or --rekor-key")
	case *noRekor:
	case *rekorURL == "" || *rekorKey == "":
		return usageError(e.cmdName(), "give --rekor-url and --rekor-key together, or --no-rekor")
	default:
		key, err := readFile(*rekorKey, maxKeyFile)
		if err != nil {
			return failed("project set: %v", err)
		}
		req.Url, req.PublicKey = *rekorURL, key
	}
	return callAndPrint(e, "set project", func(ctx context.Context, c *attestor.Client) (*attestdv1.SetProjectRekorResponse, error) {
		return c.Projects.SetProjectRekor(ctx, req)
	}, func(resp *attestdv1.SetProjectRekorResponse) error {
		p := resp.GetProject()
		if r := p.GetRekor(); r != nil {
			return e.printf("project %s anchors its new attestations in %s\n", p.GetName(), r.GetUrl())
		}
		return e.printf("project %s does not anchor in Rekor\n", p.GetName())
	})
}

func anchorRetryCommand() *command {
	return &command{
		name: "anchor retry", args: "[--project P] (--all-failed | ID...)",
		summary: "put failed Rekor anchors back in the anchoring queue",
		help: `Puts the failed Rekor anchors of the attestations ID... (or, with
--all-failed, every failed anchor of the project) back in attestd's anchoring
queue, to be uploaded again at once: after Rekor refused envelopes for a
reason since fixed, or after the project turned anchoring off and on again.
Anchors that are pending or done are left as they are. attest get shows the
state. Needs an admin token.`,
		example: "attest anchor retry --project acme --all-failed",
		run:     cmdAnchorRetry,
	}
}

func cmdAnchorRetry(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	all := fs.Bool("all-failed", false, "retry every failed anchor of the project")
	ids, err := e.parse(fs, args, true)
	if err != nil {
		return err
	}
	switch {
	case *all && len(ids) > 0:
		return usageError(e.cmdName(), "give attestation ids or --all-failed, not both")
	case !*all && len(ids) == 0:
		return usageError(e.cmdName(), "name the attestations whose anchors to retry, or give --all-failed")
	}
	req := &attestdv1.RetryAnchorsRequest{Project: *project, Ids: ids, AllFailed: *all}
	return callAndPrint(e, "retry anchors", func(ctx context.Context, c *attestor.Client) (*attestdv1.RetryAnchorsResponse, error) {
		return c.Attestations.RetryAnchors(ctx, req)
	}, func(resp *attestdv1.RetryAnchorsResponse) error {
		return e.printf("%d anchors back in the queue\n", resp.GetRetried())
	})
}
