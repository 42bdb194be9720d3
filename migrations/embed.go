// Package migrations holds attestd's database schema as goose migration files and embeds them into the binary,
// so that `attestd migrate` and the tests need no files on disk.
//
// Each backend has its own folder of plain SQL files named NNNNN_what.sql, applied in version order by
// github.com/pressly/goose/v3; every file has an Up and a Down section:
//
//	postgres/00001_init.sql   -- projects, tokens, bootstrap, keys, attestations and their indexes
//	postgres/00002_log.sql    -- the transparency log: unique log_index, watermark, orphan leaves
//	sqlite/00001_init.sql     -- the same schema for the embedded SQLite backend, and so on
//
// The two folders have the same files, numbered alike, each meaning the same change; only the SQL differs
// (SQLite keeps timestamps as integer microseconds and text arrays as JSON). A file that has been released is
// never edited: a schema change is a new file with the next number in both folders.
//
// Applying them is the job of the store packages (postgres.Migrate, sqlite.Migrate); this package only
// carries the files:
//
//	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres)
//	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.SQLite)
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgres embed.FS

//go:embed sqlite/*.sql
var sqlite embed.FS

// Postgres holds the PostgreSQL migrations at its root (00001_init.sql, ...), ready for goose.NewProvider.
var Postgres fs.FS = mustSub(postgres, "postgres")

// SQLite holds the SQLite migrations at its root (00001_init.sql, ...), ready for goose.NewProvider.
var SQLite fs.FS = mustSub(sqlite, "sqlite")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // only if dir is not a valid path: a programmer error caught by any test
	}
	return sub
}
