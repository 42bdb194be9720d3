package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExploreSupplyChain is a release manager's journey through two recorded pipelines that share one input
// (base.tar): where an image came from, with the CLI (tree, DOT, JSON) and over REST/JSON; then, when base.tar
// turns out to be bad, everything built from it, across both pipelines, by the CLI and over REST/JSON alike.
func TestExploreSupplyChain(t *testing.T) {
	d, _, pa := startShop(t)
	dir := pa.dir
	runner := &cli{t: t, d: d, dir: dir}
	runner.token = strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "attestor"))
	reader := strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "reader"))
	pa.ok("keygen", "--out", "ci.pem")
	pa.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")
	for name, body := range map[string]string{"base.tar": "base layer\n", "a.c": "int a;\n", "b.c": "int b;\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(step, materials, products, script string) {
		args := []string{"--plaintext", "run", "--wait", "--step", step, "--key", "ci.pem"}
		for _, m := range strings.Split(materials, ",") {
			args = append(args, "--materials", m)
		}
		runner.ok(append(args, "--products", products, "--", "sh", "-c", script)...)
	}
	// Pipeline A: base.tar + a.c -> build-a -> a.bin -> image-a -> a.img. Pipeline B: base.tar + b.c -> build-b -> b.bin.
	run("build-a", "base.tar,a.c", "a.bin", "cat base.tar a.c > a.bin")
	run("image-a", "a.bin", "a.img", "cat a.bin > a.img && echo image >> a.img")
	run("build-b", "base.tar,b.c", "b.bin", "cat base.tar b.c > b.bin")
	digest := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
	}

	// Where did a.img come from? Two steps back to three sources.
	tree := pa.ok("--plaintext", "provenance", digest("a.img"))
	for _, want := range []string{"image-a", "build-a", "a.bin", "a.c", "base.tar"} {
		if !strings.Contains(tree, want) {
			t.Errorf("provenance tree lacks %q:\n%s", want, tree)
		}
	}
	if strings.Contains(tree, "build-b") {
		t.Errorf("provenance of a.img shows pipeline B:\n%s", tree)
	}
	dot := pa.ok("--plaintext", "provenance", "--format", "dot", digest("a.img"))
	if !strings.HasPrefix(strings.TrimSpace(dot), "digraph") || !strings.HasSuffix(strings.TrimSpace(dot), "}") ||
		!strings.Contains(dot, "->") {
		t.Errorf("provenance --format dot is not a DOT graph:\n%s", dot)
	}
	var cliGraph struct {
		Nodes []struct {
			Depth       int `json:"depth"`
			Attestation struct {
				Receipt struct {
					ID   string `json:"id"`
					Step string `json:"step"`
				} `json:"receipt"`
			} `json:"attestation"`
		} `json:"nodes"`
		Sources []struct {
			Name string `json:"name"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(pa.ok("--plaintext", "--json", "provenance", digest("a.img"))), &cliGraph); err != nil {
		t.Fatal(err)
	}
	var steps, sources []string
	for _, n := range cliGraph.Nodes {
		steps = append(steps, fmt.Sprintf("%d:%s", n.Depth, n.Attestation.Receipt.Step))
	}
	for _, s := range cliGraph.Sources {
		sources = append(sources, s.Name)
	}
	slices.Sort(sources)
	if !slices.Equal(steps, []string{"1:image-a", "2:build-a"}) || !slices.Equal(sources, []string{"a.c", "base.tar"}) {
		t.Errorf("provenance --json: steps %v, sources %v", steps, sources)
	}

	// The same graph over REST/JSON, with a reader token.
	var restGraph struct {
		Nodes []struct {
			Attestation struct {
				Receipt struct {
					ID string `json:"id"`
				} `json:"receipt"`
			} `json:"attestation"`
		} `json:"nodes"`
	}
	restGet(t, d, reader, "/v1/projects/shop/provenance?digest="+digest("a.img"), &restGraph)
	if len(restGraph.Nodes) != len(cliGraph.Nodes) {
		t.Fatalf("REST provenance has %d nodes, the CLI %d", len(restGraph.Nodes), len(cliGraph.Nodes))
	}
	for i, n := range restGraph.Nodes {
		if n.Attestation.Receipt.ID != cliGraph.Nodes[i].Attestation.Receipt.ID {
			t.Errorf("node %d: REST %s, CLI %s", i, n.Attestation.Receipt.ID, cliGraph.Nodes[i].Attestation.Receipt.ID)
		}
	}

	// base.tar is bad: what was built from it? Both pipelines.
	want := []string{"a.bin", "a.img", "b.bin"}
	var cliDeps struct {
		Dependents []struct {
			Artifact struct {
				Name string `json:"name"`
			} `json:"artifact"`
		} `json:"dependents"`
	}
	if err := json.Unmarshal([]byte(pa.ok("--plaintext", "--json", "dependents", digest("base.tar"))), &cliDeps); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dep := range cliDeps.Dependents {
		got = append(got, dep.Artifact.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("attest dependents base.tar: %v, want %v", got, want)
	}
	table := pa.ok("--plaintext", "dependents", digest("base.tar"))
	for _, w := range append(want, "build-a", "build-b", "image-a") {
		if !strings.Contains(table, w) {
			t.Errorf("dependents table lacks %q:\n%s", w, table)
		}
	}
	var restDeps struct {
		Dependents []struct {
			Artifact struct {
				Name string `json:"name"`
			} `json:"artifact"`
		} `json:"dependents"`
	}
	restGet(t, d, reader, "/v1/projects/shop/dependents?digest="+digest("base.tar"), &restDeps)
	got = got[:0]
	for _, dep := range restDeps.Dependents {
		got = append(got, dep.Artifact.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("REST dependents of base.tar: %v, want %v", got, want)
	}

	// The attestations that consumed base.tar, by list filter.
	var list struct {
		Attestations []struct {
			Receipt struct {
				Step string `json:"step"`
			} `json:"receipt"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal([]byte(pa.ok("--plaintext", "--json", "list", "--material", digest("base.tar"))), &list); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, a := range list.Attestations {
		got = append(got, a.Receipt.Step)
	}
	if !slices.Equal(got, []string{"build-b", "build-a"}) {
		t.Errorf("list --material base.tar: %v, want newest first [build-b build-a]", got)
	}
}
