package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/sqlite"
	"github.com/attestd/attestd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) (store.Store, storetest.Tamperer) {
		path := newDB(t)
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return st, newTamperer(t, path) // RunTamper closes the store
	})
}

// newDB returns the path of a new, migrated database file in a directory of the test's own.
func newDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "attestd.db")
	if err := sqlite.Migrate(t.Context(), path); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return path
}

func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// rawDB opens the file at path with database/sql alone, for looking behind the store's back: foreign keys on,
// write transactions IMMEDIATE, waiting for locks as the store does.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tamperer is the storetest.Tamperer of this backend: plain SQL on the store's file, as an operator with write
// access to it would run it.
type tamperer struct {
	db *sql.DB
}

var _ storetest.Tamperer = tamperer{}

func newTamperer(t *testing.T, path string) tamperer {
	return tamperer{db: rawDB(t, path)}
}

// InsertUnlogged inserts the row of a with a NULL log_index, and its subjects, materials and signers.
func (tm tamperer) InsertUnlogged(ctx context.Context, a store.Attestation) error {
	signers := slices.Compact(slices.Sorted(slices.Values(a.SignerKeyIDs)))
	signersJSON := "["
	for i, k := range signers {
		if i > 0 {
			signersJSON += ","
		}
		signersJSON += `"` + k + `"`
	}
	signersJSON += "]"
	tx, err := tm.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var seq int64
	err = tx.QueryRowContext(ctx, `
		INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
			signer_key_ids, submitter_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING seq`,
		a.ProjectID, a.ID, a.Envelope, a.PayloadType, a.StatementType, a.PredicateType, a.Step,
		signersJSON, a.SubmitterID, a.CreatedAt.UnixMicro(),
	).Scan(&seq)
	if err != nil {
		return err
	}
	for table, list := range map[string][]store.Artifact{
		"attestation_subjects": a.Subjects, "attestation_materials": a.Materials,
	} {
		for i, art := range list {
			_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (project_id, attestation_seq, ord, name, algorithm, digest)
				VALUES (?, ?, ?, ?, ?, ?)`, a.ProjectID, seq, i+1, art.Name, art.Algorithm, art.Digest)
			if err != nil {
				return err
			}
		}
	}
	for _, k := range signers {
		_, err := tx.ExecContext(ctx, `INSERT INTO attestation_signers (project_id, attestation_seq, key_id)
			VALUES (?, ?, ?)`, a.ProjectID, seq, k)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// TestPragmas: every connection, the write connection and each read connection, runs with the settings the
// package promises; only the read connections are read-only.
func TestPragmas(t *testing.T) {
	t.Parallel()
	st := open(t, newDB(t), sqlite.WithMaxReadConns(3))
	for _, tc := range []struct {
		pragma      string
		write, read string
	}{
		{"journal_mode", "wal", "wal"},
		{"foreign_keys", "1", "1"},
		{"synchronous", "2", "2"}, // FULL
		{"busy_timeout", "10000", "10000"},
		{"query_only", "0", "1"},
	} {
		got, err := st.Pragmas(t.Context(), tc.pragma, 3)
		if err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		want := []string{tc.write, tc.read, tc.read, tc.read}
		if !slices.Equal(got, want) {
			t.Errorf("PRAGMA %s on the write connection, then three read connections = %v, want %v",
				tc.pragma, got, want)
		}
	}
	st2 := open(t, newDB(t), sqlite.WithBusyTimeout(250*time.Millisecond))
	if got, err := st2.Pragmas(t.Context(), "busy_timeout", 1); err != nil || !slices.Equal(got, []string{"250", "250"}) {
		t.Errorf("busy_timeout with WithBusyTimeout(250ms) = %v, %v", got, err)
	}
}

// TestWALIsPersistent: the file itself is in WAL mode, so that any connection to it, ours or another
// program's, uses the write-ahead log.
func TestWALIsPersistent(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	open(t, path).Close()
	db, err := sql.Open("sqlite", path) // no settings at all
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode of the file = %q, want wal", mode)
	}
}

// TestForeignKeysEnforced: a row that names a missing parent is refused by the database itself, not only by
// checks of the store.
func TestForeignKeysEnforced(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := open(t, newDB(t))
	hash := sha256.Sum256([]byte("secret"))
	env := []byte("{}")
	for name, err := range map[string]error{
		"token": st.CreateToken(ctx, store.Token{ID: "t", Hash: hash[:], ProjectID: 42, Role: store.RoleReader}),
		"key": st.AddKey(ctx, store.Key{ProjectID: 42, KeyID: strings.Repeat("0f", 32), KeyType: "ed25519",
			Scheme: "ed25519", PublicPEM: "pem"}),
		"attestation": func() error {
			_, _, err := st.InsertAttestation(ctx, store.Attestation{ProjectID: 42, ID: sha256Hex(env),
				Envelope: env, PayloadType: "x", StatementType: "y", LogIndex: new(uint64(0))})
			return err
		}(),
		"decision": func() error {
			_, err := st.AddDecision(ctx, store.Decision{ProjectID: 42, Kind: "file", Name: "x", Digest: "sha256:00"})
			return err
		}(),
	} {
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Errorf("%s in a missing project: err = %v, want ErrNotFound from the foreign key", name, err)
		}
	}
}

// TestSecondOpenSeesData: two stores on one file see each other's writes at once, and a store opened after
// both closed sees everything.
func TestSecondOpenSeesData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := newDB(t)
	a := open(t, path)
	b := open(t, path)
	pa, err := a.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.ProjectByName(ctx, "alpha"); err != nil || got.ID != pa.ID {
		t.Fatalf("the second store reads %+v, %v; want project %d", got, err, pa.ID)
	}
	att := newAttestation(pa.ID, "shared", 0)
	if _, _, err := b.InsertAttestation(ctx, att); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetAttestation(ctx, pa.ID, att.ID); err != nil {
		t.Fatalf("the first store does not see the second one's attestation: %v", err)
	}
	a.Close()
	b.Close()
	c := open(t, path)
	if _, err := c.GetAttestation(ctx, pa.ID, att.ID); err != nil {
		t.Fatalf("a store opened after both closed: %v", err)
	}
}

// TestConcurrentWritersNeverBusy: with no busy timeout at all, concurrent writers of every kind and readers
// still all succeed: writers queue for the one write connection instead of competing for the file's lock.
func TestConcurrentWritersNeverBusy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := open(t, newDB(t), sqlite.WithBusyTimeout(0))
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				if _, _, err := st.InsertAttestation(ctx, newAttestation(p.ID, fmt.Sprint("w", n), uint64(n))); err != nil {
					errs <- fmt.Errorf("insert %d: %w", n, err)
				}
				content := []byte(fmt.Sprint("layout ", n))
				l := store.Layout{ProjectID: p.ID, Name: "release", ID: sha256Hex(content), Content: content,
					LogIndex: new(uint64(1_000_000 + n))}
				if _, err := st.AddLayout(ctx, l); err != nil {
					errs <- fmt.Errorf("layout %d: %w", n, err)
				}
				if _, err := st.ListAttestations(ctx, p.ID, store.Filter{Limit: 10}); err != nil {
					errs <- fmt.Errorf("list %d: %w", n, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := st.ListLayouts(ctx, p.ID, "release")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != workers*each || list[0].Version != workers*each {
		t.Errorf("%d layout versions, newest %d; want %d consecutive", len(list), list[0].Version, workers*each)
	}
}

// TestLockedFileIsUnavailable: another process holding the file's write lock past the busy timeout makes
// writes ErrUnavailable; reads go on (WAL), and writes succeed once the lock is released.
func TestLockedFileIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := newDB(t)
	st := open(t, path, sqlite.WithBusyTimeout(50*time.Millisecond))
	other := rawDB(t, path)
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateProject(ctx, "alpha"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateProject while another process writes: err = %v, want ErrUnavailable", err)
	}
	if _, err := st.ListProjects(ctx); err != nil {
		t.Errorf("ListProjects while another process writes: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateProject(ctx, "alpha"); err != nil {
		t.Errorf("CreateProject after the lock was released: %v", err)
	}
}

func TestCanceledContextIsNotUnavailable(t *testing.T) {
	t.Parallel()
	st := open(t, newDB(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := st.ListProjects(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ListProjects with a canceled context: err = %v, want context.Canceled only", err)
	}
	_, err = st.CreateProject(ctx, "alpha")
	if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateProject with a canceled context: err = %v, want context.Canceled only", err)
	}
	if _, err := st.ProjectByName(t.Context(), "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the canceled CreateProject stored the project: err = %v", err)
	}
}

func TestOpenRefusesBadPaths(t *testing.T) {
	t.Parallel()
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "attestd.db")
	for _, path := range []string{"", "x.db?mode=ro", "file:x.db", ":memory:", missingDir} {
		st, err := sqlite.Open(t.Context(), path)
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", path)
			continue
		}
		if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(%q): err = %v, want a configuration error", path, err)
		}
	}
}

// TestCloseTwice: Close may be called more than once, and a closed store answers with errors.
func TestCloseTwice(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), newDB(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st.Close()
	if err := st.Ping(t.Context()); err == nil {
		t.Error("Ping of a closed store succeeded")
	}
}

// TestFileModes: the database file and its write-ahead log are readable by their owner only.
func TestFileModes(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	st := open(t, path)
	if _, err := st.CreateProject(t.Context(), "alpha"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(name), mode)
		}
	}
}

// TestDecisionsLeaveWritesDurable: AddDecision commits without waiting for the disk, and leaves the write
// connection syncing every commit again, whether it succeeded or failed.
func TestDecisionsLeaveWritesDurable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := open(t, newDB(t))
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	d := store.Decision{ProjectID: p.ID, Kind: "file", Name: "x", Digest: "sha256:00", Reasons: []string{"why"}}
	first, err := st.AddDecision(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	d.ProjectID = p.ID + 1000
	if _, err := st.AddDecision(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AddDecision in a missing project: err = %v, want ErrNotFound", err)
	}
	if got, err := st.Pragmas(ctx, "synchronous", 0); err != nil || !slices.Equal(got, []string{"2"}) {
		t.Errorf("synchronous of the write connection after decisions = %v, %v; want 2 (FULL)", got, err)
	}
	list, err := st.ListDecisions(ctx, p.ID, 0, 0)
	if err != nil || len(list) != 1 || list[0].ID != first.ID {
		t.Errorf("ListDecisions = %+v, %v; want the one decision", list, err)
	}
}
