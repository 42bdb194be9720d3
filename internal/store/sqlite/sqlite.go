// Package sqlite is the embedded SQLite backend of store.Store: what `attestd serve` uses when no database
// server is configured, so that one binary and one data directory make a complete attestd. PostgreSQL (package
// postgres) stays the production backend; both pass the same conformance suite, store/storetest.
//
// The database is one file, opened through modernc.org/sqlite (pure Go, no cgo) with database/sql. The schema
// is the goose migrations embedded in package migrations; Open never changes it (of a missing file it makes
// an empty one), Migrate brings a file up to date, creating it if need be:
//
//	if err := sqlite.Migrate(ctx, path); err != nil { ... }
//	st, err := sqlite.Open(ctx, path)
//	if err != nil { ... }
//	defer st.Close()
//
// Every connection is configured through the DSN, so that every connection of a pool gets the same settings:
// the journal is a write-ahead log (journal_mode=WAL: readers never wait for the writer), every commit is
// synced to disk before it is acknowledged (synchronous=FULL: an acknowledged write survives a crash of the
// process or of the machine; only decisions, which the contract allows to, commit without waiting for the
// disk), foreign keys are enforced (foreign_keys=ON), and a connection that finds the
// file locked by another process waits up to ten seconds (busy_timeout) before it gives up.
//
// SQLite allows one writer at a time. A Store writes through a pool of exactly one connection whose
// transactions begin with BEGIN IMMEDIATE, so its writers queue in database/sql for the connection (as long as
// their contexts allow) instead of failing with SQLITE_BUSY, and whatever a write transaction reads
// it reads under the write lock: counters (layout versions, Seq, decision ids) are consecutive and checks
// (policy limits, Bootstrap) cannot race. Reads go through a separate pool of read-only connections
// (query_only), which in WAL mode run alongside the writer and see every committed write.
//
// Errors are the sentinels of package store wrapped with what was being done: a unique violation is
// store.ErrAlreadyExists, a missing row (or a write that names a project that does not exist) is
// store.ErrNotFound, and a file that stays locked, an I/O error or a full disk is store.ErrUnavailable. A
// cancelled or expired context is returned as the context's error. Values from callers only ever travel as
// query parameters, never inside SQL text. Times are stored as integer microseconds since the Unix epoch
// (UTC), so they round-trip exactly to the microsecond; text arrays are JSON arrays.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/attestd/attestd/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on a SQLite database file. It is safe for concurrent use.
type Store struct {
	write *sql.DB // exactly one connection; its transactions are BEGIN IMMEDIATE
	read  *sql.DB // read-only connections
}

// config is what Options adjust.
type config struct {
	readConns   int
	busyTimeout time.Duration
}

// Option adjusts how Open configures the connections.
type Option func(*config)

// WithMaxReadConns sets the largest number of read connections (default max(4, GOMAXPROCS)). Writes always
// go through one connection of their own.
func WithMaxReadConns(n int) Option {
	return func(c *config) { c.readConns = max(n, 1) }
}

// WithBusyTimeout sets how long a connection waits for a lock that another process holds on the file before
// it fails with store.ErrUnavailable (default 10 seconds). The writers of one Store never wait on it: they
// queue for the write connection.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = max(d, 0) }
}

const defaultBusyTimeout = 10 * time.Second

// Open opens the SQLite database at path (a file name; created if it does not exist) and checks that it
// answers and is in WAL mode. It does not migrate: see Migrate.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{readConns: max(4, runtime.GOMAXPROCS(0)), busyTimeout: defaultBusyTimeout}
	for _, opt := range opts {
		opt(&cfg)
	}
	abs, err := prepareFile(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	write, err := openDB(abs, cfg.busyTimeout, true)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	read, err := openDB(abs, cfg.busyTimeout, false)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	read.SetMaxOpenConns(cfg.readConns)
	read.SetMaxIdleConns(cfg.readConns)
	s := &Store{write: write, read: read}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	return s, nil
}

// check connects both pools (the write connection first: it creates the file and switches it to WAL) and
// makes sure that the journal is a write-ahead log, which a file system without shared memory may refuse.
func (s *Store) check(ctx context.Context) error {
	var mode string
	if err := s.write.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return classify(ctx, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not wal", mode)
	}
	return s.Ping(ctx)
}

// prepareFile makes path absolute and refuses what the driver would read as something else than a file name.
// It creates the file, empty and readable by its owner only, if it does not exist: SQLite gives its -wal and
// -shm files the database file's permissions, and the database holds token hashes and every envelope.
func prepareFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("no database file given")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return "", fmt.Errorf("database file %q: want a plain file name, without ? or #", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return abs, nil
	case err != nil:
		return "", fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("create database file: %w", err)
	}
	return abs, nil
}

// dsn is the data source name of the file at path for the modernc driver: the file name, then the settings
// that every connection applies when it opens (busy_timeout first, then the other pragmas).
func dsn(path string, busyTimeout time.Duration, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if write {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

// openDB returns the write pool (one connection, IMMEDIATE transactions) or a read pool of the file at path.
func openDB(path string, busyTimeout time.Duration, write bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, busyTimeout, write))
	if err != nil {
		return nil, err
	}
	if write {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	}
	return db, nil
}

// Ping reports whether the database answers, on both pools.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.write, s.read} {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("ping: %w", classify(ctx, err))
		}
	}
	return nil
}

// Close closes every connection, waiting for the ones in use. It may be called more than once.
func (s *Store) Close() {
	s.read.Close()
	s.write.Close()
}

// querier is what the pools and a transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeTx runs f in a write transaction (BEGIN IMMEDIATE on the one write connection) and commits it if f
// returns nil. The error is f's, or the commit's, unclassified.
func (s *Store) writeTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// lazyWriteTx is writeTx for rows that the contract lets a crash of the machine lose (decisions): the
// transaction commits with synchronous=NORMAL, which in WAL mode writes the log without waiting for the disk
// (the next FULL commit or checkpoint syncs it with the rest). A crash of attestd loses nothing. The connection
// is set back to FULL before anything else can write through it, or discarded if that fails.
func (s *Store) lazyWriteTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes the connection
		}
		conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// readTx runs f in a read transaction: its queries see one snapshot of the database.
func (s *Store) readTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a read transaction has nothing to keep
	return f(tx)
}
