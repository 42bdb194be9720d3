// Command attest is the attestd client: CI runners use it to record and
// submit signed in-toto attestations of build steps, release managers to query
// them, and admins to manage projects, tokens and functionary keys.
//
//	attest keygen --out build.key
//	attest key add --pub build.key.pub
//	attest run --step build --key build.key --materials src --products bin/app -- make app
//	attest get --digest sha256:9f86d08...
//	attest log pin --log-key attestd-log.pub
//	attest log verify
//
// Flags may come before or after the other arguments ("attest project list
// --json" and "attest --json project list" are the same); "--" ends the flags.
// The server address and token come from --server and --token, or from the
// environment variables ATTEST_SERVER and ATTEST_TOKEN.
//
// attest verifies what the server says about its transparency log: inclusion
// proofs (submit --wait, run --wait, get, log proof) against checkpoints signed
// by the log's key, and every checkpoint against the largest one it has
// verified before for that log (tlog.CheckpointStore), refusing rollbacks and
// split views loudly. The key is trusted only because the user gave it: with
// --log-key (ATTEST_LOG_KEY), or pinned per server with "attest log pin";
// a pin is never replaced silently. Without a key nothing from the log is
// verified, and attest warns. Pins, remembered checkpoints and the evidence
// of refusals live under ATTEST_CONFIG_DIR (default: os.UserConfigDir()/attest).
//
// Exit codes: 0 success; 1 the server refused or the operation failed, or a
// proof or checkpoint did not verify; 2 a usage error, or the server could not
// be reached. "attest run" exits with the
// code of the command it ran (126 or 127 when the command could not be
// started). Errors are printed as "attest: <what failed>: <gRPC code>:
// <message>".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK            = 0
	exitFailed        = 1   // the server said no, or the operation failed
	exitUsage         = 2   // usage error, or the server could not be reached
	exitCannotExecute = 126 // attest run: the command exists but cannot be run
	exitNotFound      = 127 // attest run: the command was not found
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, let the next one kill attest as usual.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is attest without the process around it: it parses args (without the
// program name), runs the command and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, g: defaultGlobals(os.Getenv)}

	// Global flags may come before the command name.
	rest, err := e.parse(e.newFlagSet(), args, false)
	if err != nil {
		return e.fail(err)
	}
	if len(rest) == 0 {
		printTopUsage(stderr)
		return exitUsage
	}
	if rest[0] == "help" {
		return e.fail(cmdHelp(e, rest[1:]))
	}
	c, rest := findCommand(rest)
	if c == nil {
		return e.fail(unknownCommand(rest))
	}
	e.cmd = c
	return e.fail(c.run(e, rest))
}

// fail prints err (if it has anything to say) and returns its exit code.
func (e *env) fail(err error) int {
	if err == nil {
		return exitOK
	}
	var xe *exitError
	if !errors.As(err, &xe) {
		fmt.Fprintf(e.stderr, "attest: %v\n", err)
		return exitFailed
	}
	if xe.err != nil {
		fmt.Fprintf(e.stderr, "attest: %v\n", xe.err)
	}
	if xe.hint != "" {
		fmt.Fprintln(e.stderr, xe.hint)
	}
	return xe.code
}

// exitCodeOf returns the exit code err asks for: its own for an exitError,
// 1 for any other error, 0 for nil.
func exitCodeOf(err error) int {
	var xe *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xe):
		return xe.code
	}
	return exitFailed
}

// exitError is an error with the exit code it should produce. A nil err
// prints nothing (attest run returning its command's exit code).
type exitError struct {
	code int
	err  error
	hint string // a line printed after the error, such as where to find usage
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError reports a command line that makes no sense; cmd names the
// command for the "Run 'attest help CMD'" hint ("" for the top level).
func usageError(cmd, format string, args ...any) error {
	hint := "Run 'attest help' for usage."
	if cmd != "" {
		hint = fmt.Sprintf("Run 'attest help %s' for usage.", cmd)
	}
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...), hint: hint}
}

// failed reports an operation that failed for a reason other than the server.
func failed(format string, args ...any) error {
	return &exitError{code: exitFailed, err: fmt.Errorf(format, args...)}
}
