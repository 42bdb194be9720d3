package server_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/tlog"
)

// The seed of BenchmarkReadPaths is made once and kept: a template database on the PostgreSQL server,
// attestd_readbench_v<version>_<rows>_<migrations hash>, and the log that goes with it, in
// <cache>/<the same name>/ (cache: $ATTESTD_BENCH_READ_CACHE, default the user's cache directory +
// attestd-readbench). Both are built under temporary names and renamed when complete; the database's COMMENT
// and the log directory's seed.json hold the same description (readSeed, with the log's root hash), and a seed
// is used only when the two agree. Each run clones the database (CREATE DATABASE ... TEMPLATE, FILE_COPY) and
// copies the log directory, so that a run never changes the seed. New migrations or a new generator version
// name a new seed; the seeds of other versions are dropped when one is built. ATTESTD_BENCH_READ_RESEED=1
// builds the seed again.

// readSeed describes a complete seed.
type readSeed struct {
	Version int     `json:"version"`
	Rows    int     `json:"rows"`  // attestations of the bench project
	Total   int     `json:"total"` // of both projects
	Runs    int     `json:"runs"`  // complete pipeline runs (chains) of the bench project
	LogSize uint64  `json:"log_size"`
	Root    string  `json:"root"` // the log's root hash at LogSize, hex
	Seconds float64 `json:"seed_seconds"`
}

// readBenchLockID is the advisory lock held while a seed is checked, built or cloned.
const readBenchLockID = 0x72656164626e6368 // "readbnch"

const readLogOrigin = "attestd.test/log"

// openReadSeed returns a database cloned from the seed of rows attestations (built first if needed) and a
// copy of its log directory, both removed when b ends.
func openReadSeed(b *testing.B, rows int) (string, string, readSeed) {
	b.Helper()
	ctx := context.Background()
	base := dbtest.New(b) // skips, or fails with ATTESTD_REQUIRE_DB=1, when there is no server
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	hash, err := readMigrationsHash()
	if err != nil {
		b.Fatal(err)
	}
	prefix := fmt.Sprintf("attestd_readbench_v%d_", readSeedVersion)
	name := fmt.Sprintf("%s%d_%s", prefix, rows, hash)
	cacheRoot := os.Getenv("ATTESTD_BENCH_READ_CACHE")
	if cacheRoot == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			b.Fatalf("no cache directory for the seed (set ATTESTD_BENCH_READ_CACHE): %v", err)
		}
		cacheRoot = filepath.Join(dir, "attestd-readbench")
	}
	cache := filepath.Join(cacheRoot, name)

	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(readBenchLockID)); err != nil {
		b.Fatal(err)
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(readBenchLockID))

	seed, ok, err := existingReadSeed(ctx, admin, name, cache)
	if err != nil {
		b.Fatal(err)
	}
	if !ok || os.Getenv("ATTESTD_BENCH_READ_RESEED") == "1" {
		dropStaleReadSeeds(ctx, b, admin, prefix, hash, cacheRoot)
		start := time.Now()
		seed = buildReadSeed(ctx, b, admin, base, name, cache, rows)
		b.Logf("built seed %s in %v", name, time.Since(start).Round(time.Second))
	} else {
		b.Logf("reusing seed %s (built in %.0f s)", name, seed.Seconds)
	}

	clone := "attestd_test_readbench_" + readRandomSuffix()
	start := time.Now()
	if err := readRetryInUse(ctx, func() error {
		_, err := admin.Exec(ctx, `CREATE DATABASE `+readIdent(clone)+` TEMPLATE `+readIdent(name)+` STRATEGY FILE_COPY`)
		return err
	}); err != nil {
		b.Fatalf("clone the seed: %v", err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err == nil {
			_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+readIdent(clone)+` WITH (FORCE)`)
			conn.Close(ctx)
		}
		if err != nil {
			b.Errorf("drop %s: %v", clone, err)
		}
	})
	logDir := filepath.Join(b.TempDir(), "log")
	if err := readCopyDir(logDir, cache); err != nil {
		b.Fatalf("copy the seed's log: %v", err)
	}
	b.Logf("cloned the seed in %v", time.Since(start).Round(time.Millisecond))
	return readWithDatabase(base, clone), logDir, seed
}

// existingReadSeed returns the seed called name if its database and its log directory are complete and agree.
func existingReadSeed(ctx context.Context, admin *pgx.Conn, name, cache string) (readSeed, bool, error) {
	var comment *string
	err := admin.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`,
		name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && comment == nil) {
		return readSeed{}, false, nil
	}
	if err != nil {
		return readSeed{}, false, fmt.Errorf("look for seed %s: %w", name, err)
	}
	file, err := os.ReadFile(filepath.Join(cache, "seed.json"))
	if err != nil {
		return readSeed{}, false, nil // no log: the database alone is of no use
	}
	var inDB, inDir readSeed
	if json.Unmarshal([]byte(*comment), &inDB) != nil || json.Unmarshal(file, &inDir) != nil || inDB != inDir {
		return readSeed{}, false, nil
	}
	return inDB, true, nil
}

// dropStaleReadSeeds drops the seeds of other generator versions or other migrations, and every half-built
// one: a seed takes gigabytes. Seeds of other row counts of this version stay.
func dropStaleReadSeeds(ctx context.Context, b *testing.B, admin *pgx.Conn, prefix, hash, cacheRoot string) {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'attestd\_readbench\_%'`)
	if err != nil {
		b.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, "_"+hash) {
			continue
		}
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+readIdent(n)+` WITH (FORCE)`); err != nil {
			b.Fatalf("drop stale seed %s: %v", n, err)
		}
		logDir := filepath.Join(cacheRoot, n)
		if base, ok := strings.CutSuffix(n, "_building"); ok {
			logDir = filepath.Join(cacheRoot, base+".building") // the log of a build that did not finish
		}
		if err := os.RemoveAll(logDir); err != nil {
			b.Fatal(err)
		}
		b.Logf("dropped stale seed %s", n)
	}
}

// buildReadSeed makes the seed called name: a migrated database holding the two projects, their keys and
// rows, and the log of every row, then renames both into place.
func buildReadSeed(ctx context.Context, b *testing.B, admin *pgx.Conn, base, name, cache string, rows int) readSeed {
	start := time.Now()
	building := name + "_building"
	for _, sql := range []string{`DROP DATABASE IF EXISTS ` + readIdent(building) + ` WITH (FORCE)`,
		`CREATE DATABASE ` + readIdent(building) + ` TEMPLATE template0`} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	dbURL := readWithDatabase(base, building)
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		b.Fatal(err)
	}
	logDir := cache + ".building"
	if err := os.RemoveAll(logDir); err != nil {
		b.Fatal(err)
	}
	seed := seedReadDatabase(ctx, b, dbURL, logDir, rows)
	seed.Seconds = time.Since(start).Seconds()
	desc, err := json.Marshal(seed)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "seed.json"), desc, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.RemoveAll(cache); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(logDir, cache); err != nil {
		b.Fatal(err)
	}
	// The database last: it is what makes the seed exist.
	if _, err := admin.Exec(ctx, `COMMENT ON DATABASE `+readIdent(building)+` IS `+readQuote(string(desc))); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+readIdent(name)+` WITH (FORCE)`); err != nil {
		b.Fatal(err)
	}
	if err := readRetryInUse(ctx, func() error {
		_, err := admin.Exec(ctx, `ALTER DATABASE `+readIdent(building)+` RENAME TO `+readIdent(name))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return seed
}

// seedReadDatabase fills the migrated database at dbURL and the log in logDir (created) with the rows of
// readStream. The projects and keys go through the store; the rows are copied in bulk with the lookup indexes
// dropped and then built again from their own definitions (so that whatever the migrations define is there)
// and the foreign-key triggers off for the session (the generator makes the rows consistent), then the tables
// are vacuumed and analyzed, as autovacuum would leave them.
func seedReadDatabase(ctx context.Context, b *testing.B, dbURL, logDir string, rows int) readSeed {
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var projects [2]readSeedProject
	for i, name := range []string{"bench", "other"} {
		p, err := st.CreateProject(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		projects[i] = readSeedProject{id: p.ID, name: name}
		for range readSigners {
			s := newSigner(b)
			if err := st.AddKey(ctx, store.Key{ProjectID: p.ID, KeyID: s.id, KeyType: "ed25519", Scheme: "ed25519",
				PublicPEM: s.pem, CreatedAt: time.Now().Add(-readSpan - time.Hour)}); err != nil {
				b.Fatal(err)
			}
			projects[i].signers = append(projects[i].signers, s)
		}
		for k := range readSubmitters {
			projects[i].submitters = append(projects[i].submitters, sha(fmt.Sprint(name, " ci token ", k))[:16])
		}
	}

	signer, vkey, err := tlog.LoadOrCreateKey(logDir, readLogOrigin)
	if err != nil {
		b.Fatal(err)
	}
	// Large batches: the seed's leaves arrive thousands at a time.
	lg, err := tlog.Open(ctx, tlog.Config{Dir: filepath.Join(logDir, "log"), Signer: signer, VerifierKey: vkey,
		BatchMaxSize: 4096, BatchMaxAge: 20 * time.Millisecond, CheckpointInterval: time.Second, MaxOutstanding: 1 << 16,
		Logger: readDiscardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer lg.Close(context.Background())

	var conns [2]*pgx.Conn
	for i := range conns {
		if conns[i], err = pgx.Connect(ctx, dbURL); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close(context.Background())
		for _, sql := range []string{`SET session_replication_role = replica`, `SET maintenance_work_mem = '1GB'`,
			`SET synchronous_commit = off`} {
			if _, err := conns[i].Exec(ctx, sql); err != nil {
				b.Fatalf("%s (the seed needs a superuser): %v", sql, err)
			}
		}
	}
	conn := conns[0]
	indexes := readDropIndexes(ctx, b, conn)

	seed := readSeed{Version: readSeedVersion, Rows: rows}
	t0 := time.Now()
	seed.Total, seed.Runs, err = runReadPipeline(ctx, conns, lg, projects, rows)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("copied %d rows in %v", seed.Total, time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	for _, def := range indexes {
		if _, err := conn.Exec(ctx, def); err != nil {
			b.Fatalf("%s: %v", def, err)
		}
	}
	b.Logf("built %d indexes in %v", len(indexes), time.Since(t0).Round(time.Millisecond))

	_, cp, err := lg.AwaitIntegration(ctx, uint64(seed.Total-1))
	if err != nil {
		b.Fatal(err)
	}
	seed.LogSize, seed.Root = cp.Size, hex.EncodeToString(cp.Hash)
	t0 = time.Now()
	for _, sql := range []string{
		`SELECT setval(pg_get_serial_sequence('attestations', 'seq'), (SELECT max(seq) FROM attestations))`,
		// Every leaf has its row: the server's reconciliation need not read them again.
		fmt.Sprintf(`UPDATE log_state SET watermark = %d`, seed.LogSize),
		`VACUUM (ANALYZE)`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	b.Logf("vacuumed and analyzed in %v", time.Since(t0).Round(time.Millisecond))
	if err := lg.Close(ctx); err != nil {
		b.Fatal(err)
	}
	return seed
}
