package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

const (
	// maxRecordedOutput is how much of each of stdout and stderr
	// --record-output keeps: the first 64 KiB.
	maxRecordedOutput = 64 << 10
	// killDelay is how long a command gets to exit after attest, interrupted
	// or terminated, has sent it SIGTERM, before it is killed.
	killDelay = 10 * time.Second
)

func runCommand() *command {
	return &command{
		name: "run", args: "[--project P] --step NAME --key FILE [--materials PATH]... [--products PATH]... [--out FILE] [--no-submit] [--wait] [--receipt FILE] [--record-output] -- CMD ARGS...",
		summary: "run a build step and attest it",
		help: `Runs one build step and attests what it did:

  1. hashes the --materials (files or directories, relative to the working
     directory; repeat the flag for more);
  2. runs CMD ARGS with attest's stdin, stdout and stderr. Its output is not
     put in the attestation unless --record-output is given; then the first
     64 KiB of each stream is;
  3. hashes the --products;
  4. signs an in-toto link with --key: a Statement v1 whose subjects are the
     products, with the link predicate, or a classic in-toto link when there
     are no products; writes the DSSE envelope to --out (default
     NAME.intoto.json in the working directory);
  5. submits it to attestd, unless --no-submit, and writes the receipt to
     --receipt if asked. The receipt gives the attestation's index in the
     transparency log; with --wait, attest waits for a signed checkpoint that
     covers it and verifies the inclusion proof as 'attest submit --wait'
     does ("verified in log ORIGIN at size N"; exit 1 if it FAILED).

A failing command is recorded honestly: the link's byproducts carry its
non-zero return-value, the envelope is still written and submitted, and attest
exits with the command's exit code (128+N for a command killed by signal N,
which is also the recorded return-value). Products missing after a failed
command are left out of the link. If the command cannot be started at all,
nothing is signed or written and attest exits 127 (not found) or 126 (not
executable). If attest is interrupted, the command is sent SIGTERM; the run is
still signed and written, but not submitted.

Otherwise attest exits 1 when attesting or submitting failed, 2 on a usage
error or when the server could not be reached. The command starts at the first
argument that is not a flag, or after "--": flags after it are the command's.
attest's own messages go to stderr; stdout is the command's (with --json, a
summary follows the command's output as the last line of stdout).`,
		example: "attest run --step build --key build.key --materials src --materials go.mod --products bin/app -- make app",
		run:     cmdRun,
	}
}

// runFlags are the flags of attest run.
type runFlags struct {
	project, step, keyFile, out, receipt string
	materials, products                  listFlag
	noSubmit, recordOutput, wait         bool
}

func cmdRun(e *env, args []string) error {
	fs := e.newFlagSet()
	var f runFlags
	fs.StringVar(&f.project, "project", "", "submit to `PROJECT` (default: the token's own)")
	fs.StringVar(&f.step, "step", "", "the step `NAME`, as the layout names it")
	fs.StringVar(&f.keyFile, "key", "", "the private key `FILE` (PEM) to sign with")
	fs.Var(&f.materials, "materials", "a `PATH` the step reads (repeatable)")
	fs.Var(&f.products, "products", "a `PATH` the step writes (repeatable)")
	fs.StringVar(&f.out, "out", "", "write the envelope to `FILE` (default NAME.intoto.json)")
	fs.BoolVar(&f.noSubmit, "no-submit", false, "write the envelope, do not submit it")
	fs.BoolVar(&f.wait, "wait", false, "wait for a log checkpoint that covers the attestation and verify its inclusion proof")
	fs.StringVar(&f.receipt, "receipt", "", "write the receipt (JSON) to `FILE`")
	fs.BoolVar(&f.recordOutput, "record-output", false, "record the first 64 KiB of the command's stdout and stderr in the link")
	argv, err := e.parse(fs, args, false)
	if err != nil {
		return err
	}
	if err := f.check(e, argv); err != nil {
		return err
	}
	// Settle the log key before the build, not after it.
	var key *logKey
	if !f.noSubmit {
		if key, err = e.resolveLogKey(); err != nil {
			return err
		}
		if _, err := e.g.configRoot(); err != nil && key != nil && f.wait {
			return failed("run: %v", err)
		}
	}
	signer, err := loadSigner(f.keyFile)
	if err != nil {
		return failed("run: key: %v", err)
	}

	rec := &attestor.Recorder{Exclude: localNames(f.out, f.receipt)}
	materials, err := e.record(e.ctx, rec, "materials", f.materials)
	if err != nil {
		if e.ctx.Err() != nil {
			return failed("run: interrupted while hashing materials; nothing was run")
		}
		return failed("run: materials: %v; nothing was run", err)
	}
	res, err := e.execute(argv, f.recordOutput)
	if err != nil {
		return err
	}
	// From here on the run happened: record it even if attest is being
	// interrupted (a second signal kills attest).
	ctx := context.WithoutCancel(e.ctx)
	rec.SkipMissing = res.code != 0
	products, err := e.record(ctx, rec, "products", f.products)
	if err != nil {
		return failedRun(res.code, "run: products: %v; nothing was signed", err)
	}
	link := &attestor.Link{Step: f.step, Command: argv, Materials: materials, Products: products, ReturnValue: res.code, Output: res.output}
	payload, err := link.Payload()
	if err != nil {
		return failedRun(res.code, "run: %v", err)
	}
	envelope, err := signer.Sign(ctx, attestor.PayloadType, payload)
	if err != nil {
		return failedRun(res.code, "run: %v", err)
	}
	if err := writeFile(f.out, envelope, 0o644); err != nil {
		return failedRun(res.code, "run: write envelope: %v", err)
	}
	sum := runSummary{Step: f.step, ExitCode: res.code, Envelope: f.out, ID: contentID(envelope), KeyID: signer.KeyID(),
		Materials: len(materials), Products: len(products)}

	submitErr := e.submitRun(&f, key, envelope, &sum)
	e.printRunSummary(&sum)
	if res.code != exitOK {
		return &exitError{code: res.code}
	}
	return submitErr
}

// check validates the flags and the command line of attest run.
func (f *runFlags) check(e *env, argv []string) error {
	switch {
	case f.step == "":
		return usageError(e.cmdName(), "--step is required")
	case f.keyFile == "":
		return usageError(e.cmdName(), "--key is required")
	case len(argv) == 0:
		return usageError(e.cmdName(), "no command to run (put it after --)")
	case f.noSubmit && f.receipt != "":
		return usageError(e.cmdName(), "--receipt needs a submission, and --no-submit was given")
	case f.noSubmit && f.wait:
		return usageError(e.cmdName(), "--wait needs a submission, and --no-submit was given")
	case !f.noSubmit && e.g.token == "":
		return usageError(e.cmdName(), "no token to submit with: pass --token or set ATTEST_TOKEN, or use --no-submit")
	}
	if f.out == "" {
		if strings.ContainsAny(f.step, `/\`) || f.step == "." || f.step == ".." {
			return usageError(e.cmdName(), "step %q cannot name a file: give --out", f.step)
		}
		f.out = f.step + ".intoto.json"
	}
	// Find out now, not after a long build, that the results cannot be written.
	for _, out := range []string{f.out, f.receipt} {
		if out == "" {
			continue
		}
		if info, err := os.Stat(filepath.Dir(out)); err != nil || !info.IsDir() {
			return usageError(e.cmdName(), "cannot write %s: its directory does not exist", out)
		}
	}
	return nil
}

// record hashes paths with rec, with a progress bar on a terminal.
func (e *env) record(ctx context.Context, rec *attestor.Recorder, what string, paths []string) ([]attestor.Artifact, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	bar := newProgress(e.stderr, "hashing "+what)
	rec.Progress = bar.callback()
	as, err := rec.Record(ctx, paths)
	bar.finish()
	return as, err
}

// runResult is how the command ended.
type runResult struct {
	code   int              // exit code; 128+N when killed by signal N
	output *attestor.Output // nil unless recorded
}

// execute runs argv with attest's streams. It fails only when the command
// could not be started, with exit code 127 or 126.
func (e *env) execute(argv []string, recordOutput bool) (*runResult, error) {
	if err := e.ctx.Err(); err != nil {
		return nil, failed("run: interrupted before %s started; nothing was attested", argv[0])
	}
	cmd := exec.CommandContext(e.ctx, argv[0], argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = killDelay
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	var stdout, stderr *capture
	if recordOutput {
		stdout, stderr = &capture{}, &capture{}
		cmd.Stdout, cmd.Stderr = io.MultiWriter(e.stdout, stdout), io.MultiWriter(e.stderr, stderr)
	}
	if err := cmd.Start(); err != nil {
		code := exitCannotExecute
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			code = exitNotFound
		}
		return nil, &exitError{code: code, err: fmt.Errorf("run: cannot start %s: %v; nothing was attested", argv[0], err)}
	}
	err := cmd.Wait()
	if cmd.ProcessState == nil {
		return nil, failed("run: %s: %v; nothing was attested", argv[0], err)
	}
	res := &runResult{code: exitStatus(cmd.ProcessState)}
	if recordOutput {
		res.output = &attestor.Output{Stdout: stdout.buf.String(), Stderr: stderr.buf.String()}
	}
	return res, nil
}

func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// capture keeps the first maxRecordedOutput bytes written to it.
type capture struct{ buf bytes.Buffer }

func (c *capture) Write(p []byte) (int, error) {
	if room := maxRecordedOutput - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// failedRun is a failure after the command ran: exit with the command's
// code when it failed, else 1.
func failedRun(code int, format string, args ...any) error {
	return &exitError{code: max(code, exitFailed), err: fmt.Errorf(format, args...)}
}

// localNames returns the artifact names of the paths that lie under the
// working directory, so that attest's own output files are not recorded.
func localNames(paths ...string) []string {
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(wd, abs); err == nil && filepath.IsLocal(rel) {
			out = append(out, filepath.ToSlash(rel))
		}
	}
	return out
}

// runSummary is what attest run reports: a line on stderr, or JSON on stdout.
type runSummary struct {
	Step      string          `json:"step"`
	ExitCode  int             `json:"exitCode"`
	Envelope  string          `json:"envelope"`
	ID        string          `json:"id"`
	KeyID     string          `json:"keyId"`
	Materials int             `json:"materials"`
	Products  int             `json:"products"`
	Submitted bool            `json:"submitted"`
	Receipt   json.RawMessage `json:"receipt,omitempty"`
	Log       *logCheck       `json:"log,omitempty"`
	Error     string          `json:"error,omitempty"`

	logIndex uint64
}

// submitRun submits the envelope unless told not to, and fills in sum.
func (e *env) submitRun(f *runFlags, key *logKey, envelope []byte, sum *runSummary) error {
	if f.noSubmit {
		return nil
	}
	if e.ctx.Err() != nil {
		err := failed("run: interrupted: %s was written but not submitted; submit it with 'attest submit %s'", f.out, f.out)
		sum.Error = err.Error()
		e.fail(err)
		return err
	}
	r, chk, err := e.submitRunEnvelope(f, key, envelope)
	if r != nil {
		sum.Submitted, sum.Log, sum.logIndex = true, chk, r.GetLogIndex()
		var merr error
		if sum.Receipt, merr = marshalProto(r); merr != nil && err == nil {
			err = merr
		}
	}
	if err == nil && f.receipt != "" {
		err = writeReceipt(f.receipt, r)
	}
	if err != nil {
		sum.Error = err.Error()
		e.fail(err)
		return &exitError{code: exitCodeOf(err)}
	}
	return nil
}

func (e *env) submitRunEnvelope(f *runFlags, key *logKey, envelope []byte) (*attestdv1.Receipt, *logCheck, error) {
	c, v, err := e.submitClient(key, f.wait)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	return e.submitEnvelope(c, v, f.project, f.out, envelope, f.wait)
}

func (e *env) printRunSummary(sum *runSummary) {
	if e.g.json {
		if b, err := json.Marshal(sum); err == nil {
			fmt.Fprintf(e.stdout, "%s\n", b)
		}
		return
	}
	status := "written, not submitted"
	if sum.Submitted {
		status = "submitted"
	}
	log := ""
	if sum.Submitted {
		log = fmt.Sprintf(", log index %d", sum.logIndex)
		if sum.Log != nil {
			log += ", " + sum.Log.describe()
		}
	}
	fmt.Fprintf(e.stderr, "attest: step %s: exit code %d, %d materials, %d products; signed with key %.12s: %s (%s, id %s%s)\n",
		sum.Step, sum.ExitCode, sum.Materials, sum.Products, sum.KeyID, sum.Envelope, status, sum.ID, log)
}
