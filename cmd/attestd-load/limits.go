package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/tlog"
)

// Parameters of the limits, fixed so that runs compare.
const (
	limitsDB        = "attestd_load_limits"
	pgConnections   = 16
	logAppenders    = 64
	logEntryBytes   = 32 // attestd's entries are SHA-256 commitments (tlog.EntryFor)
	limitsLogOrigin = "attestd-load.local/limits"
)

// limits are the ceilings a run's figures are compared with, measured on this machine in the same run.
type limits struct {
	SecondsEach float64 `json:"secondsEach"`

	Ed25519VerifyPerSec float64 `json:"ed25519VerifyPerSec"`
	Ed25519Cores        int     `json:"ed25519Cores"`
	Ed25519Method       string  `json:"ed25519Method"`

	PGCommitsPerSec float64 `json:"pgCommitsPerSec"`
	PGSettings      string  `json:"pgSettings,omitempty"`
	PGError         string  `json:"pgError,omitempty"`

	LogAppendsPerSec float64 `json:"logAppendsPerSec"`
	LogDir           string  `json:"logDir,omitempty"`
	LogError         string  `json:"logError,omitempty"`
}

func (l *limits) print(w io.Writer) {
	fmt.Fprintf(w, "limits (each measured alone for %.1f s, after the load):\n", l.SecondsEach)
	fmt.Fprintf(w, "  ed25519 verifications/s   %10.0f  (%s, %d cores)\n", l.Ed25519VerifyPerSec, l.Ed25519Method, l.Ed25519Cores)
	if l.PGError != "" {
		fmt.Fprintf(w, "  postgres commits/s        failed: %s\n", l.PGError)
	} else {
		fmt.Fprintf(w, "  postgres commits/s        %10.0f  (durable single-row INSERTs, %d connections; %s)\n", l.PGCommitsPerSec, pgConnections, l.PGSettings)
	}
	if l.LogError != "" {
		fmt.Fprintf(w, "  log appends/s             failed: %s\n", l.LogError)
	} else {
		fmt.Fprintf(w, "  log appends/s             %10.0f  (internal/tlog alone, attestd's defaults, %d appenders, %d-byte entries, in %s;\n",
			l.LogAppendsPerSec, logAppenders, logEntryBytes, l.LogDir)
		if logAppenders < tlog.DefaultBatchMaxSize {
			fmt.Fprintf(w, "                                        %d appenders never fill a batch of %d, so each waits out the %v batch age: at most %.0f/s)\n",
				logAppenders, tlog.DefaultBatchMaxSize, tlog.DefaultBatchMaxAge, logAppenders/tlog.DefaultBatchMaxAge.Seconds())
		} else {
			fmt.Fprintf(w, "                                        batches of %d are sequenced as soon as they are full)\n", tlog.DefaultBatchMaxSize)
		}
	}
}

// runLimitsOnly is the limits command.
func runLimitsOnly(ctx context.Context, e *env, cfg *config) error {
	l, err := measureLimits(ctx, cfg, e.progress(cfg))
	if err != nil {
		return err
	}
	if cfg.json {
		return writeJSON(e.stdout, l)
	}
	l.print(e.stdout)
	return nil
}

// measureLimits measures the three limits one after the other. A limit that cannot be measured (no
// PostgreSQL, say) is reported as failed; only the ed25519 one, which needs nothing, fails the run.
func measureLimits(ctx context.Context, cfg *config, progress io.Writer) (*limits, error) {
	l := &limits{SecondsEach: cfg.limitsTime.Seconds()}
	say := func(what string) {
		if progress != nil {
			fmt.Fprintf(progress, "limits: %s for %v\n", what, cfg.limitsTime)
		}
	}
	say("ed25519 verifications")
	if err := l.measureEd25519(ctx, cfg.envBytes, cfg.limitsTime); err != nil {
		return nil, fmt.Errorf("ed25519 limit: %w", err)
	}
	say("PostgreSQL commits")
	if err := l.measurePG(ctx, cfg.databaseURL, cfg.limitsTime); err != nil {
		l.PGError = err.Error()
	}
	say("log appends")
	if err := l.measureLog(ctx, cfg.limitsDir, cfg.limitsTime); err != nil {
		l.LogError = err.Error()
	}
	return l, nil
}

// measureEd25519 verifies one envelope of size bytes over and over on every core, as Submit does: through
// attestation.VerifySignatures, which builds the PAE of the payload and verifies the signature over it.
func (l *limits) measureEd25519(ctx context.Context, size int, d time.Duration) error {
	signer, err := newSigner("ed25519")
	if err != nil {
		return err
	}
	m, err := newMaker(ctx, signer, size, 1)
	if err != nil {
		return err
	}
	raw, err := m.envelope(ctx, 0)
	if err != nil {
		return err
	}
	env, err := attestation.ParseEnvelope(raw, attestation.Limits{})
	if err != nil {
		return fmt.Errorf("parse the envelope: %w", err)
	}
	pub, err := attestation.ParsePublicKey(signer.PublicPEM())
	if err != nil {
		return err
	}
	keys := []*attestation.PublicKey{pub}
	if ids, err := attestation.VerifySignatures(env, keys); err != nil || len(ids) != 1 {
		return fmt.Errorf("the envelope does not verify: %v", err)
	}
	l.Ed25519Cores = runtime.GOMAXPROCS(0)
	l.Ed25519Method = fmt.Sprintf("attestation.VerifySignatures, PAE of a %d-byte envelope included", size)
	n, elapsed := spin(ctx, l.Ed25519Cores, d, func(int) error {
		_, err := attestation.VerifySignatures(env, keys)
		return err
	})
	l.Ed25519VerifyPerSec = float64(n) / elapsed.Seconds()
	return ctx.Err()
}

// spin calls f from workers goroutines until d has passed or f fails, and returns how many calls succeeded.
func spin(ctx context.Context, workers int, d time.Duration, f func(w int) error) (int64, time.Duration) {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if f(w) != nil {
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return n.Load(), time.Since(start)
}

// measurePG creates the scratch database, and from 16 connections commits single-row INSERTs, each its own
// transaction with synchronous_commit on, then drops the database.
func (l *limits) measurePG(ctx context.Context, adminURL string, d time.Duration) (err error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	// A database left by an interrupted run is dropped first; FORCE ends sessions still in it.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+limitsDB+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop %s: %w", limitsDB, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+limitsDB); err != nil {
		return fmt.Errorf("create %s: %w", limitsDB, err)
	}
	defer func() {
		if _, derr := admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+limitsDB+" WITH (FORCE)"); derr != nil && err == nil {
			err = fmt.Errorf("drop %s: %w", limitsDB, derr)
		}
	}()
	u, err := url.Parse(adminURL)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	u.Path = "/" + limitsDB
	conns := make([]*pgx.Conn, pgConnections)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, u.String()); err != nil {
			return fmt.Errorf("connect to %s: %w", limitsDB, err)
		}
		if _, err := conns[i].Exec(ctx, "SET synchronous_commit = on"); err != nil {
			return err
		}
	}
	if _, err := conns[0].Exec(ctx, `CREATE TABLE commits (id bigserial PRIMARY KEY, writer int NOT NULL, n bigint NOT NULL, v bytea NOT NULL)`); err != nil {
		return fmt.Errorf("create the scratch table: %w", err)
	}
	var fsync, walSync string
	if err := conns[0].QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('wal_sync_method')").Scan(&fsync, &walSync); err != nil {
		return err
	}
	l.PGSettings = fmt.Sprintf("fsync=%s, synchronous_commit=on, wal_sync_method=%s", fsync, walSync)
	value := make([]byte, 32)
	counts := make([]int64, pgConnections)
	var failure atomic.Pointer[error]
	n, elapsed := spin(ctx, pgConnections, d, func(w int) error {
		counts[w]++
		_, err := conns[w].Exec(ctx, "INSERT INTO commits (writer, n, v) VALUES ($1, $2, $3)", w, counts[w], value)
		if err != nil {
			failure.CompareAndSwap(nil, &err)
		}
		return err
	})
	if e := failure.Load(); e != nil {
		return fmt.Errorf("insert: %w", *e)
	}
	l.PGCommitsPerSec = float64(n) / elapsed.Seconds()
	return nil
}

// measureLog opens internal/tlog in a temporary directory under dir with attestd's defaults (the zero
// Config values) and appends distinct 32-byte entries from 64 goroutines; each Append returns once its entry
// is durably sequenced.
func (l *limits) measureLog(ctx context.Context, dir string, d time.Duration) error {
	tmp, err := os.MkdirTemp(dir, "attestd-load-log-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	l.LogDir = tmp
	signer, vkey, err := tlog.LoadOrCreateKey(tmp, limitsLogOrigin)
	if err != nil {
		return err
	}
	lg, err := tlog.Open(ctx, tlog.Config{Dir: filepath.Join(tmp, "log"), Signer: signer, VerifierKey: vkey,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer lg.Close(context.WithoutCancel(ctx))
	var prefix [logEntryBytes - 8]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return err
	}
	var seq atomic.Uint64
	var failure atomic.Pointer[error]
	n, elapsed := spin(ctx, logAppenders, d, func(int) error {
		entry := make([]byte, logEntryBytes)
		copy(entry, prefix[:])
		binary.BigEndian.PutUint64(entry[len(prefix):], seq.Add(1)) // distinct: no antispam shortcut
		_, err := lg.Append(ctx, entry)
		if err != nil {
			failure.CompareAndSwap(nil, &err)
		}
		return err
	})
	if e := failure.Load(); e != nil {
		return fmt.Errorf("append: %w", *e)
	}
	l.LogAppendsPerSec = float64(n) / elapsed.Seconds()
	return nil
}
