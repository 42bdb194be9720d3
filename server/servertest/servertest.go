// Package servertest runs a real attestd in the test's process, for the tests of its clients (the CLI, the load
// tool): a server.Server on a fresh PostgreSQL database (internal/store/dbtest), the embedded Tessera log with
// fast batches and checkpoints, gRPC on a loopback port, bootstrapped with a server-admin token. Everything
// stops when the test ends.
package servertest

import (
	"context"
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

// Attestd is a running attestd.
type Attestd struct {
	Addr  string      // its gRPC address
	Admin string      // a server-admin secret
	Store store.Store // its database, for tests that look behind it
}

// Start runs an attestd with limits (zero: the defaults) until t ends.
func Start(t testing.TB, limits attestation.Limits) *Attestd {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	dir := t.TempDir()
	signer, vkey, err := tlog.LoadOrCreateKey(dir, "attestd.test/log")
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
	srv.LoadDuplicateFilter(ctx)
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
	return &Attestd{Addr: lis.Addr().String(), Admin: secret, Store: st}
}
