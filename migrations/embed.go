// Package migrations holds attestd's database schema as goose migration files and embeds them into the binary,
// so that `attestd migrate` and the tests need no files on disk.
//
// Each backend has its own folder of plain SQL files named NNNNN_what.sql, applied in version order by
// github.com/pressly/goose/v3; every file has an Up and a Down section:
//
//	postgres/00001_init.sql   -- projects, tokens, bootstrap, keys, attestations and their indexes
//	postgres/00002_log.sql    -- the transparency log: unique log_index, watermark, orphan leaves
//
// A file that has been released is never edited: a schema change is a new file with the next number. The
// embedded SQLite schema will live beside it in sqlite/ as the variable SQLite.
//
// Applying them is the job of the store packages (postgres.Migrate); this package only carries the files:
//
//	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres)
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgres embed.FS

// Postgres holds the PostgreSQL migrations at its root (00001_init.sql, ...), ready for goose.NewProvider.
var Postgres fs.FS = mustSub(postgres, "postgres")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // only if dir is not a valid path: a programmer error caught by any test
	}
	return sub
}
