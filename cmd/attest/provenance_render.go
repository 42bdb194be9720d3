package main

import (
	"fmt"
	"io"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// This file prints a ProvenanceResponse for people: as a tree in the terminal, and as a Graphviz graph.

// refKey is an artifact as a material or subject names it.
type refKey struct{ name, algorithm, digest string }

func keyOf(a *attestdv1.ArtifactRef) refKey {
	return refKey{a.GetName(), a.GetAlgorithm(), a.GetDigest()}
}

func (k refKey) digestString() string { return k.algorithm + ":" + k.digest }

// graphView indexes a ProvenanceResponse for printing.
type graphView struct {
	resp  *attestdv1.ProvenanceResponse
	nodes map[string]*attestdv1.ProvenanceNode // by attestation id
	// producers are, for each consumer id and material, the producers of the edges, in the answer's order.
	producers map[string]map[refKey][]string
	sources   map[refKey]bool
}

func newGraphView(resp *attestdv1.ProvenanceResponse) *graphView {
	v := &graphView{resp: resp, nodes: map[string]*attestdv1.ProvenanceNode{},
		producers: map[string]map[refKey][]string{}, sources: map[refKey]bool{}}
	for _, n := range resp.GetNodes() {
		v.nodes[n.GetAttestation().GetReceipt().GetId()] = n
	}
	for _, e := range resp.GetEdges() {
		m := v.producers[e.GetConsumerId()]
		if m == nil {
			m = map[refKey][]string{}
			v.producers[e.GetConsumerId()] = m
		}
		m[keyOf(e.GetMaterial())] = append(m[keyOf(e.GetMaterial())], e.GetProducerId())
	}
	for _, s := range resp.GetSources() {
		v.sources[keyOf(s)] = true
	}
	return v
}

// rootName is the artifact's name as the first attestation naming it does; "" if none does.
func (v *graphView) rootName() string {
	for _, n := range v.resp.GetNodes() {
		for _, s := range n.GetAttestation().GetSubjects() {
			if keyOf(s).digestString() == v.resp.GetDigest() && s.GetName() != "" {
				return s.GetName()
			}
		}
	}
	return ""
}

// writeTree prints the artifact, then each attestation that produced it, each with its materials and, under
// them, the attestations that produced those, depth first. An attestation is printed in full once; where it
// is reached again it is only named.
func writeTree(w io.Writer, resp *attestdv1.ProvenanceResponse) {
	v := newGraphView(resp)
	root := resp.GetDigest()
	if name := v.rootName(); name != "" {
		root = name + " " + root
	}
	fmt.Fprintln(w, root)
	var top []*attestdv1.ProvenanceNode
	for _, n := range resp.GetNodes() {
		if n.GetDepth() == 1 {
			top = append(top, n)
		}
	}
	printed := map[string]bool{}
	for i, n := range top {
		v.printNode(w, "", i == len(top)-1, n, printed)
	}
}

// branches returns the connector of an entry and the indentation of what hangs below it.
func branches(last bool) (string, string) {
	if last {
		return "└── ", "    "
	}
	return "├── ", "│   "
}

func (v *graphView) printNode(w io.Writer, prefix string, last bool, n *attestdv1.ProvenanceNode, printed map[string]bool) {
	branch, below := branches(last)
	a := n.GetAttestation()
	r := a.GetReceipt()
	step := r.GetStep()
	if step == "" {
		step = "(no step)"
	}
	if printed[r.GetId()] {
		fmt.Fprintf(w, "%s%s%s %s (shown above)\n", prefix, branch, step, shortID(r.GetId()))
		return
	}
	printed[r.GetId()] = true
	var signers []string
	for _, id := range a.GetSignerKeyIds() {
		signers = append(signers, shortID(id))
	}
	if len(signers) == 0 {
		signers = []string{"-"}
	}
	fmt.Fprintf(w, "%s%s%s %s  signed by %s  %s  log %d\n", prefix, branch, step, shortID(r.GetId()),
		strings.Join(signers, ","), fmtTime(r.GetIntegratedTime()), r.GetLogIndex())
	materials := a.GetMaterials()
	for i, m := range materials {
		mBranch, mBelow := branches(i == len(materials)-1)
		k := keyOf(m)
		producers := v.producers[r.GetId()][k]
		note := ""
		switch {
		case v.sources[k]:
			note = " (source)"
		case len(producers) == 0:
			note = " (not followed)"
		}
		fmt.Fprintf(w, "%s%s%s%s %s%s\n", prefix, below, mBranch, m.GetName(), shortDigest(k.digestString()), note)
		for j, p := range producers {
			if pn := v.nodes[p]; pn != nil {
				v.printNode(w, prefix+below+mBelow, j == len(producers)-1, pn, printed)
			}
		}
	}
}

// writeDOT prints the graph in Graphviz's DOT language: artifacts (by digest) as ellipses labelled with a name
// and the short digest, attestations as boxes labelled with the step and the id prefix, and edges from each
// material to the attestation that consumed it and from each attestation to its subjects. The asked artifact
// has a double outline, the sources are filled. A non-empty truncated becomes the graph's label.
func writeDOT(w io.Writer, resp *attestdv1.ProvenanceResponse, truncated string) {
	v := newGraphView(resp)
	fmt.Fprintln(w, "digraph provenance {")
	fmt.Fprintln(w, "\trankdir=LR;")
	fmt.Fprintln(w, "\tnode [fontname=\"Helvetica\"];")
	if truncated != "" {
		fmt.Fprintf(w, "\tlabel=%s;\n\tlabelloc=t;\n", dotQuote(truncated))
	}

	// Artifacts, in the order first met, named as first met.
	var order []string
	names := map[string]string{}
	source := map[string]bool{}
	meet := func(digest, name string) {
		if _, ok := names[digest]; !ok {
			order = append(order, digest)
			names[digest] = name
		} else if names[digest] == "" {
			names[digest] = name
		}
	}
	meet(resp.GetDigest(), v.rootName())
	for _, n := range resp.GetNodes() {
		for _, list := range [][]*attestdv1.ArtifactRef{n.GetAttestation().GetSubjects(), n.GetAttestation().GetMaterials()} {
			for _, a := range list {
				meet(keyOf(a).digestString(), a.GetName())
			}
		}
	}
	for k := range v.sources {
		source[k.digestString()] = true
	}
	for _, d := range order {
		attrs := "shape=ellipse, label=" + dotLabel(names[d], shortDigest(d))
		if d == resp.GetDigest() {
			attrs += ", peripheries=2"
		}
		if source[d] {
			attrs += ", style=filled, fillcolor=lightgrey"
		}
		fmt.Fprintf(w, "\t%s [%s];\n", dotQuote(d), attrs)
	}

	edges := map[[2]string]bool{}
	edge := func(from, to string) {
		if !edges[[2]string{from, to}] {
			edges[[2]string{from, to}] = true
			fmt.Fprintf(w, "\t%s -> %s;\n", dotQuote(from), dotQuote(to))
		}
	}
	for _, n := range resp.GetNodes() {
		a := n.GetAttestation()
		id := "attestation/" + a.GetReceipt().GetId() // "/" is in no digest: the two kinds of node never meet
		step := a.GetReceipt().GetStep()
		if step == "" {
			step = "(no step)"
		}
		fmt.Fprintf(w, "\t%s [shape=box, label=%s];\n", dotQuote(id), dotLabel(step, shortID(a.GetReceipt().GetId())))
		for _, m := range a.GetMaterials() {
			edge(keyOf(m).digestString(), id)
		}
		for _, s := range a.GetSubjects() {
			edge(id, keyOf(s).digestString())
		}
	}
	fmt.Fprintln(w, "}")
}

// dotLabel is a DOT string of the non-empty lines, one under the other.
func dotLabel(lines ...string) string {
	var kept []string
	for _, l := range lines {
		if l != "" {
			kept = append(kept, dotEscape(l))
		}
	}
	return `"` + strings.Join(kept, `\n`) + `"`
}

// dotQuote is s as a DOT string.
func dotQuote(s string) string { return `"` + dotEscape(s) + `"` }

var dotEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")

// dotEscape escapes s for the inside of a DOT string: a quote would end it, a backslash would start an escape
// sequence of Graphviz's labels, and a line break is written as \n.
func dotEscape(s string) string { return dotEscaper.Replace(s) }
