package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/tlog"
)

// refusal turns a rollback or a split view into the loud error that ends the
// command with exit code 1, after saving the evidence. Other errors pass
// through unchanged.
func (v *logVerifier) refusal(err error) error {
	var (
		rb *tlog.RollbackError
		sv *tlog.SplitViewError
	)
	var kind, what, why, reason string
	var knownRaw, raw []byte
	var proof [][]byte
	switch {
	case errors.As(err, &rb):
		kind, knownRaw, raw = "rollback", rb.KnownRaw, rb.Raw
		what = fmt.Sprintf("ROLLBACK of the transparency log %q: it offered a checkpoint SMALLER than one this machine verified before", rb.Origin)
		why = "The server (or something between it and you) is hiding log entries it showed before."
	case errors.As(err, &sv):
		kind, knownRaw, raw, proof = "split-view", sv.KnownRaw, sv.Raw, sv.Proof
		what = fmt.Sprintf("SPLIT VIEW of the transparency log %q: it offered a checkpoint that is NOT CONSISTENT with one this machine verified before", sv.Origin)
		reason = brief(sv.Reason, "the remembered tree is not a prefix of the offered one")
		why = "Two different trees were signed with the log's key: its history was rewritten, or it shows different\nclients different logs."
	default:
		return err
	}
	v.refused = true
	known, offered := v.describeCheckpoint(knownRaw), v.describeCheckpoint(raw)
	var b strings.Builder
	fmt.Fprintf(&b, "REFUSED: %s.\n", what)
	fmt.Fprintf(&b, "attest:   remembered: %s\n", known)
	fmt.Fprintf(&b, "attest:   offered:    %s", offered)
	if reason != "" {
		fmt.Fprintf(&b, "\nattest:   reason:     %s", reason)
	}
	hint := why + "\nNothing this server says about its log can be trusted, and nothing was reported as verified.\n" +
		"Report this to the log's operator. Do not delete the remembered checkpoint (in " + v.store.Dir + ") to make it go away."
	if path, err := v.saveEvidence(kind, knownRaw, raw, proof); err == nil {
		hint += "\nEvidence (both signed checkpoints): " + path
	} else {
		hint += "\nThe evidence could not be saved: " + err.Error()
	}
	return &exitError{code: exitFailed, err: errors.New(b.String()), hint: hint}
}

// describeCheckpoint is "size N, root HEX" of a signed checkpoint that the
// store verified.
func (v *logVerifier) describeCheckpoint(raw []byte) string {
	cp, err := tlog.VerifyCheckpoint(raw, v.key.key)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return fmt.Sprintf("size %d, root %x", cp.Size, cp.Hash)
}

// saveEvidence writes both signed checkpoints (and the failing consistency
// proof) to <config>/evidence/, so that the refusal can be shown to others:
// each checkpoint is signed by the log, so together they prove misbehaviour.
func (v *logVerifier) saveEvidence(kind string, knownRaw, raw []byte, proof [][]byte) (string, error) {
	root, err := v.e.g.configRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "evidence")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "attest %s evidence: server %s, log key %s\n\n", kind, v.e.g.server, v.key.key)
	fmt.Fprintf(&b, "remembered checkpoint:\n%s\noffered checkpoint:\n%s", knownRaw, raw)
	if len(proof) > 0 {
		fmt.Fprintf(&b, "\nconsistency proof that failed:\n")
		for _, h := range proof {
			fmt.Fprintf(&b, "%x\n", h)
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.txt", time.Now().UTC().Format("20060102T150405.000000000Z"), kind))
	if err := writeNewFile(path, []byte(b.String()), 0o600, false); err != nil {
		return "", err
	}
	return path, nil
}
