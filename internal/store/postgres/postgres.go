// Package postgres is the PostgreSQL backend of store.Store, the one attestd uses in production.
//
// It speaks to PostgreSQL 15 or newer through a pgx connection pool. The schema is the goose migrations
// embedded in package migrations; Open never changes it, Migrate (run by `attestd migrate`, or by tests
// through dbtest) brings a database up to date and may run concurrently from several replicas:
//
//	if err := postgres.Migrate(ctx, url); err != nil { ... }
//	st, err := postgres.Open(ctx, url)
//	if err != nil { ... }
//	defer st.Close()
//
// Errors are the sentinels of package store wrapped with what was being done: a unique violation is
// store.ErrAlreadyExists, a missing row (or a write that names a project that does not exist) is
// store.ErrNotFound, and a lost or refused connection, a server shutting down or a serialization failure is
// store.ErrUnavailable. A cancelled or expired context is returned as the context's error, never as
// ErrUnavailable. Values from callers only ever travel as query parameters, never inside SQL text.
//
// The backend passes the conformance suite in store/storetest; its own tests need a server (see dbtest).
package postgres

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attestd/attestd/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on a PostgreSQL database. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	writer *pgxpool.Pool // the group commit's connections (see Open)
	// decider holds the connections that record Verify's decisions, and nothing else: they commit
	// asynchronously (see Open and AddDecision).
	decider *pgxpool.Pool
	// lookups holds the connections that read rows by their keys (see Open): there every statement keeps a
	// generic plan, and no plan may scan a whole table.
	lookups *pgxpool.Pool
	group   group // InsertAttestation's group commit
}

// Option adjusts the pool configuration before Open connects. Settings given in the URL (pool_max_conns,
// connect_timeout, ...) are applied first, so an Option overrides them.
type Option func(*pgxpool.Config)

// WithMaxConns sets the largest number of connections the pool opens.
func WithMaxConns(n int32) Option {
	return func(c *pgxpool.Config) { c.MaxConns = n }
}

const defaultConnectTimeout = 10 * time.Second

// Open connects to the database at databaseURL (a postgres:// URL) and checks that it answers. It does not migrate.
// Unless the URL says otherwise, the pool holds up to max(8, 2*GOMAXPROCS) connections (each request holds
// one only for the few statements it runs), the lookups as many more, the group commit up to maxCommitters
// more, Verify's decision rows up to maxDeciders more, and a connection attempt gives up after 10 seconds.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !hasParam(databaseURL, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 2*runtime.GOMAXPROCS(0)))
	}
	if !hasParam(databaseURL, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// Plan every execution with its values. pgx prepares each statement once per connection, and PostgreSQL
	// then switches to a generic plan when it looks no worse: chosen while a table is nearly empty (a fresh
	// install, a new project), a sequential scan stays the plan of that connection until the table's
	// statistics change, and a duplicate check by primary key took 2.7 ms at 20,000 rows instead of 0.02 ms.
	// Planning these statements again costs tens of microseconds.
	_, planSet := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]
	if !planSet {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	for _, opt := range opts {
		opt(cfg)
	}
	// The group commit has connections of its own, one per committer, where its one statement keeps a
	// generic plan: its plan does not depend on its values (arrays unnested, rows inserted, index rows joined
	// to them), and planning it anew for every group was a fifth of PostgreSQL's time per submission. Its own
	// connections also mean that reads crowding the pool never hold a commit back.
	wcfg := cfg.Copy()
	wcfg.MinConns = 0
	wcfg.MaxConns = min(maxCommitters, cfg.MaxConns)
	if !planSet {
		wcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	// Verify's decision rows have connections of their own too, on which every transaction commits
	// asynchronously (synchronous_commit off) and the one statement keeps a generic plan: an INSERT of its
	// values, whose plan cannot depend on them. Planned anew for every call on the main pool, it was 30% of
	// PostgreSQL's CPU per kept decision. Nothing else may run on these connections: a write here is not
	// durable when AddDecision returns.
	dcfg := cfg.Copy()
	dcfg.MinConns = 0
	dcfg.MaxConns = min(maxDeciders, cfg.MaxConns)
	dcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	if !planSet {
		dcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	// Reads of rows by their keys (an attestation by its id, the subjects, materials and anchors of given
	// attestations, a digest's attestations through its index) have connections of their own too, where
	// their plans are generic: planning them anew for every call was three fifths of PostgreSQL's CPU per
	// Get or List. With sequential scans disabled there, a plan made while a table is empty, which would
	// otherwise scan it (the trap above), walks its index instead and stays right as the table grows. Only
	// statements that an index serves whatever their values may run on these connections.
	lcfg := cfg.Copy()
	lcfg.MinConns = 0
	if !planSet {
		lcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	if _, ok := lcfg.ConnConfig.RuntimeParams["enable_seqscan"]; !ok {
		lcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	}
	s := &Store{}
	for _, p := range []struct {
		to  **pgxpool.Pool
		cfg *pgxpool.Config
	}{{&s.pool, cfg}, {&s.writer, wcfg}, {&s.decider, dcfg}, {&s.lookups, lcfg}} {
		if *p.to, err = pgxpool.NewWithConfig(ctx, p.cfg); err != nil {
			s.Close()
			return nil, fmt.Errorf("open postgres: %w", classify(ctx, err))
		}
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// hasParam reports whether a postgres:// URL sets the query parameter name. Key=value connection strings
// are not inspected: for them the defaults of Open apply and an Option overrides them.
func hasParam(rawURL, name string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	return u.Query().Has(name)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", classify(ctx, err))
	}
	return nil
}

// Close closes every connection of the pools, waiting for the ones in use. It may be called more than once.
func (s *Store) Close() {
	for _, p := range []*pgxpool.Pool{s.pool, s.writer, s.decider, s.lookups} {
		if p != nil {
			p.Close()
		}
	}
}

// nullTime turns the zero time into NULL, so that the column default (now()) applies.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// utcPtr returns t in UTC, keeping nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// emptyNil returns nil for an empty slice, so that "none" reads back the same way from every backend.
func emptyNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
