package sqlite

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/pressly/goose/v3"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/migrations"
)

// Migrate applies the pending migrations of migrations.SQLite to the database file at path, creating the file
// if it does not exist (and switching it to WAL mode), and returns when the schema is current. It is
// idempotent. Every migration is one write transaction: a migration that fails leaves the file as it was before
// it. Migrations of one file from two processes at once are not supported (the embedded database belongs to
// one attestd); the one that loses a race fails, and running it again completes it.
func Migrate(ctx context.Context, path string) error {
	abs, err := prepareFile(path)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db, err := openDB(abs, defaultBusyTimeout, true)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", abs, err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", abs, classify(ctx, err))
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.SQLite)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", abs, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", abs, classify(ctx, err))
	}
	return nil
}

// CheckSchema returns a *store.SchemaBehindError if the database file at path (which must exist) has
// migrations to apply, for the commands that read a database without migrating it (audit).
func CheckSchema(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	db, err := openDB(abs, defaultBusyTimeout, false)
	if err != nil {
		return fmt.Errorf("check schema of %s: %w", abs, err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.SQLite)
	if err != nil {
		return fmt.Errorf("check schema of %s: %w", abs, err)
	}
	current, want, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("check schema of %s: %w", abs, classify(ctx, err))
	}
	if current < want {
		return &store.SchemaBehindError{Current: current, Want: want}
	}
	return nil
}
