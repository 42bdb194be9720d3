package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/server"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig("serve", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd serve:", err)
		return 2
	}
	logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintln(stderr, "attestd serve:", err)
		return 2
	}
	if err := serve(ctx, cfg, getenv, logger); err != nil {
		logger.Error("attestd stopped", "err", err)
		return 1
	}
	return 0
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig("migrate", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd migrate:", err)
		return 2
	}
	if cfg.DatabaseURL == "" {
		fmt.Fprintln(stderr, "attestd migrate: --database-url (or ATTESTD_DATABASE_URL) is required")
		return 2
	}
	if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
		fmt.Fprintln(stderr, "attestd migrate:", err)
		return 1
	}
	fmt.Fprintln(stdout, "migrations applied")
	return 0
}

// serve runs attestd until ctx ends (SIGTERM or SIGINT), then drains in-flight requests.
func serve(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) error {
	if cfg.DatabaseURL == "" {
		return errors.New("--database-url (or ATTESTD_DATABASE_URL) is required: the embedded SQLite default is not built yet")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	st, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if err := bootstrap(ctx, st, cfg.DataDir, getenv("ATTESTD_BOOTSTRAP_TOKEN"), logger); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := server.New(server.Config{Store: st, Limits: cfg.Limits, Logger: logger, Registry: reg})
	gs, hs := srv.NewGRPCServer(server.GRPCOptions{TLS: tlsConfig})
	var ready server.Readiness

	grpcLis, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return fmt.Errorf("listen gRPC: %w", err)
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("listen HTTP: %w", err)
	}
	hsrv := &http.Server{Handler: server.NewHTTPHandler(&ready, reg), ReadHeaderTimeout: 10 * time.Second}

	healthCtx, stopHealth := context.WithCancel(context.Background())
	defer stopHealth()
	go srv.WatchHealth(healthCtx, hs, &ready, cfg.HealthInterval)

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(grpcLis) }()
	go func() { errc <- hsrv.Serve(httpLis) }()
	logger.Info("attestd serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(),
		"tls", tlsConfig != nil, "version", version)

	select {
	case <-ctx.Done():
		logger.Info("shutting down: draining in-flight requests", "timeout", cfg.DrainTimeout.String())
	case err := <-errc:
		gs.Stop()
		_ = hsrv.Close()
		return fmt.Errorf("server failed: %w", err)
	}
	hs.Shutdown()
	drained := make(chan struct{})
	go func() { gs.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(cfg.DrainTimeout):
		logger.Warn("drain timeout: cutting remaining requests")
		gs.Stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hsrv.Shutdown(sctx)
	logger.Info("attestd stopped")
	return nil
}

// bootstrap creates the first server-admin token on a database that never had one: from envToken when set,
// otherwise a fresh one written to <data-dir>/admin.token (mode 0600). The file is written before the token is
// registered so that a crash in between cannot leave a registered token nobody knows.
func bootstrap(ctx context.Context, st store.Store, dataDir, envToken string, logger *slog.Logger) error {
	if envToken != "" {
		tok, _, err := server.NewToken(store.RoleServerAdmin, 0)
		if err != nil {
			return err
		}
		tok.Hash = server.HashToken(envToken)
		tok.Description = "bootstrap (ATTESTD_BOOTSTRAP_TOKEN)"
		tok.CreatedAt = time.Now().UTC()
		created, err := st.Bootstrap(ctx, tok)
		if err != nil {
			return fmt.Errorf("bootstrap admin token: %w", err)
		}
		if created {
			logger.Info("server-admin token registered from ATTESTD_BOOTSTRAP_TOKEN", "token_id", tok.ID)
		}
		return nil
	}
	tok, secret, err := server.NewToken(store.RoleServerAdmin, 0)
	if err != nil {
		return err
	}
	tok.Description = "bootstrap (admin.token)"
	tok.CreatedAt = time.Now().UTC()
	path := filepath.Join(dataDir, "admin.token")
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	created, err := st.Bootstrap(ctx, tok)
	if err != nil || !created {
		_ = os.Remove(tmp)
		if err != nil {
			return fmt.Errorf("bootstrap admin token: %w", err)
		}
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	logger.Info("server-admin token created", "token_id", tok.ID, "path", path)
	return nil
}
