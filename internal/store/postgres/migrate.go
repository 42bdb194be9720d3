package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/migrations"
)

// migrateLockID is the PostgreSQL advisory lock that serializes Migrate across processes (goose's own
// default id, so that the goose CLI run by hand waits for attestd and the other way round).
const migrateLockID = lock.DefaultLockID

// Migrate applies the pending migrations of migrations.Postgres to the database at databaseURL and returns
// when the schema is current. It is idempotent, and concurrent callers (replicas starting together) take
// turns on an advisory lock, waiting for it up to five minutes. A database that cannot be reached is
// store.ErrUnavailable.
func Migrate(ctx context.Context, databaseURL string) error {
	cfg, err := pgxConnConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("migrate: %w", classify(ctx, err))
	}
	p, err := newProvider(db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", classify(ctx, err))
	}
	return nil
}

// CheckSchema returns a *store.SchemaBehindError if the database at databaseURL has migrations to apply, for
// the commands that read a database without migrating it (backup, audit). A database that cannot be reached is
// store.ErrUnavailable.
func CheckSchema(ctx context.Context, databaseURL string) error {
	cfg, err := pgxConnConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("check schema: %w", classify(ctx, err))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	return schemaCurrent(ctx, p)
}

// schemaCurrent compares the database's schema version with the newest migration of p.
func schemaCurrent(ctx context.Context, p *goose.Provider) error {
	current, want, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if current < want {
		return &store.SchemaBehindError{Current: current, Want: want}
	}
	return nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrateLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres, goose.WithSessionLocker(locker))
}

// pgxConnConfig parses databaseURL for a single connection, with Open's connect timeout unless it sets one.
func pgxConnConfig(databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if !hasParam(databaseURL, "connect_timeout") {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}
