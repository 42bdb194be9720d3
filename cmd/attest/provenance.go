package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
)

// The bounds of Provenance and Dependents, as the server has them: checked here so that a value that does
// not fit the request's int32 never wraps around.
const (
	graphDefaultDepth = 16
	graphMaxDepth     = 64
	graphDefaultNodes = 500
	graphMaxNodes     = 5000
)

func provenanceCommand() *command {
	return &command{
		name: "provenance", args: "[--project P] [--max-depth N] [--max-nodes N] [--format tree|json|dot] DIGEST",
		summary: "show the steps that produced an artifact, back to its sources",
		help: `Shows where the artifact with DIGEST (ALG:HEX) came from: the attestations
whose subject is the digest, then those that produced their materials, and
so on back to the sources (materials that no attestation of the project
produced), at most --max-depth steps back and --max-nodes attestations.

--format tree (the default) prints the artifact, each step below it (its
attestation id, step, signer key ids, integrated time and log index), and
under each step its materials with the steps that produced them, and so on;
an attestation reached a second time is printed once and named after that.
--format json (or --json) prints the API's ProvenanceResponse (protojson).
--format dot prints a Graphviz graph: attestations as boxes, artifacts as
ellipses, edges from each material to the step that consumed it and from
each step to its products (render it with: dot -Tsvg -o graph.svg).

When a bound cut the graph, attest says "(truncated: ...)".`,
		example: "attest provenance sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --format dot | dot -Tsvg -o provenance.svg",
		run:     cmdProvenance,
	}
}

func dependentsCommand() *command {
	return &command{
		name: "dependents", args: "[--project P] [--max-depth N] [--max-nodes N] DIGEST",
		summary: "list every artifact built from a digest (the blast radius of a bad input)",
		help: `Lists every artifact built, directly or not, from the input with DIGEST
(ALG:HEX): the subjects of the attestations that consumed it, then those of
the attestations that consumed them, and so on, at most --max-depth steps
forward and --max-nodes attestations. Prints a table of DEPTH (1: built from
the digest itself), STEP, ARTIFACT, DIGEST, ATTESTATION (id prefix) and VIA
(the material it was built from), by depth, then newest first; an artifact
made by several attestations is listed once for each.

With --json, prints the API's DependentsResponse (protojson). When a bound
cut the walk, attest says "(truncated: ...)".`,
		example: "attest dependents sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --max-depth 3",
		run:     cmdDependents,
	}
}

// graphQuery is what Provenance and Dependents are asked: the project, the digest and the bounds.
type graphQuery struct {
	project, digest string
	depth, nodes    int32
}

// graphArgs defines --project and the bounds on fs (which may hold flags of the command's own), parses args
// and checks DIGEST and the bounds.
func (e *env) graphArgs(fs *flag.FlagSet, args []string) (graphQuery, error) {
	project := projectFlag(fs)
	depth := fs.Int("max-depth", 0, fmt.Sprintf("follow at most `N` steps (0: the server's default, %d; at most %d)", graphDefaultDepth, graphMaxDepth))
	nodes := fs.Int("max-nodes", 0, fmt.Sprintf("take at most `N` attestations (0: the server's default, %d; at most %d)", graphDefaultNodes, graphMaxNodes))
	pos, err := e.parseArgs(fs, args, "DIGEST")
	if err != nil {
		return graphQuery{}, err
	}
	if _, _, err := attestation.ParseDigest(pos[0]); err != nil {
		return graphQuery{}, usageError(e.cmdName(), "DIGEST: %v", err)
	}
	if *depth < 0 || *depth > graphMaxDepth {
		return graphQuery{}, usageError(e.cmdName(), "--max-depth must be from 0 to %d", graphMaxDepth)
	}
	if *nodes < 0 || *nodes > graphMaxNodes {
		return graphQuery{}, usageError(e.cmdName(), "--max-nodes must be from 0 to %d", graphMaxNodes)
	}
	return graphQuery{project: *project, digest: pos[0], depth: int32(*depth), nodes: int32(*nodes)}, nil
}

// truncated is the line that says a bound cut the walk; "" when none did. what holds a %s for the bounds.
func (q graphQuery) truncated(truncated bool, what string) string {
	if !truncated {
		return ""
	}
	depth, nodes := q.depth, q.nodes
	if depth == 0 {
		depth = graphDefaultDepth
	}
	if nodes == 0 {
		nodes = graphDefaultNodes
	}
	return "(truncated: " + fmt.Sprintf(what, fmt.Sprintf("--max-depth %d and --max-nodes %d", depth, nodes)) + ")"
}

func cmdProvenance(e *env, args []string) error {
	fs := e.newFlagSet()
	format := fs.String("format", "", "`FORMAT` of the output: tree, json or dot (default tree; json with --json)")
	q, err := e.graphArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *format == "" && e.g.json, *format == "json":
		*format = "json"
	case *format == "":
		*format = "tree"
	case e.g.json:
		return usageError(e.cmdName(), "--json prints JSON: it does not go with --format %s", *format)
	case *format != "tree" && *format != "dot":
		return usageError(e.cmdName(), "--format must be tree, json or dot, not %q", *format)
	}
	var resp *attestdv1.ProvenanceResponse
	err = e.call("provenance of "+q.digest, func(ctx context.Context, c *attestor.Client) (err error) {
		resp, err = c.Attestations.Provenance(ctx, &attestdv1.ProvenanceRequest{Project: q.project, Digest: q.digest,
			MaxDepth: q.depth, MaxNodes: q.nodes})
		return err
	})
	if err != nil {
		return err
	}
	truncated := q.truncated(resp.GetTruncated(), "the graph goes further back than %s reach")
	switch *format {
	case "json":
		return e.printProto(resp)
	case "dot":
		writeDOT(e.stdout, resp, truncated)
		if truncated != "" {
			fmt.Fprintln(e.stderr, "attest: "+truncated)
		}
		return nil
	}
	if len(resp.GetNodes()) == 0 {
		fmt.Fprintf(e.stderr, "attest: no attestation of the project has %s as a subject\n", resp.GetDigest())
		return nil
	}
	writeTree(e.stdout, resp)
	if truncated != "" {
		fmt.Fprintln(e.stdout, truncated)
	}
	return nil
}

func cmdDependents(e *env, args []string) error {
	q, err := e.graphArgs(e.newFlagSet(), args)
	if err != nil {
		return err
	}
	return callAndPrint(e, "dependents of "+q.digest, func(ctx context.Context, c *attestor.Client) (*attestdv1.DependentsResponse, error) {
		return c.Attestations.Dependents(ctx, &attestdv1.DependentsRequest{Project: q.project, Digest: q.digest,
			MaxDepth: q.depth, MaxNodes: q.nodes})
	}, func(resp *attestdv1.DependentsResponse) error {
		truncated := q.truncated(resp.GetTruncated(), "more artifacts may depend on it, beyond %s")
		if len(resp.GetDependents()) == 0 {
			fmt.Fprintf(e.stderr, "attest: nothing of the project was built from %s\n", resp.GetDigest())
		} else {
			tw := e.table("DEPTH", "STEP", "ARTIFACT", "DIGEST", "ATTESTATION", "VIA")
			for _, d := range resp.GetDependents() {
				a := d.GetArtifact()
				row(tw, strconv.Itoa(int(d.GetDepth())), d.GetStep(), a.GetName(), a.GetAlgorithm()+":"+a.GetDigest(),
					shortID(d.GetAttestationId()), shortDigest(d.GetVia()))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if truncated != "" {
			fmt.Fprintln(e.stdout, truncated)
		}
		return nil
	})
}

// shortDigest is "ALG:" and the first 12 characters of the value, as the tree and tables show digests.
func shortDigest(d string) string {
	alg, value, ok := strings.Cut(d, ":")
	if !ok {
		return d
	}
	return alg + ":" + value[:min(12, len(value))]
}
