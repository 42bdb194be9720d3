package main

import (
	"fmt"
	"strconv"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
)

func getCommand() *command {
	return &command{
		name: "get", args: "[--project P] --digest ALG:HEX [--material] [--step S] [--limit N] [--verify[=false]]",
		summary: "list the attestations of an artifact digest, verified in the log",
		help: `Lists every attestation whose subject (with --material: one of whose
materials) has the digest, newest first, with its index in the transparency
log.

When the log key is known (--log-key, or pinned with 'attest log pin'), each
attestation's leaf is verified: attest fetches its inclusion proof, computes
the leaf from the envelope's own bytes, checks the proof against a checkpoint
signed by the log key, and checks that checkpoint against the largest one
remembered for the log. The LOG column says verified, FAILED (the reason
follows on stderr) or pending checkpoint (no checkpoint covers it yet: not an
error). Any FAILED makes attest exit 1; a rollback or split view of the log is
refused loudly and nothing is listed. --verify insists (exit 2 without a log
key), --verify=false skips it; without a key attest warns and lists the
attestations unverified.

With --json, prints them with their envelopes as the API's ListResponse
(protojson); when verifying, the receipt of each verified attestation carries
the inclusionProof that was checked, and only those do.`,
		example: "attest get --digest sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --step build",
		run:     cmdGet,
	}
}

func cmdGet(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	digest := fs.String("digest", "", "the artifact `DIGEST`, as sha256:HEX")
	material := fs.Bool("material", false, "match the digest among materials instead of subjects")
	step := fs.String("step", "", "only attestations of `STEP`")
	limit := fs.Int("limit", 0, "at most `N` attestations (0: all)")
	var verify optBool
	fs.Var(&verify, "verify", "verify each attestation's inclusion in the log (default: when the log key is known)")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *digest == "" {
		return usageError(e.cmdName(), "--digest is required")
	}
	if _, _, err := attestation.ParseDigest(*digest); err != nil {
		return usageError(e.cmdName(), "--digest: %v", err)
	}
	if *limit < 0 {
		return usageError(e.cmdName(), "--limit must not be negative")
	}
	key, err := e.resolveLogKey()
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	defer c.Close()
	if key == nil && (!verify.set || verify.value) {
		if key, err = e.trustOnFirstUse(c); err != nil {
			return err
		}
	}
	doVerify := key != nil
	if verify.set {
		doVerify = verify.value
	}
	if doVerify && key == nil {
		return usageError(e.cmdName(), "--verify needs the log's key: pass --log-key FILE (the line 'attestd log-key' prints) or pin it with 'attest log pin'")
	}
	req := &attestdv1.ListRequest{Project: *project, Step: *step, OmitEnvelopes: !e.g.json && !doVerify, PageSize: 1000}
	if !req.OmitEnvelopes {
		req.PageSize = 100 // envelopes make pages large
	}
	if *limit > 0 && *limit < int(req.PageSize) {
		req.PageSize = int32(*limit)
	}
	if *material {
		req.MaterialDigest = *digest
	} else {
		req.SubjectDigest = *digest
	}
	ctx, cancel := e.rpcContext()
	all, err := c.ListAll(ctx, req, *limit)
	cancel()
	if err != nil {
		return e.rpcError("list attestations of "+*digest, err)
	}

	checks := make([]*logCheck, len(all))
	failures := 0
	switch {
	case doVerify && len(all) > 0:
		v, err := e.newLogVerifier(c, key)
		if err != nil {
			return err
		}
		for i, a := range all {
			chk, proof, err := v.checkAttestation(a)
			if err != nil {
				return err
			}
			checks[i] = chk
			a.GetReceipt().InclusionProof = proof // only what was verified goes out
			if chk.Status == logFailed {
				failures++
				fmt.Fprintf(e.stderr, "attest: get: %s: log verification FAILED: %s\n", a.GetReceipt().GetId(), chk.Error)
			}
		}
	case key == nil && !verify.set && len(all) > 0:
		e.warnNoLogKey()
	}

	if e.g.json {
		if err := e.printProto(&attestdv1.ListResponse{Attestations: all}); err != nil {
			return err
		}
	} else if err := e.printAttestations(*digest, all, checks); err != nil {
		return err
	}
	if failures > 0 {
		return failed("get: %d of %d attestations FAILED log verification", failures, len(all))
	}
	return nil
}

// printAttestations prints the table of attestations, with the log verdicts.
func (e *env) printAttestations(digest string, all []*attestdv1.Attestation, checks []*logCheck) error {
	if len(all) == 0 {
		fmt.Fprintf(e.stderr, "attest: no attestations for %s\n", digest)
		return nil
	}
	tw := e.table("INTEGRATED", "STEP", "TYPE", "SIGNERS", "ID", "LOG INDEX", "REKOR", "LOG")
	for i, a := range all {
		r := a.GetReceipt()
		kind := r.GetPredicateType()
		if kind == "" {
			kind = a.GetStatementType()
		}
		var signers []string
		for _, id := range a.GetSignerKeyIds() {
			signers = append(signers, id[:min(12, len(id))])
		}
		verdict := logUnverified
		if checks[i] != nil {
			verdict = checks[i].Status
		}
		row(tw, fmtTime(r.GetIntegratedTime()), r.GetStep(), kind, strings.Join(signers, ","), r.GetId(),
			strconv.FormatUint(r.GetLogIndex(), 10), anchorText(a.GetAnchor()), verdict)
	}
	return tw.Flush()
}

// anchorText is the REKOR column: "-" when the attestation is not anchored, else its anchor's state, with
// the Rekor log index once done and the attempts while pending.
func anchorText(a *attestdv1.Anchor) string {
	switch {
	case a == nil:
		return "-"
	case a.GetEntry() != nil:
		return fmt.Sprintf("%s #%d", a.GetState(), a.GetEntry().GetLogIndex())
	case a.GetState() == "pending" && a.GetAttempts() > 0:
		return fmt.Sprintf("pending (%d attempts)", a.GetAttempts())
	default:
		return a.GetState()
	}
}

// optBool is a boolean flag that knows whether it was given, for defaults
// that depend on other things ("--verify" when a log key is known).
type optBool struct{ set, value bool }

func (b *optBool) String() string   { return strconv.FormatBool(b.value) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.set, b.value = true, v
	return nil
}
