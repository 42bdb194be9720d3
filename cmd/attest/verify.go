package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
)

// Exit codes of attest verify: 0 allowed (exitOK), 1 denied (exitFailed), 2 could not decide (exitUsage).
const verifyHelpExit = `Exit codes: 0 allowed; 1 denied; 2 no decision (bad arguments, the artifact
could not be read or resolved, attestd could not be reached or refused to
decide). --json prints the whole decision (protojson) and exits the same way.
--vsa FILE asks for a verification summary and writes it to FILE when the
decision is allowed (none is issued for a denial); check it later, offline,
with "attest verify vsa".
Needs a token of the project with role verifier, admin or reader.

` + offlineHelp

func verifyImageCommand() *command {
	return &command{
		name: "verify image", args: "[--project P] [--oci-layout DIR] REF",
		summary: "ask attestd whether a container image may be released",
		help: `Asks attestd whether the image REF went through the pipeline that the
project's policy for it requires. A tag is resolved to its digest through the
registry (credentials from the Docker config, as docker and crane use); with
--oci-layout DIR it is looked up in the OCI image layout on disk instead (by
the org.opencontainers.image.ref.name annotation: the tag, or the whole REF).
A REF with @sha256:... is used as it is. attestd is asked about the
repository without tag or digest (registry.example.com/team/app), which is
what image policies match.

` + verifyHelpExit,
		example: "attest verify image --project acme registry.example.com/team/app:1.4.2",
		run:     cmdVerifyImage,
	}
}

func verifyFileCommand() *command {
	return &command{
		name: "verify file", args: "[--project P] [--name NAME] PATH",
		summary: "ask attestd whether a file may be released",
		help: `Asks attestd whether the file PATH (its sha256) went through the pipeline that
the project's policy for it requires. The name attestd matches against file
policies is PATH as given, cleaned to the canonical relative form attestations
use (./dist/app.tar is dist/app.tar); an absolute path or one that leaves the
current directory needs --name.

` + verifyHelpExit,
		example: "attest verify file --project acme deploy/app.yaml",
		run:     cmdVerifyFile,
	}
}

func verifyPackageCommand() *command {
	return &command{
		name: "verify package", args: "[--project P] [--name NAME] PATH | PURL --digest sha256:HEX",
		summary: "ask attestd whether a package may be released",
		help: `Asks attestd whether a package went through the pipeline that the project's
policy for it requires. Give the package file (PATH: it is hashed, and its
name is the file's base name, or --name), or a package URL (pkg:deb/acme/app)
with the package's --digest.

` + verifyHelpExit,
		example: "attest verify package --project acme dist/app_1.0_amd64.deb\nattest verify package --project acme pkg:deb/acme/app@1.0 --digest sha256:...",
		run:     cmdVerifyPackage,
	}
}

func cmdVerifyFile(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	nameFlag := fs.String("name", "", "the artifact's `NAME` (default: PATH, canonical)")
	vsaOut := vsaFlag(fs)
	off := addOfflineFlags(fs)
	pos, err := e.parseArgs(fs, args, "PATH")
	if err != nil {
		return err
	}
	n := *nameFlag
	if n == "" {
		if n, err = canonicalPath(pos[0]); err != nil {
			return usageError(e.cmdName(), "%v", err)
		}
	}
	digest, err := fileDigest(pos[0])
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return e.decide(&attestdv1.VerifyRequest{Project: *project, Kind: "file", Name: n, Digest: digest}, *vsaOut, off)
}

func cmdVerifyPackage(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	nameFlag := fs.String("name", "", "the package's `NAME` (default: the file's base name, or the PURL)")
	digestFlag := fs.String("digest", "", "the package's `DIGEST` (sha256:HEX), with a PURL")
	vsaOut := vsaFlag(fs)
	off := addOfflineFlags(fs)
	pos, err := e.parseArgs(fs, args, "PATH|PURL")
	if err != nil {
		return err
	}
	req := &attestdv1.VerifyRequest{Project: *project, Kind: "package", Name: *nameFlag}
	if strings.HasPrefix(pos[0], "pkg:") {
		if *digestFlag == "" {
			return usageError(e.cmdName(), "a package URL needs --digest sha256:HEX")
		}
		if _, _, err := attestation.ParseDigest(*digestFlag); err != nil || !strings.HasPrefix(*digestFlag, "sha256:") {
			return usageError(e.cmdName(), "--digest %q: want sha256:HEX", *digestFlag)
		}
		req.Digest = *digestFlag
		if req.Name == "" {
			req.Name = pos[0]
		}
	} else {
		if *digestFlag != "" {
			return usageError(e.cmdName(), "--digest goes with a package URL; a package file is hashed")
		}
		if req.Digest, err = fileDigest(pos[0]); err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if req.Name == "" {
			req.Name = filepath.Base(pos[0])
		}
	}
	return e.decide(req, *vsaOut, off)
}

func cmdVerifyImage(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	ociLayout := fs.String("oci-layout", "", "resolve REF in the OCI image layout in `DIR` instead of the registry")
	vsaOut := vsaFlag(fs)
	off := addOfflineFlags(fs)
	pos, err := e.parseArgs(fs, args, "REF")
	if err != nil {
		return err
	}
	ctx, cancel := e.rpcContext()
	defer cancel()
	repo, digest, err := resolveImage(ctx, pos[0], *ociLayout)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return e.decide(&attestdv1.VerifyRequest{Project: *project, Kind: "image", Name: repo, Digest: digest}, *vsaOut, off)
}

// resolveImage returns the repository of ref (without tag or digest) and the digest of the image it names:
// its own digest, or its tag resolved in the OCI layout dir (if set) or through the registry.
func resolveImage(ctx context.Context, ref, dir string) (repo, digest string, err error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", ref, err)
	}
	repo = r.Context().Name()
	if d, ok := r.(name.Digest); ok {
		return repo, d.DigestStr(), nil
	}
	if dir != "" {
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return "", "", fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return "", "", fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		var found []string
		for _, desc := range m.Manifests {
			if rn := desc.Annotations["org.opencontainers.image.ref.name"]; rn == r.Identifier() || rn == ref || rn == r.Name() {
				found = append(found, desc.Digest.String())
			}
		}
		switch {
		case len(found) == 0:
			return "", "", fmt.Errorf("OCI layout %s has no image named %q (org.opencontainers.image.ref.name)", dir, r.Identifier())
		case len(found) > 1 && found[0] != found[1]:
			return "", "", fmt.Errorf("OCI layout %s names %d images %q", dir, len(found), r.Identifier())
		}
		return repo, found[0], nil
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	desc, err := remote.Head(r, opts...)
	if err != nil {
		// Some registries do not answer HEAD for manifests: ask with GET.
		full, gerr := remote.Get(r, opts...)
		if gerr != nil {
			return "", "", fmt.Errorf("resolve %s: %w", ref, errors.Join(err, gerr))
		}
		return repo, full.Digest.String(), nil
	}
	return repo, desc.Digest.String(), nil
}

// canonicalPath is p as attestations name files: relative, slash-separated, without "." or ".." segments.
func canonicalPath(p string) (string, error) {
	c := path.Clean(filepath.ToSlash(p))
	if filepath.IsAbs(p) || strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || c == "." {
		return "", fmt.Errorf("%q is not a path inside the current directory: give the name attestations use with --name", p)
	}
	if err := attestation.CheckName(c, attestation.Limits{}); err != nil {
		return "", fmt.Errorf("%q: %w (give the name attestations use with --name)", p, err)
	}
	return c, nil
}

// fileDigest returns "sha256:HEX" of the file at p.
func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// verify asks for the decision on req, prints it, and returns the exit code it deserves: none (0) when
// allowed, 1 when denied, 2 when no decision could be had. With vsaOut, it asks for a verification summary
// and writes it there when the decision is allowed.
func (e *env) verify(req *attestdv1.VerifyRequest, vsaOut string) error {
	var d *attestdv1.Decision
	var vsa []byte
	req.Vsa = vsaOut != ""
	err := e.call("verify "+req.GetKind()+" "+req.GetName(), func(ctx context.Context, c *attestor.Client) error {
		resp, err := c.Verify.Verify(ctx, req)
		d, vsa = resp.GetDecision(), resp.GetVsa()
		return err
	})
	if err != nil {
		var xe *exitError
		if errors.As(err, &xe) {
			xe.code = exitUsage // could not decide
		}
		return err
	}
	if err := e.printResult(d, func() error { return printDecision(e, req, d) }); err != nil {
		return err
	}
	if !d.GetAllowed() {
		return &exitError{code: exitFailed}
	}
	if vsaOut != "" {
		if len(vsa) == 0 {
			return failed("the decision is allowed but attestd returned no verification summary")
		}
		if err := os.WriteFile(vsaOut, vsa, 0o644); err != nil {
			return failed("write the verification summary: %v", err)
		}
	}
	return nil
}

func printDecision(e *env, req *attestdv1.VerifyRequest, d *attestdv1.Decision) error {
	verdict := "DENIED"
	if d.GetAllowed() {
		verdict = "ALLOWED"
	}
	e.printf("%s: %s %s %s\n", verdict, req.GetKind(), req.GetName(), req.GetDigest())
	if d.GetLayoutName() != "" {
		e.printf("layout %s version %d (policy %s)\n", d.GetLayoutName(), d.GetLayoutVersion(), d.GetPolicyName())
	}
	for _, st := range d.GetSteps() {
		used := "no attestation used"
		if len(st.GetAttestationIds()) > 0 {
			used = strings.Join(st.GetAttestationIds(), ", ")
		}
		e.printf("step %s: %s\n", st.GetName(), used)
	}
	if len(d.GetReasons()) > 0 {
		e.printf("reasons:\n")
		for _, r := range d.GetReasons() {
			e.printf("  - %s\n", r)
		}
	}
	return nil
}

func decisionsCommand() *command {
	return &command{
		name: "decisions", args: "[--project P] [--limit N] [--before ID]",
		summary: "list the project's recorded verification decisions",
		help: `Lists the decisions attestd recorded for the project, newest first: when, who
asked (token id), the artifact, the layout version, the verdict and every
reason. --before ID continues a listing. Needs an admin token.`,
		example: "attest decisions --project acme --limit 20",
		run:     cmdDecisions,
	}
}

func cmdDecisions(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	limit := fs.Int("limit", 0, "at most `N` decisions (default 100, at most 1000)")
	before := fs.Int64("before", 0, "only decisions with an id below `ID`")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	req := &attestdv1.ListDecisionsRequest{Project: *project, Limit: int32(min(max(*limit, -1), 1<<30)), BeforeId: *before}
	return callAndPrint(e, "list decisions", func(ctx context.Context, c *attestor.Client) (*attestdv1.ListDecisionsResponse, error) {
		return c.Verify.ListDecisions(ctx, req)
	}, func(resp *attestdv1.ListDecisionsResponse) error {
		tw := e.table("ID", "TIME", "VERDICT", "KIND", "NAME", "DIGEST", "LAYOUT", "BY", "REASONS")
		for _, d := range resp.GetDecisions() {
			verdict, layoutName := "denied", ""
			if d.GetAllowed() {
				verdict = "allowed"
			}
			if d.GetLayoutName() != "" {
				layoutName = fmt.Sprintf("%s v%d", d.GetLayoutName(), d.GetLayoutVersion())
			}
			row(tw, fmt.Sprint(d.GetId()), d.GetDecidedAt().AsTime().Format("2006-01-02T15:04:05Z"), verdict, d.GetKind(),
				d.GetName(), d.GetDigest(), layoutName, d.GetRequester(), strings.Join(d.GetReasons(), "; "))
		}
		return tw.Flush()
	})
}
