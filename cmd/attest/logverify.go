package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/tlog"
)

// Verdicts on an attestation's leaf, as printed.
const (
	logVerified   = "verified"
	logFailed     = "FAILED"
	logPending    = "pending checkpoint"
	logUnverified = "unverified"
)

// logCheck is the verdict on one attestation's leaf, for output.
type logCheck struct {
	Status   string `json:"status"`
	LogIndex uint64 `json:"logIndex"`
	Origin   string `json:"origin,omitempty"`
	TreeSize uint64 `json:"treeSize,omitempty"`
	Error    string `json:"error,omitempty"`
}

// describe is the verdict in a sentence, for tables and summaries.
func (c *logCheck) describe() string {
	switch c.Status {
	case logVerified:
		return fmt.Sprintf("verified in log %s at size %d", c.Origin, c.TreeSize)
	case logUnverified:
		return "log NOT verified (no log key)"
	case logFailed:
		return "log verification FAILED"
	}
	return c.Status
}

// proofError is a proof, checkpoint or entry that does not verify: the
// attestation is not shown to be in the log. It marks the attestation FAILED.
type proofError struct{ err error }

func (e *proofError) Error() string { return e.err.Error() }
func (e *proofError) Unwrap() error { return e.err }

func proofErrorf(format string, args ...any) error {
	return &proofError{fmt.Errorf(format, args...)}
}

// errPending: no published checkpoint covers the leaf yet.
var errPending = errors.New("not yet covered by a published checkpoint")

// A logVerifier checks what a server says about its transparency log: every
// checkpoint against the log's key and against the largest checkpoint
// remembered for the log (tlog.CheckpointStore), every inclusion proof
// against a checkpoint, every leaf against the envelope's own bytes.
type logVerifier struct {
	e        *env
	c        *attestor.Client
	key      *logKey
	store    tlog.CheckpointStore
	accepted map[string]bool // signed checkpoints that passed the store in this run
	refused  bool            // a rollback or split view was refused: stop
}

func (e *env) newLogVerifier(c *attestor.Client, k *logKey) (*logVerifier, error) {
	root, err := e.g.configRoot()
	if err != nil {
		return nil, failed("%v", err)
	}
	return &logVerifier{e: e, c: c, key: k, store: tlog.CheckpointStore{Dir: filepath.Join(root, "checkpoints")}, accepted: map[string]bool{}}, nil
}

// A leafClaim is what the server says about an attestation's leaf.
type leafClaim struct {
	project, id string
	envelope    []byte
	index       uint64
	entries     [][]byte // log entries the server sent: each must be the one computed here
}

// verifyLeaf checks the proof p of c's leaf (nil: fetch one from the server)
// and returns the checkpoint it verified against and the proof. A rollback is
// retried once with a fresh proof: another attest process on this machine may
// have remembered a newer checkpoint between the server's answer and this
// check, and an honest log's next answer is at least that new; a log that
// really rolled back fails again. Errors: *proofError, errPending, a loud
// refusal (rollback, split view) or the server's error.
func (v *logVerifier) verifyLeaf(c leafClaim, p *attestdv1.InclusionProof) (tlog.Checkpoint, *attestdv1.InclusionProof, error) {
	for attempt := 0; ; attempt++ {
		if p == nil {
			resp, err := v.fetchProof(c)
			if err != nil {
				return tlog.Checkpoint{}, nil, err
			}
			p = resp.GetProof()
			c.entries = append(c.entries, resp.GetLogEntry())
		}
		cp, err := v.checkInclusion(c, p)
		if errors.Is(err, tlog.ErrRollback) && attempt == 0 {
			p = nil
			continue
		}
		return cp, p, v.refusal(err)
	}
}

// checkAttestation verifies the leaf of a listed attestation, with a proof
// fetched from the server. It returns the verdict and, when verified, the
// proof; errors end the command.
func (v *logVerifier) checkAttestation(a *attestdv1.Attestation) (*logCheck, *attestdv1.InclusionProof, error) {
	r := a.GetReceipt()
	cp, p, err := v.verifyLeaf(leafClaim{project: r.GetProject(), id: r.GetId(), envelope: a.GetEnvelope(),
		index: r.GetLogIndex(), entries: [][]byte{r.GetLogEntry()}}, nil)
	chk, err := verdict(r.GetLogIndex(), cp, err)
	if err != nil || chk.Status != logVerified {
		p = nil
	}
	return chk, p, err
}

// fetchProof asks for the inclusion proof of c's leaf in the latest checkpoint.
func (v *logVerifier) fetchProof(c leafClaim) (*attestdv1.GetInclusionProofResponse, error) {
	ctx, cancel := v.e.rpcContext()
	defer cancel()
	resp, err := v.c.Log.GetInclusionProof(ctx, &attestdv1.GetInclusionProofRequest{Project: c.project, AttestationId: c.id})
	if status.Code(err) == codes.FailedPrecondition {
		return nil, errPending
	}
	if err != nil {
		err = v.e.rpcError("inclusion proof of "+c.id, err)
		if exitCodeOf(err) == exitUsage {
			return nil, err // the server is out of reach: nothing is verified, nothing failed
		}
		return nil, &proofError{err}
	}
	return resp, nil
}

// checkInclusion verifies p for c, then passes its checkpoint through the
// store. It returns the store's errors as they are.
func (v *logVerifier) checkInclusion(c leafClaim, p *attestdv1.InclusionProof) (tlog.Checkpoint, error) {
	entry, err := leafEntry(c.project, c.id, c.envelope)
	if err != nil {
		return tlog.Checkpoint{}, err
	}
	for _, e := range c.entries {
		if len(e) > 0 && !bytes.Equal(e, entry) {
			return tlog.Checkpoint{}, proofErrorf("the server's log entry %x is not the entry %x computed from the envelope: the log does not hold these bytes for this attestation", e, entry)
		}
	}
	switch {
	case p == nil:
		return tlog.Checkpoint{}, proofErrorf("the server sent no inclusion proof")
	case p.GetLogIndex() != c.index:
		return tlog.Checkpoint{}, proofErrorf("the proof is for log index %d, the receipt says %d", p.GetLogIndex(), c.index)
	case len(p.GetCheckpoint()) == 0:
		return tlog.Checkpoint{}, proofErrorf("the proof comes without a signed checkpoint")
	}
	cp, err := tlog.VerifyCheckpoint(p.GetCheckpoint(), v.key.key)
	if err != nil {
		return tlog.Checkpoint{}, &proofError{fmt.Errorf("checkpoint not signed by the log key %s: %w", v.key.source, err)}
	}
	if cp.Size != p.GetTreeSize() {
		return tlog.Checkpoint{}, proofErrorf("the proof is for tree size %d, its checkpoint is of size %d", p.GetTreeSize(), cp.Size)
	}
	if err := tlog.VerifyInclusion(tlog.LeafHash(entry), p.GetLogIndex(), cp.Size, p.GetHashes(), cp.Hash); err != nil {
		return tlog.Checkpoint{}, proofErrorf("%s", brief(err, "the audit path does not lead to the checkpoint's root"))
	}
	return cp, v.accept(p.GetCheckpoint())
}

// leafEntry computes an attestation's log entry from the envelope's bytes.
func leafEntry(project, id string, envelope []byte) ([]byte, error) {
	switch {
	case len(envelope) == 0:
		return nil, proofErrorf("no envelope to compute the log entry from")
	case id == "" || strings.IndexByte(id, 0) >= 0 || strings.IndexByte(project, 0) >= 0:
		return nil, proofErrorf("the server named the attestation %q in project %q: no log entry has such names", id, project)
	}
	sum := sha256.Sum256(envelope)
	return tlog.EntryFor(project, id, hex.EncodeToString(sum[:])), nil
}

// accept passes a signed checkpoint through the store: remembered if it is
// the largest so far, refused if it is smaller or inconsistent.
func (v *logVerifier) accept(raw []byte) error {
	if v.accepted[string(raw)] {
		return nil
	}
	if _, err := v.store.Update(raw, v.key.key, v.consistencyProof); err != nil {
		if errors.Is(err, tlog.ErrInvalidCheckpoint) {
			return &proofError{err}
		}
		return err
	}
	v.accepted[string(raw)] = true
	return nil
}

// consistencyProof fetches the proof that the tree of size from is a prefix
// of the tree of size to, for the store.
func (v *logVerifier) consistencyProof(from, to uint64) ([][]byte, error) {
	ctx, cancel := v.e.rpcContext()
	defer cancel()
	resp, err := v.c.Log.GetConsistencyProof(ctx, &attestdv1.GetConsistencyProofRequest{FromSize: from, ToSize: to})
	if err != nil {
		return nil, v.e.rpcError("consistency proof", err)
	}
	if resp.GetFromSize() != from || resp.GetToSize() != to {
		return nil, fmt.Errorf("asked for a consistency proof %d -> %d, got %d -> %d", from, to, resp.GetFromSize(), resp.GetToSize())
	}
	return resp.GetHashes(), nil
}

// verdict turns the outcome of verifyLeaf into a logCheck. Refusals and
// unreachable servers are returned as errors: they end the command.
func verdict(index uint64, cp tlog.Checkpoint, err error) (*logCheck, error) {
	var pe *proofError
	switch {
	case err == nil:
		return &logCheck{Status: logVerified, LogIndex: index, Origin: cp.Origin, TreeSize: cp.Size}, nil
	case errors.Is(err, errPending):
		return &logCheck{Status: logPending, LogIndex: index}, nil
	case errors.As(err, &pe):
		return &logCheck{Status: logFailed, LogIndex: index, Error: pe.Error()}, nil
	}
	return nil, err
}

// brief is err's message on one line. The Merkle library reports a root
// mismatch with both roots as decimal byte lists on lines of their own; that
// is cut, and replaced by instead.
func brief(err error, instead string) string {
	msg := err.Error()
	i := strings.IndexByte(msg, '\n')
	if i < 0 {
		return msg
	}
	msg = strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":")
	msg = strings.TrimSuffix(msg, ": calculated root")
	return msg + ": " + instead
}
