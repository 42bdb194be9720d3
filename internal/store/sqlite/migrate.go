package sqlite

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"

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
