// Command attestd-load drives a running attestd over gRPC on loopback and
// measures it: throughput, latency percentiles, errors by gRPC code, and the
// CPU seconds that attestd and PostgreSQL spent per operation, read from /proc.
// It also measures, in the same run, the limits the figures should be compared
// with: ed25519 verifications per second on this machine, PostgreSQL durable
// single-row commits per second, and the embedded log's appends per second.
//
//	attestd-load submit --token-file data/admin.token --clients 64 --count 20000 --limits
//	attestd-load submit --token-file data/admin.token --rate 1500 --duration 60s
//	attestd-load get    --token-file data/admin.token --count 50000
//	attestd-load verify --token-file data/admin.token --count 20000
//	attestd-load rekor  --rekor-url http://127.0.0.1:3077 --count 2000
//	attestd-load soak   --token-file data/admin.token --rate 1500 --duration 10m
//	attestd-load limits
//
// With a server-admin token (--token or --token-file) the tool creates its own
// project, "load-<unix time>", registers generated keys in it and creates the
// tokens it needs; with --project and --admin-token it does the same inside an
// existing project. Every envelope is generated and signed before the clock
// starts, each distinct (a run nonce and a counter in the statement), exactly
// --envelope-bytes long.
//
// Without --rate the load is closed: --clients workers each send the next
// request as soon as their previous one is answered, and latency is measured
// from the send. With --rate R the load is open: request i is due at start +
// i/R whatever the others do, and its latency is measured from when it was due,
// so a server that stalls is charged for the requests that queued behind the
// stall (no coordinated omission). Every run is bounded: by --count (at most
// 10,000,000) and by --duration (at most 2 h), whichever comes first.
//
// The tool refuses any server that is not on loopback: it is a load
// generator, and it reads the server's CPU and memory from this machine's /proc.
// docs/load.md explains every figure and its caveats.
//
// Exit codes: 0 the run completed (errors counted in the report do not change
// it); 1 the run could not be set up or failed; 2 a usage error.
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
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the run stops and reports; a second one kills the tool as usual.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is attestd-load without the process around it: it parses args (without
// the program name), runs the command and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := execute(ctx, &env{stdout: stdout, stderr: stderr}, args); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			if ue.msg != "" {
				fmt.Fprintf(stderr, "attestd-load: %s\n", ue.msg)
			}
			return exitUsage
		}
		fmt.Fprintf(stderr, "attestd-load: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// env is what a command writes to, and the seams tests use to look inside a run.
type env struct {
	stdout, stderr io.Writer
	// prepared, if set, is called with the envelopes of a submit or rekor run once they are signed, and
	// ready with the session once it is set up, both before the clock starts.
	prepared func(envelopes [][]byte)
	ready    func(ctx context.Context, s *session) error
}

// usageError is a mistake in the command line; msg empty means the usage was printed already.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// commands returns the operations of the tool, in the order the help lists them.
func commands() []struct{ name, summary string } {
	return []struct{ name, summary string }{
		{"submit", "Submit distinct signed envelopes (closed loop, or open loop with --rate)"},
		{"get", "Submit --prefill attestations, then Get by id and List by subject digest at random"},
		{"verify", "Record a 5-step chain, push a layout and a policy, then Verify with warm caches"},
		{"rekor", "Upload the same envelopes to a Rekor v1 server, for the attestd/Rekor ratio"},
		{"soak", "Submit at a fixed --rate for --duration, sampling attestd's RSS every second"},
		{"limits", "Measure only the limits: ed25519 verifications/s, PostgreSQL commits/s, log appends/s"},
	}
}

func execute(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		printTopUsage(e.stderr)
		if len(args) == 0 {
			return &usageError{}
		}
		return nil
	}
	cfg, err := parseFlags(args[0], args[1:], e.stderr)
	if err != nil {
		return err
	}
	switch cfg.op {
	case "limits":
		return runLimitsOnly(ctx, e, cfg)
	case "rekor":
		return runRekor(ctx, e, cfg)
	default:
		return runAttestd(ctx, e, cfg)
	}
}

func printTopUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: attestd-load COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Drives a running attestd (loopback only) and reports throughput, latency percentiles,")
	fmt.Fprintln(w, "errors by gRPC code and CPU seconds per operation of attestd and PostgreSQL.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "attestd-load COMMAND -help lists the command's flags; docs/load.md explains the figures.")
}
