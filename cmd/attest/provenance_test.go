package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// fakeGraph answers Provenance, Dependents and List with what the test sets, and keeps the last requests.
type fakeGraph struct {
	attestdv1.UnimplementedAttestationServiceServer

	mu       sync.Mutex
	prov     *attestdv1.ProvenanceResponse
	deps     *attestdv1.DependentsResponse
	list     *attestdv1.ListResponse
	lastProv *attestdv1.ProvenanceRequest
	lastDeps *attestdv1.DependentsRequest
	lastList *attestdv1.ListRequest
}

func (f *fakeGraph) Provenance(ctx context.Context, req *attestdv1.ProvenanceRequest) (*attestdv1.ProvenanceResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastProv = req
	if req.GetProject() == "other" {
		return nil, status.Error(codes.NotFound, `not found: project "other" not found`)
	}
	return f.prov, nil
}

func (f *fakeGraph) Dependents(ctx context.Context, req *attestdv1.DependentsRequest) (*attestdv1.DependentsResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastDeps = req
	return f.deps, nil
}

func (f *fakeGraph) List(ctx context.Context, req *attestdv1.ListRequest) (*attestdv1.ListResponse, error) {
	if err := authorize(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = req
	return f.list, nil
}

func startFakeGraph(t *testing.T, f *fakeGraph) []string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	attestdv1.RegisterAttestationServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return []string{"--server", lis.Addr().String(), "--plaintext", "--token", "good"}
}

func ref(name string) *attestdv1.ArtifactRef {
	return &attestdv1.ArtifactRef{Name: name, Algorithm: "sha256", Digest: sha256Hex(name)}
}

func graphNode(id, step string, depth int32, index uint64, materials, subjects []string) *attestdv1.ProvenanceNode {
	a := &attestdv1.Attestation{Receipt: &attestdv1.Receipt{Id: id, Step: step, IntegratedTime: fakeTime, LogIndex: index},
		SignerKeyIds: []string{strings.Repeat("ab", 32)}}
	for _, m := range materials {
		a.Materials = append(a.Materials, ref(m))
	}
	for _, s := range subjects {
		a.Subjects = append(a.Subjects, ref(s))
	}
	return &attestdv1.ProvenanceNode{Attestation: a, Depth: depth}
}

// diamond is an image built from a package and, directly, from the binary the package holds: the build is
// reached twice. One source has quotes in its name.
var (
	idImage, idPkg, idBuild = strings.Repeat("11", 32), strings.Repeat("22", 32), strings.Repeat("33", 32)
	weirdName               = `weird "name".txt`
)

func diamond() *attestdv1.ProvenanceResponse {
	return &attestdv1.ProvenanceResponse{
		Digest: "sha256:" + sha256Hex("image"),
		Nodes: []*attestdv1.ProvenanceNode{
			graphNode(idImage, "image", 1, 7, []string{"app.deb", "app", "base.img"}, []string{"image"}),
			graphNode(idPkg, "package", 2, 6, []string{"app"}, []string{"app.deb"}),
			graphNode(idBuild, "build", 2, 5, []string{"src.tar.gz", weirdName}, []string{"app"}),
		},
		Edges: []*attestdv1.ProvenanceEdge{
			{ConsumerId: idImage, ProducerId: idPkg, Material: ref("app.deb")},
			{ConsumerId: idImage, ProducerId: idBuild, Material: ref("app")},
			{ConsumerId: idPkg, ProducerId: idBuild, Material: ref("app")},
		},
		Sources: []*attestdv1.ArtifactRef{ref("base.img"), ref("src.tar.gz"), ref(weirdName)},
	}
}

func short(name string) string { return "sha256:" + sha256Hex(name)[:12] }

func TestProvenanceTree(t *testing.T) {
	f := &fakeGraph{prov: diamond()}
	server := startFakeGraph(t, f)
	digest := "sha256:" + sha256Hex("image")
	out, errOut, code := attest(t, append([]string{"provenance", digest}, server...)...)
	signed := "signed by abababababab  2026-11-26T10:00:00Z"
	want := fmt.Sprintf(`image %s
└── image 111111111111  %s  log 7
    ├── app.deb %s
    │   └── package 222222222222  %s  log 6
    │       └── app %s
    │           └── build 333333333333  %s  log 5
    │               ├── src.tar.gz %s (source)
    │               └── weird "name".txt %s (source)
    ├── app %s
    │   └── build 333333333333 (shown above)
    └── base.img %s (source)
`, digest, signed, short("app.deb"), signed, short("app"), signed, short("src.tar.gz"), short(weirdName),
		short("app"), short("base.img"))
	if code != exitOK || out != want || errOut != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}

	// Flags after the digest, bounds passed on, and the truncation said.
	f.prov.Truncated = true
	out, _, code = attest(t, append([]string{"provenance", digest, "--max-depth", "3", "--project", "acme"}, server...)...)
	if code != exitOK || !strings.HasSuffix(out, "(truncated: the graph goes further back than --max-depth 3 and --max-nodes 500 reach)\n") {
		t.Errorf("truncated: exit %d\n%s", code, out)
	}
	if r := f.lastProv; r.GetMaxDepth() != 3 || r.GetMaxNodes() != 0 || r.GetProject() != "acme" || r.GetDigest() != digest {
		t.Errorf("request %v", r)
	}

	// --json and --format json: the answer as protojson.
	for _, args := range [][]string{{"--json"}, {"--format", "json"}, {"--format=json", "--json"}} {
		out, _, code = attest(t, append(append([]string{"provenance", digest}, args...), server...)...)
		var got attestdv1.ProvenanceResponse
		if err := protojson.Unmarshal([]byte(out), &got); code != exitOK || err != nil || !proto.Equal(&got, f.prov) {
			t.Errorf("%v: exit %d, %v\n%s", args, code, err, out)
		}
	}

	// Nothing produced the digest: said on stderr, exit 0.
	f.prov = &attestdv1.ProvenanceResponse{Digest: digest}
	out, errOut, code = attest(t, append([]string{"provenance", digest}, server...)...)
	if code != exitOK || out != "" || !strings.Contains(errOut, "no attestation of the project has "+digest) {
		t.Errorf("empty: exit %d, %q, %q", code, out, errOut)
	}
}

func TestProvenanceUsage(t *testing.T) {
	server := startFakeGraph(t, &fakeGraph{prov: diamond(), deps: &attestdv1.DependentsResponse{}})
	digest := "sha256:" + sha256Hex("image")
	for _, c := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"provenance"}, exitUsage, "missing DIGEST"},
		{[]string{"provenance", "sha256:xyz"}, exitUsage, "DIGEST: digest"},
		{[]string{"provenance", digest, "--max-depth", "-1"}, exitUsage, "--max-depth must be from 0 to 64"},
		{[]string{"provenance", digest, "--max-depth", "65"}, exitUsage, "--max-depth must be from 0 to 64"},
		{[]string{"provenance", digest, "--max-nodes", "4294967297"}, exitUsage, "--max-nodes must be from 0 to 5000"},
		{[]string{"provenance", digest, "--format", "svg"}, exitUsage, `--format must be tree, json or dot, not "svg"`},
		{[]string{"provenance", digest, "--format", "dot", "--json"}, exitUsage, "does not go with --format dot"},
		{[]string{"provenance", digest, digest}, exitUsage, "unexpected argument"},
		{[]string{"provenance", digest, "--project", "other"}, exitFailed, "NOT_FOUND"},
		{[]string{"dependents", "nocolon"}, exitUsage, "DIGEST: digest"},
		{[]string{"dependents", digest, "--max-nodes", "5001"}, exitUsage, "--max-nodes must be from 0 to 5000"},
	} {
		out, errOut, code := attest(t, append(c.args, server...)...)
		if code != c.code || !strings.Contains(errOut, c.wantErr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.wantErr)
		}
	}
}

// DOT statements as writeDOT writes them, one per line.
var (
	dotString = `"(?:[^"\\]|\\.)*"`
	dotNode   = regexp.MustCompile(`^\t(` + dotString + `) \[shape=(box|ellipse), label=(` + dotString + `)(, [a-z]+=[a-z0-9]+)*\];$`)
	dotEdge   = regexp.MustCompile(`^\t(` + dotString + `) -> (` + dotString + `);$`)
	dotAttr   = regexp.MustCompile(`^\t(rankdir=LR|labelloc=t|label=` + dotString + `|node \[fontname="Helvetica"\]);$`)
)

func TestProvenanceDOT(t *testing.T) {
	f := &fakeGraph{prov: diamond()}
	f.prov.Truncated = true
	server := startFakeGraph(t, f)
	digest := "sha256:" + sha256Hex("image")
	out, errOut, code := attest(t, append([]string{"provenance", "--format", "dot", digest}, server...)...)
	if code != exitOK || !strings.Contains(errOut, "(truncated: ") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != "digraph provenance {" || lines[len(lines)-1] != "}" {
		t.Fatalf("not a digraph:\n%s", out)
	}
	declared := map[string]string{} // node -> shape
	var edges [][2]string
	for _, l := range lines[1 : len(lines)-1] {
		switch {
		case dotNode.MatchString(l):
			m := dotNode.FindStringSubmatch(l)
			if _, dup := declared[m[1]]; dup {
				t.Errorf("node %s declared twice", m[1])
			}
			declared[m[1]] = m[2]
		case dotEdge.MatchString(l):
			m := dotEdge.FindStringSubmatch(l)
			edges = append(edges, [2]string{m[1], m[2]})
		case dotAttr.MatchString(l):
		default:
			t.Errorf("not a statement writeDOT writes: %q", l)
		}
	}
	shapes := map[string]int{}
	for _, s := range declared {
		shapes[s]++
	}
	// Three attestations; six artifacts: image, app.deb, app, base.img, src.tar.gz and the weird one.
	if shapes["box"] != 3 || shapes["ellipse"] != 6 {
		t.Errorf("shapes %v, want 3 boxes and 6 ellipses", shapes)
	}
	// Materials into each attestation, each attestation into its subjects: 3+1, 1+1, 2+1.
	if len(edges) != 9 {
		t.Errorf("%d edges, want 9: %v", len(edges), edges)
	}
	for _, e := range edges {
		from, to := declared[e[0]], declared[e[1]]
		if from == "" || to == "" || from == to {
			t.Errorf("edge %s -> %s: not artifact -> attestation or attestation -> artifact", e[0], e[1])
		}
	}
	for _, want := range []string{
		`label="weird \"name\".txt\nsha256:` + sha256Hex(weirdName)[:12] + `", style=filled, fillcolor=lightgrey]`,
		`[shape=box, label="build\n333333333333"]`,
		`label="image\nsha256:` + sha256Hex("image")[:12] + `", peripheries=2]`,
		`label="(truncated: the graph goes further back than --max-depth 16 and --max-nodes 500 reach)";`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("DOT lacks %s:\n%s", want, out)
		}
	}

	if _, err := exec.LookPath("dot"); err != nil {
		t.Log("Graphviz is not installed: the DOT is checked for structure only")
		return
	}
	cmd := exec.CommandContext(t.Context(), "dot", "-Tsvg")
	cmd.Stdin = strings.NewReader(out)
	if svg, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("dot -Tsvg: %v\n%s", err, svg)
	}
}

func TestDependentsTable(t *testing.T) {
	lib := "sha256:" + sha256Hex("lib")
	f := &fakeGraph{deps: &attestdv1.DependentsResponse{Digest: lib, Truncated: true, Dependents: []*attestdv1.Dependent{
		{Artifact: ref("app"), AttestationId: idBuild, Step: "build", Depth: 1, Via: lib, IntegratedTime: fakeTime},
		{Artifact: ref("app.deb"), AttestationId: idPkg, Step: "package", Depth: 2, Via: "sha256:" + sha256Hex("app"), IntegratedTime: fakeTime},
	}}}
	server := startFakeGraph(t, f)
	out, errOut, code := attest(t, append([]string{"dependents", lib, "--max-nodes", "2"}, server...)...)
	want := fmt.Sprintf(`DEPTH  STEP     ARTIFACT  DIGEST%s  ATTESTATION   VIA
1      build    app       sha256:%s  333333333333  %s
2      package  app.deb   sha256:%s  222222222222  %s
(truncated: more artifacts may depend on it, beyond --max-depth 16 and --max-nodes 2)
`, strings.Repeat(" ", 65), sha256Hex("app"), short("lib"), sha256Hex("app.deb"), short("app"))
	if code != exitOK || out != want || errOut != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	if r := f.lastDeps; r.GetDigest() != lib || r.GetMaxNodes() != 2 {
		t.Errorf("request %v", r)
	}
	out, _, code = attest(t, append([]string{"--json", "dependents", lib}, server...)...)
	var got attestdv1.DependentsResponse
	if err := protojson.Unmarshal([]byte(out), &got); code != exitOK || err != nil || !proto.Equal(&got, f.deps) {
		t.Errorf("--json: exit %d, %v\n%s", code, err, out)
	}
	f.deps = &attestdv1.DependentsResponse{Digest: lib}
	out, errOut, code = attest(t, append([]string{"dependents", lib}, server...)...)
	if code != exitOK || out != "" || !strings.Contains(errOut, "nothing of the project was built from "+lib) {
		t.Errorf("none: exit %d, %q, %q", code, out, errOut)
	}
}

func TestListFilters(t *testing.T) {
	f := &fakeGraph{list: &attestdv1.ListResponse{NextPageToken: "next-page",
		Attestations: []*attestdv1.Attestation{graphNode(idBuild, "build", 1, 5, nil, []string{"app"}).GetAttestation()}}}
	f.list.Attestations[0].Submitter = "tok-ci"
	server := startFakeGraph(t, f)
	subject := "sha256:" + sha256Hex("app")
	out, errOut, code := attest(t, append([]string{"list", "--submitter", "tok-ci", "--subject", subject, "--material", subject,
		"--step", "build", "--predicate-type", "https://slsa.dev/provenance/v1", "--signer", "k1",
		"--since", "2026-11-01T00:00:00Z", "--until", "1h", "--limit", "5", "--page-token", "abc"}, server...)...)
	if code != exitOK || !strings.HasPrefix(out, "INTEGRATED") || !strings.Contains(out, "tok-ci") ||
		!strings.Contains(out, idBuild) || !strings.Contains(errOut, "--page-token next-page") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	r := f.lastList
	if r.GetSubmitter() != "tok-ci" || r.GetSubjectDigest() != subject || r.GetMaterialDigest() != subject ||
		r.GetStep() != "build" || r.GetPredicateType() != "https://slsa.dev/provenance/v1" || r.GetSignerKeyId() != "k1" ||
		r.GetSince().AsTime().Format("2006-01-02") != "2026-11-01" || r.GetUntil() == nil || r.GetPageSize() != 5 ||
		r.GetPageToken() != "abc" || !r.GetOmitEnvelopes() {
		t.Errorf("request %v", r)
	}
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"list", "--limit", "0"}, "--limit must be from 1 to 1000"},
		{[]string{"list", "--limit", "1001"}, "--limit must be from 1 to 1000"},
		{[]string{"list", "--since", "yesterday"}, "--since: \"yesterday\" is neither"},
		{[]string{"list", "--until", "-5m"}, "--until:"},
		{[]string{"list", "--subject", "sha256:nothex"}, "--subject: digest"},
		{[]string{"list", "extra"}, "unexpected argument"},
	} {
		_, errOut, code := attest(t, append(c.args, server...)...)
		if code != exitUsage || !strings.Contains(errOut, c.wantErr) {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
}

// FuzzWriteDOT: whatever the names and steps, the DOT is made of the statements writeDOT writes, each string
// closed where it should be.
func FuzzWriteDOT(f *testing.F) {
	f.Add(`weird "name".txt`, "build", `back\slash`)
	f.Add("a\nb\r\"", `\"`, `"`)
	f.Fuzz(func(t *testing.T, material, step, subject string) {
		resp := diamond()
		a := resp.GetNodes()[2].GetAttestation()
		a.Materials[1].Name = material
		a.Receipt.Step = step
		a.Subjects[0].Name = subject
		var b strings.Builder
		writeDOT(&b, resp, "(truncated: "+material+")")
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		for _, l := range lines[1 : len(lines)-1] {
			if !dotNode.MatchString(l) && !dotEdge.MatchString(l) && !dotAttr.MatchString(l) {
				t.Fatalf("not a statement writeDOT writes: %q", l)
			}
		}
	})
}
