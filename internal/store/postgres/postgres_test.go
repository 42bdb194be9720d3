package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/store/storetest"
	"github.com/attestd/attestd/migrations"
)

func TestConformance(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) (store.Store, storetest.Tamperer) {
		url := dbtest.New(t)
		st, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return st, newTamperer(t, url) // RunTamper closes the store
	})
}

func open(t testing.TB, url string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// withProject opens a store on url and a plain connection to it, and creates the project alpha.
func withProject(t *testing.T, url string) (*postgres.Store, *pgx.Conn, store.Project) {
	t.Helper()
	st := open(t, url)
	p, err := st.CreateProject(t.Context(), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	return st, connect(t, url), p
}

// connect opens a plain connection to url, for looking behind the store's back.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestMigrateIsIdempotent(t *testing.T) {
	url := dbtest.NewEmpty(t)
	for range 2 {
		if err := postgres.Migrate(t.Context(), url); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	sources := gooseProvider(t, url).ListSources()
	var version int64
	err := connect(t, url).QueryRow(t.Context(),
		`SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version)
	if err != nil {
		t.Fatal(err)
	}
	if want := sources[len(sources)-1].Version; version != want {
		t.Errorf("schema version %d after Migrate, want %d", version, want)
	}
	// A database from dbtest is migrated already.
	if err := postgres.Migrate(t.Context(), dbtest.New(t)); err != nil {
		t.Fatalf("Migrate of a migrated database: %v", err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	url := dbtest.NewEmpty(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	open(t, url).Ping(t.Context())
}

// TestMigrateDownAndUp: every migration can be undone, leaving no table behind, and applied again.
func TestMigrateDownAndUp(t *testing.T) {
	url := dbtest.New(t)
	p := gooseProvider(t, url)
	if _, err := p.DownTo(t.Context(), 0); err != nil {
		t.Fatalf("down to 0: %v", err)
	}
	var tables []string
	rows, err := connect(t, url).Query(t.Context(),
		`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`)
	if err == nil {
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 0 {
		t.Errorf("tables left after migrating down: %v", tables)
	}
	if err := postgres.Migrate(t.Context(), url); err != nil {
		t.Fatalf("Migrate after down: %v", err)
	}
	open(t, url).Ping(t.Context())
}

// TestCheckSchema: a database one migration behind is refused by name and versions, then accepted once
// migrated.
func TestCheckSchema(t *testing.T) {
	url := dbtest.New(t)
	if err := postgres.CheckSchema(t.Context(), url); err != nil {
		t.Fatalf("current schema: %v", err)
	}
	p := gooseProvider(t, url)
	_, want, err := p.GetVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), want-1); err != nil {
		t.Fatal(err)
	}
	var behind *store.SchemaBehindError
	err = postgres.CheckSchema(t.Context(), url)
	if !errors.As(err, &behind) || behind.Current != want-1 || behind.Want != want || !strings.Contains(err.Error(), "attestd migrate") {
		t.Fatalf("a schema one behind: %v", err)
	}
	if err := postgres.Migrate(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	if err := postgres.CheckSchema(t.Context(), url); err != nil {
		t.Fatalf("migrated: %v", err)
	}
	if err := postgres.CheckSchema(t.Context(), "postgres://postgres@"+closedPort(t)+"/x?sslmode=disable&connect_timeout=2"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("unreachable: %v", err)
	}
}

func gooseProvider(t *testing.T, url string) *goose.Provider {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableIsUnavailable(t *testing.T) {
	url := "postgres://postgres@" + closedPort(t) + "/attestd?sslmode=disable&connect_timeout=5"
	if _, err := postgres.Open(t.Context(), url); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open of a closed port: err = %v, want ErrUnavailable", err)
	}
	if err := postgres.Migrate(t.Context(), url); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Migrate of a closed port: err = %v, want ErrUnavailable", err)
	}
}

func TestBadURLIsNotUnavailable(t *testing.T) {
	for _, url := range []string{"postgres://host:notaport/db", "mysql://x", "host=x port=y"} {
		_, err := postgres.Open(t.Context(), url)
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(%q): err = %v, want a configuration error", url, err)
		}
	}
}

// TestTerminatedConnectionIsUnavailable: a server that ends the connection (an administrator, a restart)
// is a transient failure, and the pool recovers on the next call.
func TestTerminatedConnectionIsUnavailable(t *testing.T) {
	url := dbtest.New(t)
	st := open(t, url, postgres.WithMaxConns(1), func(c *pgxpool.Config) {
		c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	})
	if _, err := st.ListProjects(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Find the pid first: in one statement the planner may call pg_terminate_backend before filtering.
	admin := connect(t, url)
	var pid int32
	err := admin.QueryRow(t.Context(), `
		SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
	).Scan(&pid)
	if err != nil {
		t.Fatalf("find the store's connection: %v", err)
	}
	var terminated bool
	err = admin.QueryRow(t.Context(), `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&terminated)
	if err != nil || !terminated {
		t.Fatalf("terminate the store's connection: %v, %v", terminated, err)
	}
	if _, err := st.ListProjects(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ListProjects on a terminated connection: err = %v, want ErrUnavailable", err)
	}
	if _, err := st.ListProjects(t.Context()); err != nil {
		t.Errorf("ListProjects after the pool reconnected: %v", err)
	}
}

func TestCanceledContextIsNotUnavailable(t *testing.T) {
	st := open(t, dbtest.New(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := st.ListProjects(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ListProjects with a canceled context: err = %v, want context.Canceled only", err)
	}
}

// TestListQueryIsParameterized: filter values travel as parameters, never in the SQL text.
func TestListQueryIsParameterized(t *testing.T) {
	evil := `x'); DROP TABLE attestations; --`
	sql, args := postgres.ListQuery(7, store.Filter{
		SubjectAlgorithm: evil + "1", SubjectDigest: evil + "2", MaterialAlgorithm: evil + "3",
		MaterialDigest: evil + "4", Step: evil + "5", PredicateType: evil + "6", SignerKeyID: evil + "7",
	})
	if strings.Contains(sql, "DROP") || strings.Contains(sql, "'") {
		t.Errorf("a value reached the SQL text:\n%s", sql)
	}
	if len(args) != 9 { // project, seven values, limit
		t.Errorf("%d parameters, want 9: %v", len(args), args)
	}
}

// TestListUsesIndexes: on a project with enough rows for the planner to care, each selective filter is
// served by the index meant for it rather than by reading the project's rows one by one.
func TestListUsesIndexes(t *testing.T) {
	ctx := t.Context()
	url := dbtest.New(t)
	st := open(t, url)
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if _, err := st.CreateProject(ctx, fmt.Sprint("other-", i)); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, url)
	// 20,000 attestations over ten projects: 50 steps, 20 predicate types, 200 signers, one subject and one
	// material each with its own digest, one second apart, each with its log index.
	_, err = conn.Exec(ctx, `
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at, log_index)
		SELECT 1 + i % 10, encode(sha256(convert_to(i::text, 'UTF8')), 'hex'), convert_to(i::text, 'UTF8'), 'x', 'y',
			'p' || i / 10 % 20, 'step-' || i / 10 % 50, ARRAY[encode(sha256(convert_to('k' || i / 10 % 200, 'UTF8')), 'hex')],
			't', timestamptz '2026-01-01' + i * interval '1 second', i - 1
		FROM generate_series(1, 20000) AS i;
		INSERT INTO attestation_subjects (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'out', 'sha256', encode(sha256(envelope || '\x01'::bytea), 'hex') FROM attestations;
		INSERT INTO attestation_materials (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'in', 'sha256', encode(sha256(envelope || '\x02'::bytea), 'hex') FROM attestations;
		INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
		SELECT project_id, seq, signer_key_ids[1] FROM attestations;
		ANALYZE`)
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	subject := hexOf("1230\x01")
	material := hexOf("1230\x02")
	since := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		f     store.Filter
		index string
	}{
		{store.Filter{}, "Index Scan Backward using attestations_"}, // project_seq_key, or seq_key if dense
		{store.Filter{SubjectDigest: subject}, "attestation_subjects_lookup"},
		{store.Filter{SubjectAlgorithm: "sha256", SubjectDigest: subject}, "attestation_subjects_lookup"},
		{store.Filter{MaterialDigest: material}, "attestation_materials_lookup"},
		{store.Filter{Step: "step-7"}, "attestations_project_step"},
		{store.Filter{PredicateType: "p3"}, "attestations_project_predicate"},
		{store.Filter{SignerKeyID: hexOf("k17")}, "attestation_signers_lookup"},
		{store.Filter{Since: since, Until: since.Add(time.Minute)}, "attestations_project_created"},
	} {
		sql, args := postgres.ListQuery(p.ID, tc.f)
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %+v: %v", tc.f, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, tc.index) || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%+v is not served by %s:\n%s", tc.f, tc.index, plan)
		}
	}
}

// TestRelatedUsesIndexes: Verify's walk asks for hundreds of digests at once (every artifact of a chain of
// 100-artifact steps); each must be an index probe. Joined plainly, the planner hashed the project's whole
// artifact table instead, a cost that grows with every attestation stored.
func TestRelatedUsesIndexes(t *testing.T) {
	ctx := t.Context()
	url := dbtest.New(t)
	st := open(t, url)
	if _, err := st.CreateProject(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	// 20,000 attestations with one subject and one material each.
	_, err := conn.Exec(ctx, `
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at, log_index)
		SELECT 1, encode(sha256(convert_to(i::text, 'UTF8')), 'hex'), convert_to(i::text, 'UTF8'), 'x', 'y',
			'p', 'build', '{}', 't', timestamptz '2026-01-01' + i * interval '1 second', i - 1
		FROM generate_series(1, 20000) AS i;
		INSERT INTO attestation_subjects (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'out', 'sha256', encode(sha256(envelope || '\x01'::bytea), 'hex') FROM attestations;
		INSERT INTO attestation_materials (project_id, attestation_seq, ord, name, algorithm, digest)
		SELECT project_id, seq, 1, 'in', 'sha256', encode(sha256(envelope || '\x02'::bytea), 'hex') FROM attestations;
		ANALYZE`)
	if err != nil {
		t.Fatal(err)
	}
	digests := func(n int, suffix string) (algs, vals []string) {
		for i := range n {
			sum := sha256.Sum256([]byte(fmt.Sprint(i*7, suffix)))
			algs, vals = append(algs, "sha256"), append(vals, hex.EncodeToString(sum[:]))
		}
		return algs, vals
	}
	for _, n := range []int{1, 100, 301, 1000} {
		sa, sd := digests(n, "\x01")
		ma, md := digests(n, "\x02")
		for _, args := range [][]any{
			{int64(1), sa, sd, []string{}, []string{}, 10001},
			{int64(1), []string{}, []string{}, ma, md, 10001},
			{int64(1), sa, sd, ma, md, 10001},
		} {
			rows, err := conn.Query(ctx, "EXPLAIN "+postgres.RelatedQuery, args...)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if strings.Contains(plan, "Seq Scan") {
				t.Errorf("%d digests: a sequential scan:\n%s", n, plan)
			}
		}
	}
}

// TestSchemaChecks: the database refuses values that no correct caller sends.
func TestSchemaChecks(t *testing.T) {
	ctx := t.Context()
	st := open(t, dbtest.New(t))
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	env := []byte(`{"payloadType":"application/vnd.in-toto+json"}`)
	sum := sha256.Sum256(env)
	good := store.Attestation{ProjectID: p.ID, ID: hex.EncodeToString(sum[:]), Envelope: env,
		PayloadType: "application/vnd.in-toto+json", StatementType: "https://in-toto.io/Statement/v1",
		LogIndex: new(uint64(0))}
	hash := sha256.Sum256([]byte("secret"))
	keyID := strings.Repeat("0f", 32)

	for name, err := range map[string]error{
		"attestation id that is not the sha256 of the envelope": func() error {
			a := good
			a.ID = strings.Repeat("0", 64)
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"attestation id in upper case": func() error {
			a := good
			a.ID = strings.ToUpper(a.ID)
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"signer key id that is not hex": func() error {
			a := good
			a.SignerKeyIDs = []string{"not-a-key-id"}
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"log index beyond bigint": func() error {
			a := good
			a.LogIndex = new(uint64(math.MaxInt64) + 1)
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"watermark beyond bigint": st.SetLogWatermark(ctx, math.MaxUint64),
		"orphan leaf beyond bigint": st.AddOrphanLeaves(ctx,
			[]store.OrphanLeaf{{LogIndex: 1}, {LogIndex: math.MaxInt64 + 1, Entry: []byte("x")}}),
		"unknown role": st.CreateToken(ctx, store.Token{ID: "t1", Hash: hash[:], ProjectID: p.ID, Role: "root"}),
		"server-admin token in a project": st.CreateToken(ctx,
			store.Token{ID: "t2", Hash: hash[:], ProjectID: p.ID, Role: store.RoleServerAdmin}),
		"project token without project": st.CreateToken(ctx,
			store.Token{ID: "t3", Hash: hash[:], Role: store.RoleReader}),
		"token hash of the wrong length": st.CreateToken(ctx,
			store.Token{ID: "t4", Hash: hash[:16], ProjectID: p.ID, Role: store.RoleReader}),
		"key id in upper case": st.AddKey(ctx, store.Key{ProjectID: p.ID, KeyID: strings.ToUpper(keyID),
			KeyType: "ed25519", Scheme: "ed25519", PublicPEM: "pem"}),
		"empty project name": func() error { _, err := st.CreateProject(ctx, ""); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("%s: err = %v, want a plain error", name, err)
		}
	}
	if _, created, err := st.InsertAttestation(ctx, good); err != nil || !created {
		t.Errorf("the valid attestation: created %v, err %v", created, err)
	}
}

// TestMissingProjectIsNotFound: writes that name a project that does not exist find nothing.
func TestMissingProjectIsNotFound(t *testing.T) {
	ctx := t.Context()
	st := open(t, dbtest.New(t))
	hash := sha256.Sum256([]byte("secret"))
	env := []byte("{}")
	sum := sha256.Sum256(env)
	for name, err := range map[string]error{
		"token": st.CreateToken(ctx, store.Token{ID: "t", Hash: hash[:], ProjectID: 42, Role: store.RoleReader}),
		"key": st.AddKey(ctx, store.Key{ProjectID: 42, KeyID: strings.Repeat("0f", 32), KeyType: "ed25519",
			Scheme: "ed25519", PublicPEM: "pem"}),
		"attestation": func() error {
			_, _, err := st.InsertAttestation(ctx, store.Attestation{ProjectID: 42, ID: hex.EncodeToString(sum[:]),
				Envelope: env, PayloadType: "x", StatementType: "y", LogIndex: new(uint64(0))})
			return err
		}(),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s in a missing project: err = %v, want ErrNotFound", name, err)
		}
	}
}

// TestDefaultsAndRevokeTwice covers what this backend adds to the contract: a zero CreatedAt is the
// database's time, a zero revocation time is now, and a second revocation keeps the first time.
func TestDefaultsAndRevokeTwice(t *testing.T) {
	ctx := t.Context()
	st := open(t, dbtest.New(t))
	before := time.Now().Add(-time.Minute)
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("secret"))
	err = st.CreateToken(ctx, store.Token{ID: "t", Hash: hash[:], ProjectID: p.ID, Role: store.RoleReader})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, p.ID, "t", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, p.ID, "t", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	tok, err := st.TokenByHash(ctx, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Minute)
	if tok.CreatedAt.Before(before) || tok.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want about now", tok.CreatedAt)
	}
	if tok.RevokedAt == nil || tok.RevokedAt.Before(before) || tok.RevokedAt.After(after) {
		t.Errorf("RevokedAt = %v, want about now (the first revocation)", tok.RevokedAt)
	}

	env := []byte("{}")
	sum := sha256.Sum256(env)
	a, _, err := st.InsertAttestation(ctx, store.Attestation{ProjectID: p.ID, ID: hex.EncodeToString(sum[:]),
		Envelope: env, PayloadType: "x", StatementType: "y", LogIndex: new(uint64(0)),
		SignerKeyIDs: []string{strings.Repeat("b", 64), strings.Repeat("a", 64)}})
	if err != nil {
		t.Fatal(err)
	}
	if a.CreatedAt.Before(before) || a.CreatedAt.After(after) {
		t.Errorf("attestation CreatedAt = %v, want about now", a.CreatedAt)
	}
	got, err := st.GetAttestation(ctx, p.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(a.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("stored CreatedAt %v, returned %v; want equal, in UTC", got.CreatedAt, a.CreatedAt)
	}
	if !slices.IsSorted(got.SignerKeyIDs) || !slices.Equal(got.SignerKeyIDs, a.SignerKeyIDs) {
		t.Errorf("SignerKeyIDs stored %v, returned %v; want sorted and equal", got.SignerKeyIDs, a.SignerKeyIDs)
	}
}

func TestBootstrapRefusesOtherTokens(t *testing.T) {
	st := open(t, dbtest.New(t))
	hash := sha256.Sum256([]byte("secret"))
	ok, err := st.Bootstrap(t.Context(), store.Token{ID: "t", Hash: hash[:], ProjectID: 0, Role: store.RoleAdmin})
	if err == nil || ok {
		t.Errorf("Bootstrap with an admin token = %v, %v; want an error", ok, err)
	}
	ok, err = st.Bootstrap(t.Context(), store.Token{ID: "t", Hash: hash[:], Role: store.RoleServerAdmin})
	if err != nil || !ok {
		t.Errorf("Bootstrap after the refused one = %v, %v; want true", ok, err)
	}
}
