package server_test

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// graphEnv is a project with one functionary key, for recording pipelines.
type graphEnv struct {
	*env
	tok    map[string]string
	signer *signer
}

func newGraphEnv(t *testing.T) *graphEnv {
	e := newEnv(t, testLimits())
	g := &graphEnv{env: e, tok: e.project("alpha"), signer: newSigner(t)}
	e.addKey(g.tok["admin"], g.signer)
	return g
}

// step records a link of step with materials and products (name -> the digest's label, hashed by sha) one
// minute after the one before, and returns its id.
func (g *graphEnv) step(t *testing.T, step string, materials, products map[string]string) string {
	t.Helper()
	hashed := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for name, label := range m {
			out[name] = sha(label)
		}
		return out
	}
	g.clock.Advance(time.Minute)
	resp, err := g.atts().Submit(as(g.tok["attestor"]), &attestdv1.SubmitRequest{
		Envelope: envelope(inTotoPayloadType, linkStatement(step, hashed(materials), hashed(products)), g.signer)})
	if err != nil {
		t.Fatalf("submit %s: %v", step, err)
	}
	return resp.GetReceipt().GetId()
}

func (g *graphEnv) provenance(t *testing.T, label string, depth, nodes int32) *attestdv1.ProvenanceResponse {
	t.Helper()
	resp, err := g.atts().Provenance(as(g.tok["reader"]), &attestdv1.ProvenanceRequest{
		Digest: "sha256:" + sha(label), MaxDepth: depth, MaxNodes: nodes})
	if err != nil {
		t.Fatalf("Provenance(%s): %v", label, err)
	}
	return resp
}

func (g *graphEnv) dependents(t *testing.T, label string, depth, nodes int32) *attestdv1.DependentsResponse {
	t.Helper()
	resp, err := g.atts().Dependents(as(g.tok["verifier"]), &attestdv1.DependentsRequest{
		Digest: "sha256:" + sha(label), MaxDepth: depth, MaxNodes: nodes})
	if err != nil {
		t.Fatalf("Dependents(%s): %v", label, err)
	}
	return resp
}

// describeGraph writes a graph in a form that tests compare: nodes as "depth:step", edges as
// "consumer-step>producer-step:material", sources by name.
func describeGraph(resp *attestdv1.ProvenanceResponse) (nodes, edges, sources []string) {
	steps := map[string]string{}
	for _, n := range resp.GetNodes() {
		r := n.GetAttestation().GetReceipt()
		steps[r.GetId()] = r.GetStep()
		nodes = append(nodes, fmt.Sprintf("%d:%s", n.GetDepth(), r.GetStep()))
	}
	for _, e := range resp.GetEdges() {
		edges = append(edges, steps[e.GetConsumerId()]+">"+steps[e.GetProducerId()]+":"+e.GetMaterial().GetName())
	}
	for _, s := range resp.GetSources() {
		sources = append(sources, s.GetName())
	}
	return nodes, edges, sources
}

type graphEdge struct{ consumer, producer, material string }

// edgeList describes edges as describeGraph does, in the answer's order: by consumer id, producer id, material.
func edgeList(steps map[string]string, edges ...graphEdge) []string {
	slices.SortFunc(edges, func(a, b graphEdge) int {
		return cmp.Or(strings.Compare(a.consumer, b.consumer), strings.Compare(a.producer, b.producer),
			strings.Compare(a.material, b.material))
	})
	var out []string
	for _, e := range edges {
		out = append(out, steps[e.consumer]+">"+steps[e.producer]+":"+e.material)
	}
	return out
}

func checkGraph(t *testing.T, what string, resp *attestdv1.ProvenanceResponse, nodes, edges, sources []string, truncated bool) {
	t.Helper()
	gotNodes, gotEdges, gotSources := describeGraph(resp)
	if !slices.Equal(gotNodes, nodes) || !slices.Equal(gotEdges, edges) || !slices.Equal(gotSources, sources) ||
		resp.GetTruncated() != truncated {
		t.Errorf("%s:\n got nodes %v edges %v sources %v truncated %v\nwant nodes %v edges %v sources %v truncated %v",
			what, gotNodes, gotEdges, gotSources, resp.GetTruncated(), nodes, edges, sources, truncated)
	}
}

// TestProvenanceChain: source -> build -> package -> image, with a test step off the side and a rescan of the
// image: the graph of the image has every step of the chain, by depth and newest first, its edges, and the
// sources; the bounds cut it and say so.
func TestProvenanceChain(t *testing.T) {
	g := newGraphEnv(t)
	source := g.step(t, "source", map[string]string{"commit": "commit 1"}, map[string]string{"src.tar.gz": "src v1"})
	build := g.step(t, "build", map[string]string{"src.tar.gz": "src v1", "go.sum": "go.sum v1"},
		map[string]string{"app": "app v1"})
	g.step(t, "test", map[string]string{"app": "app v1"}, map[string]string{"report.xml": "report v1"})
	pkg := g.step(t, "package", map[string]string{"app": "app v1"}, map[string]string{"app.deb": "deb v1"})
	image := g.step(t, "image", map[string]string{"app.deb": "deb v1", "base.img": "base v3"},
		map[string]string{"image": "image v1"})
	scan := g.step(t, "scan", nil, map[string]string{"image": "image v1"})

	full := []string{"1:scan", "1:image", "2:package", "3:build", "4:source"}
	steps := map[string]string{source: "source", build: "build", pkg: "package", image: "image", scan: "scan"}
	edges := edgeList(steps, graphEdge{image, pkg, "app.deb"}, graphEdge{pkg, build, "app"},
		graphEdge{build, source, "src.tar.gz"})
	sources := []string{"base.img", "commit", "go.sum"}

	resp := g.provenance(t, "image v1", 0, 0)
	checkGraph(t, "defaults", resp, full, edges, sources, false)
	if resp.GetDigest() != "sha256:"+sha("image v1") {
		t.Errorf("digest %q, want the asked one", resp.GetDigest())
	}
	for _, n := range resp.GetNodes() {
		a := n.GetAttestation()
		if len(a.GetEnvelope()) != 0 {
			t.Errorf("node %s comes with its envelope", a.GetReceipt().GetStep())
		}
		if len(a.GetSubjects()) == 0 || a.GetSubjects()[0].GetName() == "" || len(a.GetSignerKeyIds()) != 1 {
			t.Errorf("node %s lacks its named subjects or signers: %v", a.GetReceipt().GetStep(), a)
		}
		got, err := g.atts().Get(as(g.tok["reader"]), &attestdv1.GetRequest{Id: a.GetReceipt().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if r := got.GetAttestation().GetReceipt(); !bytes.Equal(r.GetLogEntry(), a.GetReceipt().GetLogEntry()) ||
			r.GetLogIndex() != a.GetReceipt().GetLogIndex() || !r.GetIntegratedTime().AsTime().Equal(a.GetReceipt().GetIntegratedTime().AsTime()) {
			t.Errorf("node %s: receipt %v, Get says %v", r.GetStep(), a.GetReceipt(), r)
		}
	}

	// Each bound: the graph up to it, truncated when the chain goes on; the sources that the walk could tell.
	for _, c := range []struct {
		depth, nodes int32
		nodeList     []string
		sources      []string
		truncated    bool
	}{
		{1, 0, full[:2], []string{"base.img"}, true},
		{2, 0, full[:3], []string{"base.img"}, true},
		{3, 0, full[:4], []string{"base.img", "go.sum"}, true},
		{4, 0, full, sources, false},
		{0, 4, full[:4], []string{"base.img", "go.sum"}, true},
		{0, 5, full, sources, false},
		{0, 1, full[:1], nil, true},
	} {
		resp := g.provenance(t, "image v1", c.depth, c.nodes)
		gotNodes, _, gotSources := describeGraph(resp)
		if !slices.Equal(gotNodes, c.nodeList) || !slices.Equal(gotSources, c.sources) || resp.GetTruncated() != c.truncated {
			t.Errorf("max_depth %d max_nodes %d: nodes %v sources %v truncated %v; want %v %v %v", c.depth, c.nodes,
				gotNodes, gotSources, resp.GetTruncated(), c.nodeList, c.sources, c.truncated)
		}
	}

	// From the middle of the chain, and from a source: what produced them, and nothing at all.
	checkGraph(t, "app", g.provenance(t, "app v1", 0, 0), []string{"1:build", "2:source"},
		edgeList(steps, graphEdge{build, source, "src.tar.gz"}), []string{"commit", "go.sum"}, false)
	checkGraph(t, "a source", g.provenance(t, "base v3", 0, 0), nil, nil, nil, false)
}

// TestDependentsSharedMaterial: two pipelines consume one library; its dependents are the artifacts of both,
// by depth then newest first, each with the digest it came through.
func TestDependentsSharedMaterial(t *testing.T) {
	g := newGraphEnv(t)
	buildA := g.step(t, "build-a", map[string]string{"lib.tar": "lib 1.2", "a.c": "a.c"}, map[string]string{"a.bin": "a.bin"})
	buildB := g.step(t, "build-b", map[string]string{"lib.tar": "lib 1.2", "b.c": "b.c"},
		map[string]string{"b.bin": "b.bin", "b.sym": "b.sym"})
	image := g.step(t, "image-b", map[string]string{"b.bin": "b.bin"}, map[string]string{"b.img": "b.img"})
	pkg := g.step(t, "package-a", map[string]string{"a.bin": "a.bin"}, map[string]string{"a.deb": "a.deb"})
	g.step(t, "unrelated", map[string]string{"c.c": "c.c"}, map[string]string{"c.bin": "c.bin"})

	describe := func(resp *attestdv1.DependentsResponse) []string {
		var out []string
		for _, d := range resp.GetDependents() {
			via := strings.TrimPrefix(d.GetVia(), "sha256:")
			for _, label := range []string{"lib 1.2", "a.bin", "b.bin"} {
				if via == sha(label) {
					via = label
				}
			}
			if d.GetArtifact().GetDigest() != sha(d.GetArtifact().GetName()) || d.GetIntegratedTime() == nil {
				t.Errorf("dependent %v: wrong digest or no time", d)
			}
			out = append(out, fmt.Sprintf("%d %s %s %.8s via %s", d.GetDepth(), d.GetStep(), d.GetArtifact().GetName(),
				d.GetAttestationId(), via))
		}
		return out
	}
	want := []string{
		fmt.Sprintf("1 build-b b.bin %.8s via lib 1.2", buildB),
		fmt.Sprintf("1 build-b b.sym %.8s via lib 1.2", buildB),
		fmt.Sprintf("1 build-a a.bin %.8s via lib 1.2", buildA),
		fmt.Sprintf("2 package-a a.deb %.8s via a.bin", pkg),
		fmt.Sprintf("2 image-b b.img %.8s via b.bin", image),
	}
	resp := g.dependents(t, "lib 1.2", 0, 0)
	if got := describe(resp); !slices.Equal(got, want) || resp.GetTruncated() {
		t.Errorf("dependents:\n got %q truncated %v\nwant %q", got, resp.GetTruncated(), want)
	}
	if resp.GetDigest() != "sha256:"+sha("lib 1.2") {
		t.Errorf("digest %q", resp.GetDigest())
	}
	if got := describe(g.dependents(t, "lib 1.2", 1, 0)); !slices.Equal(got, want[:3]) {
		t.Errorf("max_depth 1: %q", got)
	}
	if resp := g.dependents(t, "lib 1.2", 1, 0); !resp.GetTruncated() {
		t.Error("max_depth 1: not truncated")
	}
	if resp := g.dependents(t, "lib 1.2", 0, 1); !slices.Equal(describe(resp), want[:2]) || !resp.GetTruncated() {
		t.Errorf("max_nodes 1: %q truncated %v", describe(resp), resp.GetTruncated())
	}
	if resp := g.dependents(t, "lib 1.2", 0, 4); !slices.Equal(describe(resp), want) || resp.GetTruncated() {
		t.Errorf("max_nodes 4, all of them: %q truncated %v", describe(resp), resp.GetTruncated())
	}
	if resp := g.dependents(t, "a.deb", 0, 0); len(resp.GetDependents()) != 0 || resp.GetTruncated() {
		t.Errorf("a final product has dependents: %v", resp)
	}
}

// TestGraphCycles: a digest that is a material and a subject of one attestation, and two attestations that
// produce each other's materials: every walk ends, each attestation once.
func TestGraphCycles(t *testing.T) {
	g := newGraphEnv(t)
	// a passes x through and makes y from it; b makes x from y.
	a := g.step(t, "a", map[string]string{"x": "x"}, map[string]string{"x": "x", "y": "y"})
	b := g.step(t, "b", map[string]string{"y": "y"}, map[string]string{"x": "x"})
	edges := edgeList(map[string]string{a: "a", b: "b"}, graphEdge{a, b, "x"}, graphEdge{b, a, "y"})
	// c passes a README through unchanged: it is still a source, and c is not its own producer.
	g.step(t, "c", map[string]string{"README": "readme"}, map[string]string{"README": "readme", "out": "out"})

	checkGraph(t, "provenance of y", g.provenance(t, "y", 0, 0), []string{"1:a", "2:b"}, edges, nil, false)
	checkGraph(t, "provenance of x", g.provenance(t, "x", 0, 0), []string{"1:b", "1:a"}, edges, nil, false)
	checkGraph(t, "provenance of out", g.provenance(t, "out", 0, 0), []string{"1:c"}, nil, []string{"README"}, false)

	resp := g.dependents(t, "x", 0, 0)
	var got []string
	for _, d := range resp.GetDependents() {
		got = append(got, fmt.Sprintf("%d %s %s", d.GetDepth(), d.GetStep(), d.GetArtifact().GetName()))
	}
	if want := []string{"1 a x", "1 a y", "2 b x"}; !slices.Equal(got, want) || resp.GetTruncated() {
		t.Errorf("dependents of x: %q truncated %v, want %q", got, resp.GetTruncated(), want)
	}
}

// TestGraphBadInput: bad digests and bounds are INVALID_ARGUMENT naming the field; another project's name is
// NOT_FOUND; a digest nothing has is an empty answer.
func TestGraphBadInput(t *testing.T) {
	g := newGraphEnv(t)
	g.step(t, "build", map[string]string{"src": "src"}, map[string]string{"app": "app"})
	beta := g.project("beta")
	good := "sha256:" + sha("app")
	for _, c := range []struct {
		digest       string
		depth, nodes int32
		fragments    []string
	}{
		{"", 0, 0, []string{"digest"}},
		{"nocolon", 0, 0, []string{"digest"}},
		{"sha256:" + strings.ToUpper(sha("app")), 0, 0, []string{"digest"}},
		{"sha256:abc", 0, 0, []string{"digest"}},
		{"sha256:" + strings.Repeat("a", 2000), 0, 0, []string{"digest"}},
		{good, -1, 0, []string{"max_depth", "negative"}},
		{good, 65, 0, []string{"max_depth", "64"}},
		{good, 0, -1, []string{"max_nodes", "negative"}},
		{good, 0, 5001, []string{"max_nodes", "5000"}},
	} {
		_, err := g.atts().Provenance(as(g.tok["reader"]), &attestdv1.ProvenanceRequest{Digest: c.digest, MaxDepth: c.depth, MaxNodes: c.nodes})
		wantCode(t, err, codes.InvalidArgument, c.fragments...)
		_, err = g.atts().Dependents(as(g.tok["reader"]), &attestdv1.DependentsRequest{Digest: c.digest, MaxDepth: c.depth, MaxNodes: c.nodes})
		wantCode(t, err, codes.InvalidArgument, c.fragments...)
	}
	// The largest bounds are accepted.
	if _, err := g.atts().Provenance(as(g.tok["reader"]), &attestdv1.ProvenanceRequest{Digest: good, MaxDepth: 64, MaxNodes: 5000}); err != nil {
		t.Errorf("max_depth 64, max_nodes 5000: %v", err)
	}

	// Another project: its name is not found, and its own graph of the digest is empty.
	_, err := g.atts().Provenance(as(beta["reader"]), &attestdv1.ProvenanceRequest{Project: "alpha", Digest: good})
	wantCode(t, err, codes.NotFound, "project")
	_, err = g.atts().Dependents(as(beta["reader"]), &attestdv1.DependentsRequest{Project: "alpha", Digest: good})
	wantCode(t, err, codes.NotFound, "project")
	prov, err := g.atts().Provenance(as(beta["reader"]), &attestdv1.ProvenanceRequest{Digest: good})
	if err != nil || len(prov.GetNodes()) != 0 || prov.GetTruncated() {
		t.Errorf("beta's provenance of alpha's artifact: %v, %v", prov, err)
	}
	deps, err := g.atts().Dependents(as(beta["reader"]), &attestdv1.DependentsRequest{Digest: "sha256:" + sha("src")})
	if err != nil || len(deps.GetDependents()) != 0 {
		t.Errorf("beta's dependents of alpha's material: %v, %v", deps, err)
	}
	// A digest nothing has: an empty answer naming it.
	prov, err = g.atts().Provenance(as(g.tok["reader"]), &attestdv1.ProvenanceRequest{Digest: "sha512:" + strings.Repeat("0", 128)})
	if err != nil || len(prov.GetNodes())+len(prov.GetEdges())+len(prov.GetSources()) != 0 ||
		prov.GetDigest() != "sha512:"+strings.Repeat("0", 128) {
		t.Errorf("unknown digest: %v, %v", prov, err)
	}
	// A server-admin names the project.
	if resp, err := g.atts().Provenance(as(g.admin), &attestdv1.ProvenanceRequest{Project: "alpha", Digest: good}); err != nil || len(resp.GetNodes()) != 1 {
		t.Errorf("server-admin: %v, %v", resp, err)
	}
}

// TestListBySubmitter: List's submitter filter selects the attestations of one token.
func TestListBySubmitter(t *testing.T) {
	g := newGraphEnv(t)
	g.step(t, "build", map[string]string{"src": "src"}, map[string]string{"app": "app"})
	other, err := g.tokens().CreateToken(as(g.tok["admin"]), &attestdv1.CreateTokenRequest{Role: "attestor"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.atts().Submit(as(other.GetSecret()), &attestdv1.SubmitRequest{
		Envelope: envelope(inTotoPayloadType, statement("package", "app.deb"), g.signer)})
	if err != nil {
		t.Fatal(err)
	}
	list, err := g.atts().List(as(g.tok["reader"]), &attestdv1.ListRequest{Submitter: other.GetToken().GetId()})
	if err != nil || len(list.GetAttestations()) != 1 || list.GetAttestations()[0].GetReceipt().GetId() != resp.GetReceipt().GetId() {
		t.Fatalf("List by submitter: %v, %v", list, err)
	}
	list, err = g.atts().List(as(g.tok["reader"]), &attestdv1.ListRequest{Submitter: "nobody"})
	if err != nil || len(list.GetAttestations()) != 0 {
		t.Errorf("List by an unknown submitter: %v, %v", list, err)
	}
	_, err = g.atts().List(as(g.tok["reader"]), &attestdv1.ListRequest{Submitter: strings.Repeat("x", 1025)})
	wantCode(t, err, codes.InvalidArgument, "1024")
}
