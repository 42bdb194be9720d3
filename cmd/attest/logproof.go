package main

import (
	"bytes"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
)

func logProofCommand() *command {
	return &command{
		name: "log proof", args: "[--project P] --id ID [--wait]",
		summary: "fetch, verify and print one attestation's inclusion proof",
		help: `Fetches the attestation ID (its envelope) and the proof that its leaf is in
the transparency log, and verifies it as 'attest get' does: the leaf computed
from the envelope's bytes (the server's log entry must equal it), the proof
against a checkpoint signed by the log key, the checkpoint against the largest
one remembered for the log. Prints the leaf, the audit path and the
checkpoint.

An attestation that no published checkpoint covers yet is "pending
checkpoint" (exit 1); --wait waits for the checkpoint instead (within
--timeout). Without a log key (none given, pinned or named by the server),
attest warns and prints the proof unverified
(the leaf is still computed and compared). Exit 1 when the proof FAILED.`,
		example: "attest log proof --id 3f5c0a...e1 --wait",
		run:     cmdLogProof,
	}
}

// proofOutput is what "attest log proof --json" prints; hashes in hex.
type proofOutput struct {
	ID         string   `json:"id"`
	Project    string   `json:"project"`
	LogIndex   uint64   `json:"logIndex"`
	TreeSize   uint64   `json:"treeSize"`
	LeafHash   string   `json:"leafHash"`
	Hashes     []string `json:"hashes"`
	Origin     string   `json:"origin,omitempty"`
	RootHash   string   `json:"rootHash,omitempty"`
	Checkpoint string   `json:"checkpoint"`
	Verified   bool     `json:"verified"`
}

func cmdLogProof(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	id := fs.String("id", "", "the attestation `ID` (the sha256 of its envelope)")
	wait := fs.Bool("wait", false, "wait for a checkpoint that covers the attestation")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usageError(e.cmdName(), "--id is required")
	}
	key, c, err := e.logClient()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.rpcContext()
	defer cancel()
	got, err := c.Attestations.Get(ctx, &attestdv1.GetRequest{Project: *project, Id: *id})
	if err != nil {
		return e.rpcError("get attestation "+*id, err)
	}
	a, r := got.GetAttestation(), got.GetAttestation().GetReceipt()
	resp, err := c.Log.GetInclusionProof(ctx, &attestdv1.GetInclusionProofRequest{Project: *project, AttestationId: *id, Wait: *wait})
	if status.Code(err) == codes.FailedPrecondition {
		return failed("log proof: %s: pending checkpoint: no published checkpoint covers log index %d yet; retry shortly, or use --wait", *id, r.GetLogIndex())
	}
	if err != nil {
		return e.rpcError("inclusion proof of "+*id, err)
	}
	claim := leafClaim{project: r.GetProject(), id: r.GetId(), envelope: a.GetEnvelope(), index: r.GetLogIndex(),
		entries: [][]byte{r.GetLogEntry(), resp.GetLogEntry()}}
	if r.GetId() != *id {
		return failed("log proof: FAILED: asked for attestation %s, the server answered with %s", *id, r.GetId())
	}
	entry, err := leafEntry(claim.project, claim.id, claim.envelope)
	if err != nil {
		return labelled("log proof", err)
	}
	out := proofOutput{ID: r.GetId(), Project: r.GetProject(), LogIndex: resp.GetProof().GetLogIndex(), TreeSize: resp.GetProof().GetTreeSize(),
		LeafHash: fmt.Sprintf("%x", tlog.LeafHash(entry)), Hashes: []string{}, Checkpoint: string(resp.GetProof().GetCheckpoint())}
	for _, h := range resp.GetProof().GetHashes() {
		out.Hashes = append(out.Hashes, fmt.Sprintf("%x", h))
	}
	if key == nil {
		for _, se := range claim.entries {
			if len(se) > 0 && !bytes.Equal(se, entry) {
				return failed("log proof: FAILED: the server's log entry %x is not the entry %x computed from the envelope", se, entry)
			}
		}
		e.warnNoLogKey()
	} else {
		v, err := e.newLogVerifier(c, key)
		if err != nil {
			return err
		}
		cp, _, err := v.verifyLeaf(claim, resp.GetProof())
		if err != nil {
			return labelled("log proof", err)
		}
		out.Verified, out.Origin, out.RootHash = true, cp.Origin, fmt.Sprintf("%x", cp.Hash)
	}
	return e.printProof(&out)
}

func (e *env) printProof(p *proofOutput) error {
	if e.g.json {
		return e.printJSON(p)
	}
	fmt.Fprintf(e.stdout, "attestation: %s\nproject:     %s\nlog index:   %d\ntree size:   %d\nleaf hash:   %s\naudit path:  %d hashes\n",
		p.ID, p.Project, p.LogIndex, p.TreeSize, p.LeafHash, len(p.Hashes))
	for _, h := range p.Hashes {
		fmt.Fprintf(e.stdout, "  %s\n", h)
	}
	if !p.Verified {
		fmt.Fprintf(e.stdout, "verified:    NO (no log key)\n")
		return nil
	}
	fmt.Fprintf(e.stdout, "checkpoint:  log %s, size %d, root %s\nverified:    yes\n", p.Origin, p.TreeSize, p.RootHash)
	return nil
}
