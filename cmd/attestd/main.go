// Command attestd is the attestation service daemon.
//
//	attestd serve    [flags]   run the gRPC and HTTP servers (migrates the database first)
//	attestd migrate  [flags]   apply database migrations and exit
//	attestd log-key  [flags]   print the log's checkpoint verifier key
//	attestd verifier-key [flags] print the public key that signs verification summaries (PEM)
//	attestd audit    [flags]   check the database against the transparency log
//	attestd backup   --out FILE [flags]   back up the database and the log, while attestd serves
//	attestd restore  --in FILE [flags]    restore a backup into an empty data directory and database
//	attestd migrate-data --from URL --to URL   copy the database into another, empty one (SQLite to PostgreSQL)
//	attestd version
//
// Every flag has an environment variable (ATTESTD_ and the flag name in upper case, dashes as underscores);
// a flag given on the command line wins. See docs/operations.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `attestd: the attestation service.

Usage:
  attestd serve   [flags]   serve gRPC and HTTP (runs migrations first)
  attestd migrate [flags]   apply database migrations and exit
  attestd log-key [flags]   print the log's checkpoint verifier key (creating it on first use)
  attestd verifier-key [flags]
                            print the public key that signs verification summaries (PEM; created on first use)
  attestd audit   [flags]   check the database against the log: exit 0 clean, 1 mismatches, 2 error
  attestd backup  --out FILE [flags]
                            write a backup of the database and the log (attestd may be serving)
  attestd restore --in FILE [flags]
                            restore a backup into an empty data directory and an empty database
  attestd migrate-data --from URL --to URL
                            copy the database into another, empty one, e.g. --from sqlite:PATH --to postgres://...
  attestd version           print the version

Run "attestd serve -h" for the flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "log-key":
		return runLogKey(args[1:], getenv, stdout, stderr)
	case "verifier-key":
		return runVerifierKey(args[1:], getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return runRestore(ctx, args[1:], getenv, stdout, stderr)
	case "migrate-data":
		return runMigrateData(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "attestd", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "attestd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text", format)
	}
}
