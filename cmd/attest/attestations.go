package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
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
	pos, err := e.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := e.positional(pos); err != nil {
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
		name: "submit", args: "[--project P] [--receipt FILE] FILE...",
		summary: "submit signed envelopes; prints their receipts",
		help: `Submits each FILE (a DSSE envelope, or a classic signed in-toto link) exactly
as it is on disk, and prints a receipt per file: its id (the sha256 of the
file), project, step and the time the log integrated it. A file submitted
before gets its original receipt, marked "(already recorded)".

A refused file does not stop the others; attest exits 1 if any was refused, 2
if the server could not be reached. With one FILE, --receipt writes the
receipt as JSON.`,
		example: "attest submit build.intoto.json test.intoto.json",
		run:     cmdSubmit,
	}
}

// submitResult is one line of "attest submit --json".
type submitResult struct {
	File    string          `json:"file"`
	Receipt json.RawMessage `json:"receipt,omitempty"`
	Error   string          `json:"error,omitempty"`
}

func cmdSubmit(e *env, args []string) error {
	fs := e.newFlagSet()
	project := fs.String("project", "", "the `PROJECT` (default: the token's own)")
	receiptFile := fs.String("receipt", "", "write the receipt (JSON) to `FILE`; one envelope only")
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
	c, err := e.client()
	if err != nil {
		return err
	}
	defer c.Close()

	var results []submitResult
	code, succeeded := exitOK, 0
	tw := e.table("FILE", "ID", "PROJECT", "STEP", "INTEGRATED", "")
	for _, f := range files {
		r, err := e.submitFile(c, *project, f, *receiptFile)
		if err != nil {
			code = max(code, e.fail(err))
			results = append(results, submitResult{File: f, Error: err.Error()})
			continue
		}
		raw, err := marshalProto(r)
		if err != nil {
			return err
		}
		results = append(results, submitResult{File: f, Receipt: raw})
		succeeded++
		note := ""
		if !r.GetCreated() {
			note = "(already recorded)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f, r.GetId(), r.GetProject(), r.GetStep(), fmtTime(r.GetIntegratedTime()), note)
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
func (e *env) submitFile(c *attestor.Client, project, file, receiptFile string) (*attestdv1.Receipt, error) {
	data, err := readFile(file, maxEnvelopeFile)
	if err != nil {
		return nil, failed("submit: %v", err)
	}
	ctx, cancel := e.rpcContext()
	defer cancel()
	r, err := c.Submit(ctx, project, data)
	if err != nil {
		return nil, e.rpcError("submit "+file, err)
	}
	if id := contentID(data); r.GetId() != id {
		fmt.Fprintf(e.stderr, "attest: warning: %s: the server's receipt id %s is not the sha256 of the file (%s)\n", file, r.GetId(), id)
	}
	if receiptFile != "" {
		if err := writeReceipt(receiptFile, r); err != nil {
			return r, err
		}
	}
	return r, nil
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

func getCommand() *command {
	return &command{
		name: "get", args: "[--project P] --digest ALG:HEX [--material] [--step S] [--limit N]",
		summary: "list the attestations of an artifact digest",
		help: `Lists every attestation whose subject (with --material: one of whose
materials) has the digest, newest first. With --json, prints them with their
envelopes as the API's ListResponse (protojson).`,
		example: "attest get --digest sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --step build",
		run:     cmdGet,
	}
}

func cmdGet(e *env, args []string) error {
	fs := e.newFlagSet()
	project := fs.String("project", "", "the `PROJECT` (default: the token's own)")
	digest := fs.String("digest", "", "the artifact `DIGEST`, as sha256:HEX")
	material := fs.Bool("material", false, "match the digest among materials instead of subjects")
	step := fs.String("step", "", "only attestations of `STEP`")
	limit := fs.Int("limit", 0, "at most `N` attestations (0: all)")
	pos, err := e.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := e.positional(pos); err != nil {
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
	req := &attestdv1.ListRequest{Project: *project, Step: *step, OmitEnvelopes: !e.g.json, PageSize: 1000}
	if e.g.json {
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
	var all []*attestdv1.Attestation
	err = e.call("list attestations of "+*digest, func(ctx context.Context, c *attestor.Client) (err error) {
		all, err = c.ListAll(ctx, req, *limit)
		return err
	})
	if err != nil {
		return err
	}
	if e.g.json {
		return e.printProto(&attestdv1.ListResponse{Attestations: all})
	}
	if len(all) == 0 {
		fmt.Fprintf(e.stderr, "attest: no attestations for %s\n", *digest)
		return nil
	}
	tw := e.table("INTEGRATED", "STEP", "TYPE", "SIGNERS", "ID")
	for _, a := range all {
		r := a.GetReceipt()
		kind := r.GetPredicateType()
		if kind == "" {
			kind = a.GetStatementType()
		}
		var signers []string
		for _, id := range a.GetSignerKeyIds() {
			signers = append(signers, id[:min(12, len(id))])
		}
		row(tw, fmtTime(r.GetIntegratedTime()), r.GetStep(), kind, strings.Join(signers, ","), r.GetId())
	}
	return tw.Flush()
}
