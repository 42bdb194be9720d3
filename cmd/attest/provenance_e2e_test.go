package main

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/server/servertest"
)

// linkStatement is a link v0.3 statement of step; materials and products map names to the labels whose
// sha256 is their digest.
func linkStatement(step string, materials, products map[string]string) []byte {
	refs := func(m map[string]string) string {
		var out []string
		for name, label := range m {
			out = append(out, fmt.Sprintf(`{"name":%q,"digest":{"sha256":%q}}`, name, sha256Hex(label)))
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	return []byte(fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[%s],`+
		`"predicateType":"https://in-toto.io/attestation/link/v0.3",`+
		`"predicate":{"name":%q,"command":["make"],"materials":[%s]}}`, refs(products), step, refs(materials)))
}

// TestGraphCommandsAgainstAttestd: a pipeline recorded in a real attestd, then provenance, dependents and list
// --submitter as a release manager types them.
func TestGraphCommandsAgainstAttestd(t *testing.T) {
	a := servertest.Start(t, attestation.Limits{})
	addr, admin := a.Addr, a.Admin
	ctx := t.Context()
	c, err := attestor.Dial(ctx, addr, attestor.DialOptions{Token: admin, Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Projects.CreateProject(ctx, &attestdv1.CreateProjectRequest{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]*attestdv1.CreateTokenResponse{}
	for _, role := range []string{"admin", "attestor", "reader"} {
		if tokens[role], err = c.Tokens.CreateToken(ctx, &attestdv1.CreateTokenRequest{Project: "acme", Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	priv, pub, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attestor.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Keys.AddKey(ctx, &attestdv1.AddKeyRequest{Project: "acme", PublicKeyPem: string(pub)}); err != nil {
		t.Fatal(err)
	}
	ci, err := attestor.Dial(ctx, addr, attestor.DialOptions{Token: tokens["attestor"].GetSecret(), Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	for _, s := range []struct {
		step                string
		materials, products map[string]string
	}{
		{"source", map[string]string{"commit": "commit 1"}, map[string]string{"src.tar.gz": "src"}},
		{"build", map[string]string{"src.tar.gz": "src", "go.sum": "go.sum"}, map[string]string{"app": "app"}},
		{"package", map[string]string{"app": "app"}, map[string]string{"app.deb": "deb"}},
		{"image", map[string]string{"app.deb": "deb", "base.img": "base"}, map[string]string{"image": "image"}},
	} {
		env, err := signer.Sign(ctx, attestor.PayloadType, linkStatement(s.step, s.materials, s.products))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ci.Submit(ctx, "", env); err != nil {
			t.Fatalf("submit %s: %v", s.step, err)
		}
	}
	reader := []string{"--server", addr, "--plaintext", "--token", tokens["reader"].GetSecret()}

	// The tree: every step of the chain, each below the one that consumed its product, and the sources.
	image := "sha256:" + sha256Hex("image")
	out, errOut, code := attest(t, append([]string{"provenance", image}, reader...)...)
	if code != exitOK {
		t.Fatalf("provenance: exit %d: %s", code, errOut)
	}
	stepLine := regexp.MustCompile(`(?m)^([ │]*)└── (\w+) [0-9a-f]{12}  signed by ` + signer.KeyID()[:12] + `  \S+  log \d+$`)
	var steps []string
	for _, m := range stepLine.FindAllStringSubmatch(out, -1) {
		steps = append(steps, fmt.Sprintf("%d:%s", len([]rune(m[1]))/4, m[2]))
	}
	if want := []string{"0:image", "2:package", "4:build", "6:source"}; !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v:\n%s", steps, want, out)
	}
	for _, src := range []string{"base.img", "go.sum", "commit"} {
		if !strings.Contains(out, src+" sha256:") || !regexp.MustCompile(regexp.QuoteMeta(src)+` sha256:[0-9a-f]{12} \(source\)`).MatchString(out) {
			t.Errorf("%s is not shown as a source:\n%s", src, out)
		}
	}
	if !strings.HasPrefix(out, "image "+image+"\n") || strings.Contains(out, "truncated") {
		t.Errorf("root or truncation:\n%s", out)
	}
	out, _, code = attest(t, append([]string{"provenance", "--max-depth", "2", image}, reader...)...)
	if code != exitOK || !strings.Contains(out, "(truncated: the graph goes further back than --max-depth 2") ||
		!strings.Contains(out, "app sha256:"+sha256Hex("app")[:12]+" (not followed)") {
		t.Errorf("max-depth 2: exit %d\n%s", code, out)
	}
	out, _, code = attest(t, append([]string{"provenance", image, "--format", "dot"}, reader...)...)
	if code != exitOK || strings.Count(out, "[shape=box") != 4 || strings.Count(out, "[shape=ellipse") != 7 {
		t.Errorf("dot: exit %d\n%s", code, out)
	}

	// The blast radius of the source tarball: every later artifact, by depth.
	out, _, code = attest(t, append([]string{"dependents", "sha256:" + sha256Hex("src")}, reader...)...)
	rowLine := regexp.MustCompile(`(?m)^(\d)\s+(\w+)\s+(\S+)\s+sha256:[0-9a-f]{64}\s+[0-9a-f]{12}\s+sha256:[0-9a-f]{12}$`)
	var rows []string
	for _, m := range rowLine.FindAllStringSubmatch(out, -1) {
		rows = append(rows, m[1]+" "+m[2]+" "+m[3])
	}
	if want := []string{"1 build app", "2 package app.deb", "3 image image"}; code != exitOK || !slices.Equal(rows, want) {
		t.Errorf("dependents: exit %d, rows %v, want %v\n%s", code, rows, want, out)
	}

	// The CI token's attestations, and none of the reader's.
	out, _, code = attest(t, append([]string{"list", "--submitter", tokens["attestor"].GetToken().GetId()}, reader...)...)
	if code != exitOK || strings.Count(out, "\n") != 5 || strings.Count(out, tokens["attestor"].GetToken().GetId()) != 4 {
		t.Errorf("list --submitter: exit %d\n%s", code, out)
	}
	out, errOut, code = attest(t, append([]string{"list", "--submitter", tokens["reader"].GetToken().GetId(), "--step", "build"}, reader...)...)
	if code != exitOK || out != "" || !strings.Contains(errOut, "no attestations match") {
		t.Errorf("list --submitter reader: exit %d, %q, %q", code, out, errOut)
	}

	// Another project's name is not found.
	_, errOut, code = attest(t, append([]string{"provenance", image, "--project", "other"}, reader...)...)
	if code != exitFailed || !strings.Contains(errOut, "NOT_FOUND") {
		t.Errorf("other project: exit %d, %s", code, errOut)
	}
}
