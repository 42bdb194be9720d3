package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/bundle"
)

// This file holds offline bundles: "attest bundle export" asks attestd for one, and "attest verify ...
// --bundle FILE" decides from one without attestd (package bundle, docs/bundles.md).

// maxVerifierKeyBytes bounds the verifier key file.
const maxVerifierKeyBytes = 64 << 10

func bundleExportCommand() *command {
	return &command{
		name:    "bundle export",
		args:    "[--project P] --out FILE (--kind KIND --name NAME --digest sha256:HEX | file PATH | package PATH|PURL | image REF)",
		summary: "export an offline bundle that verifies an artifact without attestd",
		help: `Asks attestd for everything needed to verify one artifact without it, and
writes it to FILE: the policy and layout that cover the artifact, the
project's keys, the candidate attestations with their envelopes and inclusion
proofs, a signed checkpoint of the log and the log's key (and, under a policy
that requires Rekor, the Rekor entries), signed by attestd's verifier key.
Decide from it later, on a machine that cannot reach attestd, with
"attest verify file|package|image ... --bundle FILE --verifier-key KEY".

Name the artifact with --kind, --name and --digest, or as attest verify does:
"file PATH" (the name is PATH cleaned, or --name), "package PATH" (the file's
base name, or --name) or "package PURL --digest sha256:HEX", "image REF"
(resolved through the registry, or --oci-layout DIR).

A denied artifact is exported too (the bundle says why). An artifact that no
policy covers cannot be: attestd answers FAILED_PRECONDITION.
Needs a token of the project with role verifier, admin or reader.`,
		example: "attest bundle export --project acme --out app.bundle file dist/app.deb\n" +
			"attest bundle export --out app.bundle --kind image --name registry.example.com/team/app --digest sha256:...",
		run: cmdBundleExport,
	}
}

func cmdBundleExport(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	out := fs.String("out", "", "write the bundle to `FILE`")
	kind := fs.String("kind", "", "the artifact's `KIND`: image, file or package")
	nameFlag := fs.String("name", "", "the artifact's `NAME`")
	digestFlag := fs.String("digest", "", "the artifact's `DIGEST` (sha256:HEX)")
	ociLayout := fs.String("oci-layout", "", "resolve an image REF in the OCI image layout in `DIR` instead of the registry")
	pos, err := e.parse(fs, args, true)
	if err != nil {
		return err
	}
	if *out == "" {
		return usageError(e.cmdName(), "--out FILE is required")
	}
	req := &attestdv1.ExportBundleRequest{Project: *project, Kind: *kind, Name: *nameFlag, Digest: *digestFlag}
	switch len(pos) {
	case 0:
		if req.Kind == "" || req.Name == "" || req.Digest == "" {
			return usageError(e.cmdName(), "name the artifact with --kind, --name and --digest, or as file PATH, package PATH or image REF")
		}
	case 2:
		if req.Kind != "" {
			return usageError(e.cmdName(), "--kind goes with --name and --digest, not with %s %s", pos[0], pos[1])
		}
		a, err := e.resolveArtifact(pos[0], pos[1], *nameFlag, *digestFlag, *ociLayout)
		if err != nil {
			return err
		}
		req.Kind, req.Name, req.Digest = a.GetKind(), a.GetName(), a.GetDigest()
	default:
		return usageError(e.cmdName(), "unexpected arguments %q: want none, or file PATH, package PATH|PURL or image REF", strings.Join(pos, " "))
	}
	if alg, _, err := attestation.ParseDigest(req.Digest); err != nil || alg != "sha256" {
		return usageError(e.cmdName(), "--digest %q: want sha256:HEX", req.Digest)
	}
	var raw []byte
	err = e.call("export bundle "+req.Kind+" "+req.Name, func(ctx context.Context, c *attestor.Client) error {
		resp, err := c.Verify.ExportBundle(ctx, req)
		raw = resp.GetBundle()
		return err
	})
	if err != nil {
		return err
	}
	b, err := bundle.Inspect(raw)
	if err != nil {
		return failed("attestd sent a bundle that does not parse: %v", err)
	}
	if err := os.WriteFile(*out, raw, 0o644); err != nil {
		return failed("write the bundle: %v", err)
	}
	sum := bundleSummary{File: *out, Bytes: len(raw), Attestations: len(b.GetAttestations()), Kind: b.GetKind(),
		Name: b.GetName(), Digest: b.GetDigest(), Layout: b.GetLayout().GetName(), LayoutVersion: b.GetLayout().GetVersion(),
		TreeSize: b.GetLayoutProof().GetTreeSize(), Allowed: b.GetDecision().GetAllowed(),
		ExportTime: b.GetExportTime().AsTime().UTC().Format(time.RFC3339)}
	if e.g.json {
		return e.printJSON(sum)
	}
	verdict := "DENIED"
	if sum.Allowed {
		verdict = "ALLOWED"
	}
	e.printf("wrote %s: %d bytes, %d attestations, layout %s version %d, checkpoint size %d, exported at %s\n",
		sum.File, sum.Bytes, sum.Attestations, sum.Layout, sum.LayoutVersion, sum.TreeSize, sum.ExportTime)
	e.printf("attestd's decision at export: %s %s %s %s\n", verdict, sum.Kind, sum.Name, sum.Digest)
	return nil
}

// bundleSummary is what bundle export prints of the bundle it wrote.
type bundleSummary struct {
	File          string `json:"file"`
	Bytes         int    `json:"bytes"`
	Attestations  int    `json:"attestations"`
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	Digest        string `json:"digest"`
	Layout        string `json:"layout"`
	LayoutVersion int64  `json:"layoutVersion"`
	TreeSize      uint64 `json:"treeSize"`
	Allowed       bool   `json:"allowed"`
	ExportTime    string `json:"exportTime"`
}

// resolveArtifact names an artifact as attest verify does: kind file, package or image, and its path, package
// URL or image reference.
func (e *env) resolveArtifact(kind, arg, name, digest, ociLayout string) (*attestdv1.VerifyRequest, error) {
	req := &attestdv1.VerifyRequest{Kind: kind, Name: name}
	var err error
	switch kind {
	case "file", "package":
		if strings.HasPrefix(arg, "pkg:") && kind == "package" {
			if digest == "" {
				return nil, usageError(e.cmdName(), "a package URL needs --digest sha256:HEX")
			}
			req.Digest = digest
			if req.Name == "" {
				req.Name = arg
			}
			return req, nil
		}
		if digest != "" {
			return nil, usageError(e.cmdName(), "--digest goes with --kind or a package URL; a %s is hashed", kind)
		}
		if req.Name == "" && kind == "file" {
			if req.Name, err = canonicalPath(arg); err != nil {
				return nil, usageError(e.cmdName(), "%v", err)
			}
		}
		if req.Name == "" {
			req.Name = filepath.Base(arg)
		}
		if req.Digest, err = fileDigest(arg); err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
	case "image":
		if name != "" || digest != "" {
			return nil, usageError(e.cmdName(), "an image REF names its repository and digest: no --name or --digest")
		}
		ctx, cancel := e.rpcContext()
		defer cancel()
		if req.Name, req.Digest, err = resolveImage(ctx, arg, ociLayout); err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
	default:
		return nil, usageError(e.cmdName(), "unknown artifact kind %q: want file, package or image", kind)
	}
	return req, nil
}

// offlineFlags are the flags of attest verify that decide from a bundle instead of asking attestd.
type offlineFlags struct {
	bundle, verifierKey *string
	maxAge              *time.Duration
}

func addOfflineFlags(fs *flag.FlagSet) offlineFlags {
	return offlineFlags{
		bundle:      fs.String("bundle", "", "decide offline from the bundle in `FILE` (attest bundle export), without attestd"),
		verifierKey: fs.String("verifier-key", "", "with --bundle: attestd's verifier public key (PEM) in `FILE`"),
		maxAge:      fs.Duration("max-age", 0, "with --bundle: refuse a bundle exported longer ago than `DURATION` (0: no limit)"),
	}
}

// offlineHelp is what the verify commands say about --bundle.
const offlineHelp = `With --bundle FILE (from "attest bundle export") the decision is made offline,
from the bundle alone: attestd is never contacted, and no token is needed.
--verifier-key FILE (the PEM that "attestd verifier-key" prints) is then
required: it authenticates the bundle. The log's checkpoint is checked with
the bundle's log key, which must be the --log-key or pinned key if there is
one. The output is that of the online decision; a note on stderr says when the
bundle was exported. --max-age DURATION refuses an older bundle. A bad or
stale bundle, or one about another artifact, exits 2. See docs/bundles.md.`

// decide answers req: offline from the bundle of o if there is one, else by asking attestd (e.verify).
func (e *env) decide(req *attestdv1.VerifyRequest, vsaOut string, o offlineFlags) error {
	if *o.bundle == "" {
		if *o.verifierKey != "" || *o.maxAge != 0 {
			return usageError(e.cmdName(), "--verifier-key and --max-age go with --bundle FILE")
		}
		return e.verify(req, vsaOut)
	}
	if vsaOut != "" {
		return usageError(e.cmdName(), "--vsa asks attestd for a verification summary: it cannot go with --bundle")
	}
	if *o.verifierKey == "" {
		return usageError(e.cmdName(), "--bundle needs --verifier-key FILE (the PEM that attestd verifier-key prints)")
	}
	if *o.maxAge < 0 {
		return usageError(e.cmdName(), "--max-age %s is negative", *o.maxAge)
	}
	noDecision := func(format string, args ...any) error {
		return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
	}
	pemBytes, err := readFile(*o.verifierKey, maxVerifierKeyBytes)
	if err != nil {
		return noDecision("verifier key: %v", err)
	}
	pub, err := attestation.ParsePublicKey(pemBytes)
	if err != nil {
		return noDecision("verifier key %s: %v", *o.verifierKey, err)
	}
	raw, err := readFile(*o.bundle, bundle.MaxBytes)
	if err != nil {
		return noDecision("bundle: %v", err)
	}
	opts := bundle.Options{Now: time.Now(), Kind: req.GetKind(), Name: req.GetName(), Digest: req.GetDigest(),
		Project: req.GetProject(), MaxAge: *o.maxAge}
	key, err := e.resolveLogKey()
	if err != nil {
		return noDecision("%v", err)
	}
	if key != nil {
		opts.LogKey = key.key
	}
	res, err := bundle.Verify(e.ctx, raw, pub, opts)
	if err != nil {
		return noDecision("no decision from bundle %s: %v", *o.bundle, err)
	}
	d := res.Decision
	if err := e.printResult(d, func() error { return printDecision(e, req, d) }); err != nil {
		return err
	}
	note := fmt.Sprintf("(offline, from bundle exported at %s, checkpoint size %d", res.Exported.UTC().Format(time.RFC3339), res.Checkpoint.Size)
	if at := res.Bundle.GetDecision(); at != nil && at.GetAllowed() != d.GetAllowed() {
		note += fmt.Sprintf("; attestd decided allowed=%t at export", at.GetAllowed())
	}
	fmt.Fprintln(e.stderr, note+")")
	if !d.GetAllowed() {
		return &exitError{code: exitFailed}
	}
	return nil
}
