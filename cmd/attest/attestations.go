package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/tlog"
)

// maxEnvelopeFile bounds an envelope or statement read from disk. attestd's
// own limit is lower and configurable; the server says so when it refuses.
const maxEnvelopeFile = 64 << 20

func signCommand() *command {
	return &command{
		name: "sign", args: "--key FILE --statement FILE --out FILE",
		summary: "sign an in-toto statement made by another tool",
		help: `Signs an in-toto Statement (v1, or v0.1) that another tool wrote, such as SLSA
provenance, and writes the DSSE envelope to --out ("-" for stdout). The
statement is checked first (it must parse as a Statement and be acceptable to
attestd), then its exact bytes are signed: it is never re-encoded.

Submit the envelope with 'attest submit'.`,
		example: "attest sign --key build.key --statement provenance.json --out provenance.intoto.json",
		run:     cmdSign,
	}
}

func cmdSign(e *env, args []string) error {
	fs := e.newFlagSet()
	keyFile := fs.String("key", "", "the private key `FILE` (PEM)")
	stFile := fs.String("statement", "", "the statement `FILE` (JSON)")
	out := fs.String("out", "", "write the envelope to `FILE` (\"-\": stdout)")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"key", *keyFile}, {"statement", *stFile}, {"out", *out}} {
		if f.value == "" {
			return usageError(e.cmdName(), "--%s is required", f.name)
		}
	}
	signer, err := loadSigner(*keyFile)
	if err != nil {
		return failed("sign: key: %v", err)
	}
	data, err := readFile(*stFile, maxEnvelopeFile)
	if err != nil {
		return failed("sign: %v", err)
	}
	if _, err := attestor.ParseStatement(data); err != nil {
		return failed("sign: %s: %v", *stFile, err)
	}
	if _, err := attestation.ParseStatement(data, attestation.Limits{MaxEnvelopeBytes: maxEnvelopeFile}); err != nil {
		return failed("sign: %s: attestd would refuse this statement: %v", *stFile, err)
	}
	envelope, err := signer.Sign(e.ctx, attestor.PayloadType, data)
	if err != nil {
		return failed("sign: %v", err)
	}
	if *out == "-" {
		_, err := e.stdout.Write(append(envelope, '\n'))
		return err
	}
	if err := writeFile(*out, envelope, 0o644); err != nil {
		return failed("sign: %v", err)
	}
	if e.g.json {
		return e.printJSON(map[string]string{"envelope": *out, "keyId": signer.KeyID(), "id": contentID(envelope)})
	}
	fmt.Fprintf(e.stdout, "signed %s with key %s: %s\n", *stFile, signer.KeyID(), *out)
	return nil
}

// contentID is what attestd calls an attestation: sha256 of the envelope bytes.
func contentID(envelope []byte) string {
	sum := sha256.Sum256(envelope)
	return hex.EncodeToString(sum[:])
}

func submitCommand() *command {
	return &command{
		name: "submit", args: "[--project P] [--receipt FILE] [--wait] FILE...",
		summary: "submit signed envelopes; prints their receipts",
		help: `Submits each FILE (a DSSE envelope, or a classic signed in-toto link) exactly
as it is on disk, and prints a receipt per file: its id (the sha256 of the
file), project, step, the time the log integrated it and its index in the
transparency log. A file submitted before gets its original receipt, marked
"(already recorded)".

With --wait, the server answers once a signed checkpoint of the log covers
the attestation, with the inclusion proof, and attest verifies it: the
checkpoint's signature with the log key (--log-key, or the pinned one, or,
the first time, the key the server names, pinned with a warning), the
leaf computed here from the file's bytes (the server's log entry must equal
it), the proof against the checkpoint's root, and the checkpoint against the
largest one remembered for the log. The receipt then says "verified in log
ORIGIN at size N"; a proof that does not verify makes the file FAILED. A
checkpoint smaller than the remembered one (rollback) or not consistent with
it (split view) is refused loudly, and attest stops. If no key can be had
(a server without a log), nothing is verified and attest warns. Without --wait, the proof can be
checked later with 'attest get' or 'attest log proof'.

A refused file does not stop the others; attest exits 1 if any was refused or
FAILED, 2 if the server could not be reached. With one FILE, --receipt writes
the receipt as JSON (not when its proof FAILED).`,
		example: "attest submit --wait build.intoto.json test.intoto.json",
		run:     cmdSubmit,
	}
}

// submitResult is one line of "attest submit --json".
type submitResult struct {
	File    string          `json:"file"`
	Receipt json.RawMessage `json:"receipt,omitempty"`
	Log     *logCheck       `json:"log,omitempty"`
	Error   string          `json:"error,omitempty"`
}

func cmdSubmit(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	receiptFile := fs.String("receipt", "", "write the receipt (JSON) to `FILE`; one envelope only")
	wait := fs.Bool("wait", false, "wait for a checkpoint that covers each attestation and verify its inclusion proof")
	files, err := e.parse(fs, args, true)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError(e.cmdName(), "missing FILE")
	}
	if *receiptFile != "" && len(files) > 1 {
		return usageError(e.cmdName(), "--receipt takes one envelope, and %d were given", len(files))
	}
	key, err := e.resolveLogKey()
	if err != nil {
		return err
	}
	c, v, err := e.submitClient(key, *wait)
	if err != nil {
		return err
	}
	defer c.Close()

	var results []submitResult
	code, succeeded := exitOK, 0
	tw := e.table("FILE", "ID", "PROJECT", "STEP", "INTEGRATED", "LOG INDEX", "")
	for _, f := range files {
		r, chk, err := e.submitFile(c, v, *project, f, *receiptFile, *wait)
		res := submitResult{File: f, Log: chk}
		if r != nil {
			var merr error
			if res.Receipt, merr = marshalProto(r); merr != nil {
				return merr
			}
		}
		if v != nil && v.refused {
			return err // a log that lies: stop here, report nothing as done
		}
		if err != nil {
			code = max(code, e.fail(err))
			res.Error = err.Error()
			results = append(results, res)
			continue
		}
		results = append(results, res)
		succeeded++
		var notes []string
		if !r.GetCreated() {
			notes = append(notes, "(already recorded)")
		}
		if chk != nil {
			notes = append(notes, chk.describe())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", f, r.GetId(), r.GetProject(), r.GetStep(), fmtTime(r.GetIntegratedTime()), r.GetLogIndex(), strings.Join(notes, " "))
	}
	if e.g.json {
		if err := e.printJSON(results); err != nil {
			return err
		}
	} else if succeeded > 0 {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if code != exitOK {
		return &exitError{code: code} // each error has been printed
	}
	return nil
}

// submitFile submits one envelope file and writes its receipt if asked.
func (e *env) submitFile(c *attestor.Client, v *logVerifier, project, file, receiptFile string, wait bool) (*attestdv1.Receipt, *logCheck, error) {
	data, err := readFile(file, maxEnvelopeFile)
	if err != nil {
		return nil, nil, failed("submit: %v", err)
	}
	r, chk, err := e.submitEnvelope(c, v, project, file, data, wait)
	if err == nil && receiptFile != "" {
		err = writeReceipt(receiptFile, r)
	}
	return r, chk, err
}

// submitEnvelope submits one envelope and, with wait, verifies the inclusion
// proof that comes with the receipt (v nil: there is no log key, and attest
// warns). It returns the receipt whenever the server gave one, and an error
// when the submission failed or the proof did not verify.
func (e *env) submitEnvelope(c *attestor.Client, v *logVerifier, project, name string, envelope []byte, wait bool) (*attestdv1.Receipt, *logCheck, error) {
	ctx, cancel := e.rpcContext()
	defer cancel()
	submit := c.Submit
	if wait {
		submit = c.SubmitWait // a receipt without a proof comes with an error; verifyLeaf fetches one
	}
	r, err := submit(ctx, project, envelope)
	if r == nil {
		return nil, nil, e.rpcError("submit "+name, err)
	}
	if id := contentID(envelope); r.GetId() != id {
		fmt.Fprintf(e.stderr, "attest: warning: %s: the server's receipt id %s is not the sha256 of the file (%s)\n", name, r.GetId(), id)
	}
	if !wait {
		return r, nil, nil
	}
	if v == nil {
		e.warnNoLogKey()
		return r, &logCheck{Status: logUnverified, LogIndex: r.GetLogIndex()}, nil
	}
	var cp tlog.Checkpoint
	if project != "" && r.GetProject() != project {
		err = proofErrorf("the receipt is for project %q, not %q", r.GetProject(), project)
	} else {
		cp, _, err = v.verifyLeaf(leafClaim{project: r.GetProject(), id: r.GetId(), envelope: envelope, index: r.GetLogIndex(),
			entries: [][]byte{r.GetLogEntry()}}, r.GetInclusionProof())
	}
	chk, err := verdict(r.GetLogIndex(), cp, err)
	switch {
	case err != nil:
		return r, nil, err
	case chk.Status == logFailed:
		return r, chk, failed("submit %s: log verification FAILED: %s", name, chk.Error)
	case chk.Status != logVerified:
		return r, chk, failed("submit %s: log verification FAILED: %s", name, chk.Status)
	}
	return r, chk, nil
}

func writeReceipt(path string, r *attestdv1.Receipt) error {
	b, err := attestor.MarshalReceipt(r)
	if err != nil {
		return failed("receipt: %v", err)
	}
	if err := writeFile(path, b, 0o644); err != nil {
		return failed("receipt: %v", err)
	}
	return nil
}
