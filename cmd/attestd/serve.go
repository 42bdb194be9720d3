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
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/store/sqlite"
	"github.com/attestd/attestd/internal/tlog"
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
	if err := checkBootstrapToken(getenv("ATTESTD_BOOTSTRAP_TOKEN")); err != nil {
		fmt.Fprintln(stderr, "attestd serve:", err)
		return 2
	}
	if pct, set := gcPercent(getenv); set {
		debug.SetGCPercent(pct)
		logger.Info("garbage collection target", "gc_percent", pct, "from", "attestd's default (GOGC unset)")
	}
	if err := serve(ctx, cfg, getenv, logger); err != nil {
		logger.Error("attestd stopped", "err", err)
		return 1
	}
	return 0
}

// defaultGCPercent is the garbage collector's target of attestd serve when GOGC is not set: the heap may grow
// to three times what is live between collections, instead of Go's twice. attestd's live heap is small (tens
// of MiB) and a submission allocates about 65 KiB (the envelope copied by gRPC, the parser and the database
// driver), so with Go's default the collector ran many times a second and took a tenth of attestd's CPU under
// load. With 200: attestd -8% CPU per submission at the peak and RSS 52 -> 62 MiB (docs/performance.md).
const defaultGCPercent = 200

// gcPercent returns the GC target runServe sets, and false when GOGC is set: the operator's value stands.
func gcPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return defaultGCPercent, true
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
	db, err := cfg.database()
	if err == nil {
		err = migrateDatabase(ctx, db)
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "migrations applied (%s database %s)\n", db.Backend, db.Where())
	return 0
}

// migrateDatabase brings the schema of db up to date. An SQLite file is created if missing, in a directory
// created with mode 0700 if missing (the database holds token hashes and every envelope).
func migrateDatabase(ctx context.Context, db database) error {
	if db.Backend == backendSQLite {
		if err := os.MkdirAll(filepath.Dir(db.Path), 0o700); err != nil {
			return fmt.Errorf("database directory: %w", err)
		}
		return sqlite.Migrate(ctx, db.Path)
	}
	return postgres.Migrate(ctx, db.URL)
}

// openStore opens the store of db; serve, migrate and audit share it. It does not migrate: an SQLite file must
// exist already (serve and migrate create it), so that a wrong path is an error rather than an empty
// database, and a schema older than this attestd's is refused (store.SchemaBehindError) rather than read.
func openStore(ctx context.Context, db database) (store.Store, error) {
	if db.Backend == backendSQLite {
		if _, err := os.Stat(db.Path); err != nil {
			return nil, fmt.Errorf("sqlite database: %w (attestd serve or attestd migrate creates it)", err)
		}
		if err := sqlite.CheckSchema(ctx, db.Path); err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, db.Path)
	}
	if err := postgres.CheckSchema(ctx, db.URL); err != nil {
		return nil, err
	}
	return postgres.Open(ctx, db.URL)
}

// serve runs attestd until ctx ends (SIGTERM or SIGINT), then drains in-flight requests.
func serve(ctx context.Context, cfg *Config, getenv func(string) string, logger *slog.Logger) error {
	db, err := cfg.database()
	if err != nil {
		return err
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
	logger.Info("database", "backend", db.Backend, "where", db.Where())
	if err := migrateDatabase(ctx, db); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	st, err := openStore(ctx, db)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	if err := bootstrap(ctx, st, cfg.DataDir, getenv("ATTESTD_BOOTSTRAP_TOKEN"), logger); err != nil {
		return err
	}
	lg, err := openLog(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := lg.Close(cctx); err != nil {
			logger.Error("close log", "err", err)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	vsaSigner, err := loadOrCreateVerifierKey(cfg.DataDir)
	if err != nil {
		return err
	}
	srv := server.New(server.Config{Store: st, Log: lg, Limits: cfg.Limits, Logger: logger, Registry: reg, VSASigner: vsaSigner,
		RekorURLs: cfg.rekorURLs(), AuthCacheTTL: cfg.AuthCacheTTL})
	rep, err := srv.Reconcile(ctx)
	if err != nil {
		return err
	}
	logger.Info("log reconciled", "log_size", rep.LogSize, "scanned", rep.Scanned, "new_orphans", rep.NewOrphans,
		"orphans", rep.Orphans, "mismatches", rep.Mismatches)
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
	gw, err := server.NewGateway(ctx, tlsConfig != nil)
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	defer gw.Close()
	mux := http.NewServeMux()
	mux.Handle("/log/", http.StripPrefix("/log", lg.Handler()))
	mux.Handle("/v1/", gw)
	mux.Handle("/", server.NewHTTPHandler(&ready, reg))
	hsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	if cfg.DebugListen != "" {
		debugLis, err := net.Listen("tcp", cfg.DebugListen)
		if err != nil {
			grpcLis.Close()
			httpLis.Close()
			return fmt.Errorf("listen debug: %w", err)
		}
		defer serveDebug(debugLis, logger)()
	}

	healthCtx, stopHealth := context.WithCancel(context.Background())
	defer stopHealth()
	// One check before serving, so that /healthz and gRPC health are right from the first request.
	srv.CheckHealth(healthCtx, hs, &ready, max(cfg.HealthInterval, time.Second))
	go srv.WatchHealth(healthCtx, hs, &ready, cfg.HealthInterval)
	watermarkCtx, stopWatermark := context.WithCancel(context.Background())
	watermarkDone := make(chan struct{})
	go func() { srv.KeepWatermark(watermarkCtx, cfg.WatermarkInterval); close(watermarkDone) }()
	defer func() { stopWatermark(); <-watermarkDone }()
	// Uploads to Rekor for the projects that anchor there; pending anchors wait in the database across restarts.
	anchorCtx, stopAnchoring := context.WithCancel(context.Background())
	anchorDone := make(chan struct{})
	go func() { srv.RunAnchoring(anchorCtx); close(anchorDone) }()
	defer func() { stopAnchoring(); <-anchorDone }()
	// Submit's duplicate filter: until it has read every stored attestation's key, each Submit asks the database.
	filterCtx, stopFilter := context.WithCancel(context.Background())
	filterDone := make(chan struct{})
	go func() { srv.LoadDuplicateFilter(filterCtx); close(filterDone) }()
	defer func() { stopFilter(); <-filterDone }()

	errc := make(chan error, 3)
	go func() { errc <- gs.Serve(grpcLis) }()
	go func() { errc <- gs.Serve(gw.Listener()) }()
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
	stopHealth()
	ready.Set(false) // /healthz: 503 while draining, so load balancers stop sending
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

// openLog opens the transparency log in cfg.LogDir with the note key kept in cfg.DataDir (outside the served
// log directory), creating both on first start.
func openLog(ctx context.Context, cfg *Config, logger *slog.Logger) (*tlog.Log, error) {
	signer, vkey, err := tlog.LoadOrCreateKey(cfg.DataDir, cfg.LogOrigin)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	lg, err := tlog.Open(ctx, tlog.Config{
		Dir:                cfg.LogDir,
		Signer:             signer,
		VerifierKey:        vkey,
		BatchMaxSize:       uint(cfg.LogBatchSize),
		BatchMaxAge:        cfg.LogBatchAge,
		CheckpointInterval: cfg.CheckpointInterval,
		Logger:             logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	logger.Info("log open", "dir", cfg.LogDir, "origin", cfg.LogOrigin, "verifier_key", vkey)
	return lg, nil
}

// checkBootstrapToken refuses an ATTESTD_BOOTSTRAP_TOKEN that could never be used to log in.
func checkBootstrapToken(tok string) error {
	if tok == "" {
		return nil
	}
	if len(tok) < 16 || len(tok) > 512 {
		return fmt.Errorf("ATTESTD_BOOTSTRAP_TOKEN must be 16 to 512 characters, got %d", len(tok))
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return errors.New("ATTESTD_BOOTSTRAP_TOKEN must be printable ASCII without spaces")
		}
	}
	return nil
}
