package dbtest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store/dbtest"
)

func query[T any](t *testing.T, dbURL, sql string, args ...any) T {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v T
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func databaseName(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestNewIsMigratedEmptyAndDropped(t *testing.T) {
	var first, second string
	t.Run("use", func(t *testing.T) {
		first, second = dbtest.New(t), dbtest.New(t)
		if first == second {
			t.Fatalf("two tests share %s", first)
		}
		for _, u := range []string{first, second} {
			if name := databaseName(t, u); !strings.HasPrefix(name, "attestd_test_") {
				t.Errorf("database %q lacks the prefix that makes strays recognizable", name)
			}
			if n := query[int64](t, u, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`); n == 0 {
				t.Errorf("%s is not migrated", u)
			}
			if n := query[int64](t, u, `SELECT count(*) FROM projects`); n != 0 {
				t.Errorf("%s has %d projects, want none", u, n)
			}
		}
		// What one test writes, the other does not see.
		conn, err := pgx.Connect(t.Context(), first)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), `INSERT INTO projects (name) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
		if n := query[int64](t, second, `SELECT count(*) FROM projects`); n != 0 {
			t.Errorf("the second database sees the first one's rows")
		}
	})
	if t.Failed() {
		return
	}
	server := dbtest.NewEmpty(t) // any database of the server will do to look at pg_database
	for _, u := range []string{first, second} {
		name := databaseName(t, u)
		if query[bool](t, server, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name) {
			t.Errorf("database %s outlived its test", name)
		}
	}
}

func TestNewEmptyHasNoTables(t *testing.T) {
	u := dbtest.NewEmpty(t)
	if n := query[int64](t, u, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); n != 0 {
		t.Errorf("NewEmpty has %d tables", n)
	}
}
