package main

import (
	"context"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

// policyKinds are the kinds of artifact a policy covers, as the server knows them.
var policyKinds = []string{"image", "file", "package"}

func checkKindFlag(e *env, kind string) error {
	for _, k := range policyKinds {
		if kind == k {
			return nil
		}
	}
	return usageError(e.cmdName(), "--kind %q: want one of %s", kind, strings.Join(policyKinds, ", "))
}

func policySetCommand() *command {
	return &command{
		name: "policy set", args: "[--project P] --name NAME --kind image|file|package --match PATTERN --layout LAYOUT [--require-rekor]",
		summary: "say which layout the artifacts matching a pattern need",
		help: `Creates the policy NAME, or replaces it: artifacts of the kind whose names
match PATTERN must satisfy the active version of the layout LAYOUT, which
must have been pushed to the project. An artifact that no policy covers is
denied; when several cover it, the one whose pattern has the longest literal
prefix (before its first '*', '?' or '[') applies, then the first by name.

Patterns use in-toto's syntax ('*' matches anything, '/' included; '?' one
character; '[a-z]' a class) and are checked per kind:
  image    a repository, without tag or digest: registry.example.com/team/*
  file     a relative path as attestations name it: etc/*.conf
  package  a package name or package URL: pkg:deb/acme/*
With --require-rekor an attestation counts only if it has an entry in the
project's Rekor server (attest project set --rekor-url) that verifies offline
and records its envelope. A project holds at most 1000 policies. Needs an
admin token.`,
		example: "attest policy set --project acme --name team-images --kind image \\\n  --match 'registry.example.com/team/*' --layout release",
		run:     cmdPolicySet,
	}
}

func cmdPolicySet(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	name := fs.String("name", "", "the policy's `NAME` in the project")
	kind := fs.String("kind", "", "the `KIND` of artifact it covers: image, file or package")
	match := fs.String("match", "", "the `PATTERN` that the artifacts' names match")
	layout := fs.String("layout", "", "the `LAYOUT` the artifacts need")
	requireRekor := fs.Bool("require-rekor", false, "count only attestations with a verified entry in the project's Rekor server")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	for _, f := range []struct{ flag, val string }{{"name", *name}, {"kind", *kind}, {"match", *match}, {"layout", *layout}} {
		if f.val == "" {
			return usageError(e.cmdName(), "--%s is required", f.flag)
		}
	}
	if err := checkKindFlag(e, *kind); err != nil {
		return err
	}
	req := &attestdv1.SetPolicyRequest{Project: *project, Name: *name, Kind: *kind, Match: *match, Layout: *layout,
		RequireRekor: *requireRekor}
	return callAndPrint(e, "set policy "+*name, func(ctx context.Context, c *attestor.Client) (*attestdv1.SetPolicyResponse, error) {
		return c.Policies.SetPolicy(ctx, req)
	}, func(resp *attestdv1.SetPolicyResponse) error {
		p := resp.GetPolicy()
		rekor := ""
		if p.GetRequireRekor() {
			rekor = ", every attestation anchored in Rekor"
		}
		return e.printf("set policy %s: %s artifacts matching %s need layout %s%s\n", p.GetName(), p.GetKind(), p.GetMatch(), p.GetLayout(), rekor)
	})
}

func policyListCommand() *command {
	return &command{
		name: "policy list", args: "[--project P] [--kind image|file|package]",
		summary: "show the project's policies",
		help:    `Lists the project's policies (or those of one kind) by name.`,
		example: "attest policy list --project acme --kind image",
		run:     cmdPolicyList,
	}
}

func cmdPolicyList(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	kind := fs.String("kind", "", "only policies of `KIND`: image, file or package")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *kind != "" {
		if err := checkKindFlag(e, *kind); err != nil {
			return err
		}
	}
	req := &attestdv1.ListPoliciesRequest{Project: *project, Kind: *kind}
	return callAndPrint(e, "list policies", func(ctx context.Context, c *attestor.Client) (*attestdv1.ListPoliciesResponse, error) {
		return c.Policies.ListPolicies(ctx, req)
	}, func(resp *attestdv1.ListPoliciesResponse) error {
		tw := e.table("NAME", "KIND", "MATCH", "LAYOUT", "REKOR", "UPDATED", "SET BY")
		for _, p := range resp.GetPolicies() {
			rekor := "-"
			if p.GetRequireRekor() {
				rekor = "required"
			}
			row(tw, p.GetName(), p.GetKind(), p.GetMatch(), p.GetLayout(), rekor, fmtTime(p.GetUpdateTime()), p.GetSetter())
		}
		return tw.Flush()
	})
}

func policyDeleteCommand() *command {
	return &command{
		name: "policy delete", args: "[--project P] --name NAME",
		summary: "delete a policy",
		help: `Deletes the policy NAME. Artifacts that no other policy covers are denied from
then on. Needs an admin token.`,
		example: "attest policy delete --project acme --name team-images",
		run:     cmdPolicyDelete,
	}
}

func cmdPolicyDelete(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	name := fs.String("name", "", "the policy `NAME`")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError(e.cmdName(), "--name is required")
	}
	req := &attestdv1.DeletePolicyRequest{Project: *project, Name: *name}
	return callAndPrint(e, "delete policy "+*name, func(ctx context.Context, c *attestor.Client) (*attestdv1.DeletePolicyResponse, error) {
		return c.Policies.DeletePolicy(ctx, req)
	}, func(*attestdv1.DeletePolicyResponse) error {
		return e.printf("deleted policy %s\n", *name)
	})
}
