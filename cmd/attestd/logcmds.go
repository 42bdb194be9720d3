package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/attestd/attestd/internal/audit"
	"github.com/attestd/attestd/internal/tlog"
)

// runLogKey prints the log's note verifier key, creating the key pair on first use, so that operators can hand
// it to clients (attest --log-key) and witnesses.
func runLogKey(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig("log-key", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd log-key:", err)
		return 2
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		fmt.Fprintln(stderr, "attestd log-key:", err)
		return 1
	}
	_, vkey, err := tlog.LoadOrCreateKey(cfg.DataDir, cfg.LogOrigin)
	if err != nil {
		fmt.Fprintln(stderr, "attestd log-key:", err)
		return 1
	}
	fmt.Fprintln(stdout, vkey)
	return 0
}

// runAudit checks the database against the log. Exit 0 when clean, 1 when it found mismatches, 2 when it could
// not complete.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, cfg, envErrs := newFlagSet("audit", getenv, stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	stateFile := fs.String("state", "", "file that keeps the last verified checkpoint between audits (default <data-dir>/audit.checkpoint)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := finishConfig(cfg, fs, *envErrs); err != nil {
		fmt.Fprintln(stderr, "attestd audit:", err)
		return 2
	}
	if *stateFile == "" {
		*stateFile = filepath.Join(cfg.DataDir, "audit.checkpoint")
	}
	vkey, err := os.ReadFile(filepath.Join(cfg.DataDir, tlog.PubFile))
	if err != nil {
		fmt.Fprintln(stderr, "attestd audit: the log's public key:", err)
		return 2
	}
	db, err := cfg.database()
	if err != nil {
		fmt.Fprintln(stderr, "attestd audit:", err)
		return 2
	}
	st, err := openStore(ctx, db)
	if err != nil {
		fmt.Fprintln(stderr, "attestd audit:", err)
		return 2
	}
	defer st.Close()
	rep, err := audit.Run(ctx, audit.Config{
		Store:       st,
		Log:         audit.Files{Dir: cfg.LogDir},
		VerifierKey: string(trimNewline(vkey)),
		StateFile:   *stateFile,
	})
	if err != nil {
		fmt.Fprintln(stderr, "attestd audit:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		fmt.Fprintf(stdout, "log %s: %d leaves, root %s; %d rows\n", rep.Origin, rep.TreeSize, rep.RootHash, rep.Rows)
		for _, o := range rep.Orphans {
			fmt.Fprintf(stdout, "note: leaf %d: %s\n", *o.LogIndex, o.Detail)
		}
		for _, f := range rep.Findings {
			where := ""
			if f.LogIndex != nil {
				where = fmt.Sprintf(" leaf %d", *f.LogIndex)
			}
			if f.ID != "" {
				where += fmt.Sprintf(" attestation %s (project %s)", f.ID, f.Project)
			}
			fmt.Fprintf(stdout, "MISMATCH %s%s: %s\n", f.Kind, where, f.Detail)
		}
		if rep.Clean() {
			fmt.Fprintln(stdout, "clean: the database and the log agree")
		} else {
			fmt.Fprintf(stdout, "%d mismatches\n", len(rep.Findings))
		}
	}
	if !rep.Clean() {
		return 1
	}
	return 0
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
