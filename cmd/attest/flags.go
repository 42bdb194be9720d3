package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"time"
)

// defaultServer is where attest looks for attestd without --server or ATTEST_SERVER.
const defaultServer = "127.0.0.1:7700"

// globals are the flags every command accepts, anywhere on the command line.
type globals struct {
	server    string
	token     string
	plaintext bool
	caFile    string
	json      bool
	timeout   time.Duration
	logKey    string // the file holding the log's verifier key; "" for the pinned one
	configDir string // ATTEST_CONFIG_DIR: replaces os.UserConfigDir()/attest
}

func defaultGlobals(getenv func(string) string) *globals {
	g := &globals{server: defaultServer, token: getenv("ATTEST_TOKEN"), timeout: 30 * time.Second,
		logKey: getenv("ATTEST_LOG_KEY"), configDir: getenv("ATTEST_CONFIG_DIR")}
	if s := getenv("ATTEST_SERVER"); s != "" {
		g.server = s
	}
	return g
}

// isGlobalFlag reports whether name is one of the globals' flags.
func isGlobalFlag(name string) bool {
	switch name {
	case "server", "token", "plaintext", "ca-file", "json", "timeout", "log-key":
		return true
	}
	return false
}

const globalFlagsHelp = `Global flags (accepted anywhere on the command line):
  --server HOST:PORT   attestd address (env ATTEST_SERVER; default ` + defaultServer + `)
  --token TOKEN        bearer token (env ATTEST_TOKEN)
  --plaintext          connect without TLS; the token is still sent, in the clear
  --ca-file FILE       PEM CA certificates that check the server's certificate
                       (default: the system's roots)
  --json               machine-readable output (protojson for API messages)
  --timeout DURATION   give up on the server after this long (default 30s)
  --log-key FILE       the transparency log's verifier key: the line that
                       'attestd log-key' prints on the server (env ATTEST_LOG_KEY;
                       default: the key pinned for --server by 'attest log pin')
`

// env is what a command runs with: the process's streams, the global flags
// and the command itself (for its usage).
type env struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	g              *globals
	cmd            *command // nil at the top level
	warnedNoKey    bool     // warnNoLogKey has spoken
}

// newFlagSet returns a FlagSet for the current command with the global flags
// defined. It prints nothing itself: parse reports errors and usage.
func (e *env) newFlagSet() *flag.FlagSet {
	name := "attest"
	if e.cmd != nil {
		name = "attest " + e.cmd.name
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	g := e.g
	fs.StringVar(&g.server, "server", g.server, "attestd address")
	fs.StringVar(&g.token, "token", g.token, "bearer token")
	fs.BoolVar(&g.plaintext, "plaintext", g.plaintext, "connect without TLS")
	fs.StringVar(&g.caFile, "ca-file", g.caFile, "CA certificates")
	fs.BoolVar(&g.json, "json", g.json, "machine-readable output")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "server timeout")
	fs.StringVar(&g.logKey, "log-key", g.logKey, "log verifier key file")
	return fs
}

// parse parses args with fs after moving the flags in front of the other
// arguments, so that flags work wherever people type them. With interspersed
// false, the first non-flag argument ends the flags, as "--" always does: the
// rest belongs to a command to run (attest run) or a subcommand. -h and
// --help print the usage to stdout and end the command with exit code 0.
func (e *env) parse(fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	err := fs.Parse(reorder(fs, args, interspersed))
	switch {
	case errors.Is(err, flag.ErrHelp):
		if e.cmd == nil {
			printTopUsage(e.stdout)
		} else {
			e.cmd.printUsage(e.stdout, fs)
		}
		return nil, &exitError{code: exitOK}
	case err != nil:
		return nil, usageError(e.cmdName(), "%s", err)
	}
	return fs.Args(), nil
}

func (e *env) cmdName() string {
	if e.cmd == nil {
		return ""
	}
	return e.cmd.name
}

// reorder returns args with every flag (and the value of every flag that
// takes one) first, then "--", then the other arguments in their order.
// Unknown flags stay among the flags so that fs.Parse reports them.
func reorder(fs *flag.FlagSet, args []string, interspersed bool) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if !interspersed {
				rest = append(rest, args[i:]...)
				break
			}
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(append(flags, "--"), rest...)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// listFlag is a flag that may be given several times; each adds a value.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// splitList splits "a,b, c" into its non-empty, trimmed parts.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
