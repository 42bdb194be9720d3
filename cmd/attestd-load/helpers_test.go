package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/server"
)

// attestd is a real attestd in this process: a server.Server on a fresh PostgreSQL database (dbtest) with a
// real Tessera log, serving gRPC on a loopback port until the test ends.
type attestd struct {
	addr  string
	admin string // a server-admin secret
	store store.Store
}

func startAttestd(t *testing.T, limits attestation.Limits) *attestd {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	dir := t.TempDir()
	signer, vkey, err := tlog.LoadOrCreateKey(dir, "attestd-load.test/log")
	if err != nil {
		t.Fatal(err)
	}
	lg, err := tlog.Open(ctx, tlog.Config{Dir: filepath.Join(dir, "log"), Signer: signer, VerifierKey: vkey,
		BatchMaxAge: 10 * time.Millisecond, CheckpointInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lg.Close(context.Background()) })
	srv := server.New(server.Config{Store: st, Log: lg, Limits: limits, Logger: slog.New(slog.DiscardHandler)})
	if _, err := srv.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	gs, _ := srv.NewGRPCServer(server.GRPCOptions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	tok, secret, err := server.NewToken(store.RoleServerAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Bootstrap(ctx, tok); err != nil || !ok {
		t.Fatalf("bootstrap: %v %v", ok, err)
	}
	return &attestd{addr: lis.Addr().String(), admin: secret, store: st}
}

// load runs attestd-load with args (--json and --quiet added) and the hooks of e, and returns its report.
func load(t *testing.T, e *env, args ...string) *report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if e == nil {
		e = &env{}
	}
	e.stdout, e.stderr = &stdout, &stderr
	if err := execute(t.Context(), e, append(args, "--json", "--quiet")); err != nil {
		t.Fatalf("attestd-load %v: %v\n%s", args, err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	return &r
}

// attestations returns the attestations of project, through the store (independently of List).
func (a *attestd) attestations(t *testing.T, project string) []store.Attestation {
	t.Helper()
	p, err := a.store.ProjectByName(t.Context(), project)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Attestation
	f := store.Filter{Limit: store.MaxPageSize}
	for {
		page, err := a.store.ListAttestations(t.Context(), p.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < store.MaxPageSize {
			return out
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// cpuOf returns the report's CPU figure of group name.
func cpuOf(t *testing.T, r *report, name string) cpuFigure {
	t.Helper()
	for _, c := range r.CPU {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no CPU figure for %s in %+v", name, r.CPU)
	return cpuFigure{}
}
