package sqlite_test

import (
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/sqlite"
	"github.com/attestd/attestd/migrations"
)

func gooseProvider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tables lists the tables of the file, but goose's and SQLite's own.
func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table'
		AND name NOT IN ('goose_db_version', 'sqlite_sequence') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestMigrationsMirrorPostgres: the two backends have the same migrations, numbered alike.
func TestMigrationsMirrorPostgres(t *testing.T) {
	t.Parallel()
	names := func(fsys fs.FS) []string {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	pg, lite := names(migrations.Postgres), names(migrations.SQLite)
	if len(lite) == 0 || !slices.Equal(pg, lite) {
		t.Errorf("migration files differ:\npostgres %v\nsqlite   %v", pg, lite)
	}
}

// TestMigrateIsIdempotent: Migrate creates the file, brings it to the newest version, and changes nothing when
// run again on a current database with data in it.
func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "attestd.db")
	for range 2 {
		if err := sqlite.Migrate(ctx, path); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	db := rawDB(t, path)
	sources := gooseProvider(t, db).ListSources()
	var version int64
	if err := db.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if want := sources[len(sources)-1].Version; version != want {
		t.Errorf("schema version %d after Migrate, want %d", version, want)
	}

	st := open(t, path)
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := st.InsertAttestation(ctx, newAttestation(p.ID, "kept", 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatalf("Migrate of a current database with data: %v", err)
	}
	if got, err := st.GetAttestation(ctx, p.ID, a.ID); err != nil || got.Seq != a.Seq {
		t.Errorf("the attestation after Migrate: %+v, %v", got, err)
	}
}

// TestMigrateDownAndUp: every migration can be undone, leaving no table behind, and applied again.
func TestMigrateDownAndUp(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	db := rawDB(t, path)
	if _, err := gooseProvider(t, db).DownTo(t.Context(), 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	if left := tables(t, db); len(left) != 0 {
		t.Errorf("tables left after migrating down: %v", left)
	}
	if err := sqlite.Migrate(t.Context(), path); err != nil {
		t.Fatalf("Migrate after down: %v", err)
	}
	open(t, path).Ping(t.Context())
}

// TestCheckSchema: a file one migration behind is refused by name and versions, then accepted once migrated.
func TestCheckSchema(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	if err := sqlite.CheckSchema(t.Context(), path); err != nil {
		t.Fatalf("current schema: %v", err)
	}
	p := gooseProvider(t, rawDB(t, path))
	_, want, err := p.GetVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), want-1); err != nil {
		t.Fatal(err)
	}
	var behind *store.SchemaBehindError
	if err := sqlite.CheckSchema(t.Context(), path); !errors.As(err, &behind) || behind.Current != want-1 || behind.Want != want {
		t.Fatalf("a schema one behind: %v", err)
	}
	if err := sqlite.Migrate(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.CheckSchema(t.Context(), path); err != nil {
		t.Fatalf("migrated: %v", err)
	}
}

// TestUpgradeKeepsLayoutsWithoutLogIndex: a database that stopped at 00005, with a layout pushed before layouts
// were logged, migrates to the newest version; the layout reads back with no log index, and new pushes need one.
func TestUpgradeKeepsLayoutsWithoutLogIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "attestd.db")
	db := rawDB(t, path)
	if _, err := gooseProvider(t, db).UpTo(ctx, 5); err != nil {
		t.Fatalf("up to 5: %v", err)
	}
	content := []byte(`{"signed":{"_type":"layout"}}`)
	created := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	_, err := db.ExecContext(ctx, `
		INSERT INTO projects (id, name) VALUES (1, 'alpha');
		INSERT INTO layout_names (project_id, name, latest) VALUES (1, 'release', 1);
		INSERT INTO layouts (project_id, name, version, id, content, expires_at, created_at)
		VALUES (1, 'release', 1, ?, ?, ?, ?)`,
		sha256Hex(content), content, created.Add(time.Hour).UnixMicro(), created.UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	st := open(t, path)
	old, err := st.GetLayout(ctx, 1, "release", 1)
	if err != nil {
		t.Fatal(err)
	}
	if old.LogIndex != nil || !old.CreatedAt.Equal(created) || string(old.Content) != string(content) {
		t.Errorf("the old layout reads back as %+v", old)
	}
	next := []byte(`{"signed":{"_type":"layout","v":2}}`)
	l, err := st.AddLayout(ctx, store.Layout{ProjectID: 1, Name: "release", ID: sha256Hex(next), Content: next,
		LogIndex: new(uint64(3))})
	if err != nil || l.Version != 2 {
		t.Fatalf("AddLayout after the upgrade = version %d, %v; want 2", l.Version, err)
	}
	scan, err := st.ScanLayoutsByLogIndex(ctx, 0, 10)
	if err != nil || len(scan) != 1 || scan[0].Version != 2 {
		t.Errorf("ScanLayoutsByLogIndex = %+v, %v; want the new layout only", scan, err)
	}
}
