package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/tlog"
)

// readSeedProject is one project of the seed, with the keys that sign its rows and its CI tokens' ids.
type readSeedProject struct {
	id         int64
	name       string
	signers    []*signer
	submitters []string
}

// readChunk is how many rows go through each stage of the pipeline at a time.
const readChunk = 8192

// runReadPipeline generates the rows of readStream(rows), signs them, appends their leaves to lg and copies
// them into the database, in four stages that run at once on successive chunks, so that PostgreSQL writes one
// chunk while Go signs the next. Rows keep the stream's order in seq and created_at (spread evenly over
// readSpan up to now); their log indexes follow it too, but in a different order within a chunk, as concurrent
// submissions would. It returns the rows of both projects and the bench project's complete runs.
func runReadPipeline(ctx context.Context, conns [2]*pgx.Conn, lg *tlog.Log, projects [2]readSeedProject, rows int) (int, int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }

	stream := newReadStream(rows)
	end := time.Now().UTC().Truncate(time.Second)
	estimate := rows*readOtherEvery/(readOtherEvery-1) + 1
	step := readSpan / time.Duration(estimate)
	generated := make(chan []readRow, 2)
	signed := make(chan []readRow, 2)
	logged := make(chan []readRow, 2)
	total := 0

	go func() { // generate
		defer close(generated)
		for {
			chunk := make([]readRow, 0, readChunk)
			for len(chunk) < readChunk {
				row, ok := stream.next()
				if !ok {
					break
				}
				total++
				row.seq = int64(total)
				row.createdAt = end.Add(-readSpan + time.Duration(total)*step)
				chunk = append(chunk, row)
			}
			if len(chunk) == 0 {
				return
			}
			select {
			case generated <- chunk:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // sign, on every core
		defer close(signed)
		workers := runtime.GOMAXPROCS(0)
		for chunk := range generated {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < len(chunk); i += workers {
						row := &chunk[i]
						p := projects[row.project]
						by := make([]*signer, len(row.keys))
						for j, k := range row.keys {
							by[j] = p.signers[k]
						}
						row.env = readEnvelope(row.payload(), by, row.signed)
						sum := sha256.Sum256(row.env)
						row.id = hex.EncodeToString(sum[:])
					}
				})
			}
			wg.Wait()
			select {
			case signed <- chunk:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // log
		defer close(logged)
		for chunk := range signed {
			var wg sync.WaitGroup
			for i := range chunk {
				wg.Go(func() {
					row := &chunk[i]
					idx, err := lg.Append(ctx, tlog.EntryFor(projects[row.project].name, row.id, row.id))
					if err != nil {
						fail(fmt.Errorf("append leaf of row %d: %w", row.seq, err))
						return
					}
					row.logIndex = int64(idx)
				})
			}
			wg.Wait()
			select {
			case logged <- chunk:
			case <-ctx.Done():
				return
			}
		}
	}()
	for chunk := range logged { // copy: the attestations on one connection, their artifacts on the other
		if ctx.Err() != nil {
			continue // drain: the stages above stop
		}
		errs := make(chan error, 1)
		go func() { errs <- copyReadArtifacts(ctx, conns[1], projects, chunk) }()
		if err := copyReadAttestations(ctx, conns[0], projects, chunk); err != nil {
			fail(err)
		}
		if err := <-errs; err != nil {
			fail(err)
		}
	}
	if err := context.Cause(ctx); err != nil {
		return 0, 0, err
	}
	return total, stream.project[0].images, nil
}

// copyReadAttestations copies a chunk's rows into the attestations table.
func copyReadAttestations(ctx context.Context, conn *pgx.Conn, projects [2]readSeedProject, chunk []readRow) error {
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"attestations"},
		[]string{"seq", "project_id", "id", "envelope", "payload_type", "statement_type", "predicate_type", "step",
			"signer_key_ids", "submitter_id", "created_at", "log_index"},
		pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
			r := &chunk[i]
			p := projects[r.project]
			keys := make([]string, len(r.keys))
			for j, k := range r.keys {
				keys[j] = p.signers[k].id
			}
			return []any{r.seq, p.id, r.id, r.env, inTotoPayloadType, attestation.StatementV1, r.predicate,
				r.step, keys, p.submitters[r.submitter], r.createdAt, r.logIndex}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy attestations: %w", err)
	}
	return nil
}

// copyReadArtifacts copies the subjects, materials and signers of a chunk's rows, in one transaction.
func copyReadArtifacts(ctx context.Context, conn *pgx.Conn, projects [2]readSeedProject, chunk []readRow) error {
	var subjects, materials, signers [][]any
	for i := range chunk {
		r := &chunk[i]
		p := projects[r.project]
		for j, a := range r.subjects {
			subjects = append(subjects, []any{p.id, r.seq, int32(j), a.Name, a.Algorithm, a.Digest})
		}
		for j, a := range r.materials {
			materials = append(materials, []any{p.id, r.seq, int32(j), a.Name, a.Algorithm, a.Digest})
		}
		for _, k := range r.keys {
			signers = append(signers, []any{p.id, r.seq, p.signers[k].id})
		}
	}
	artifactColumns := []string{"project_id", "attestation_seq", "ord", "name", "algorithm", "digest"}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, c := range []struct {
			table   string
			columns []string
			rows    [][]any
		}{
			{"attestation_subjects", artifactColumns, subjects},
			{"attestation_materials", artifactColumns, materials},
			{"attestation_signers", []string{"project_id", "attestation_seq", "key_id"}, signers},
		} {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.columns, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", c.table, err)
			}
		}
		return nil
	})
}

func readDiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// readDropIndexes drops the indexes of the attestation tables that back no constraint and returns their
// definitions, to be built again once the rows are in (one sort each instead of millions of random inserts).
func readDropIndexes(ctx context.Context, b *testing.B, conn *pgx.Conn) []string {
	rows, err := conn.Query(ctx, `
		SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
		WHERE t.relnamespace = current_schema()::regnamespace
			AND t.relname IN ('attestations', 'attestation_subjects', 'attestation_materials', 'attestation_signers')
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
		ORDER BY 1`)
	if err != nil {
		b.Fatal(err)
	}
	type index struct{ name, def string }
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var ix index
		return ix, r.Scan(&ix.name, &ix.def)
	})
	if err != nil {
		b.Fatal(err)
	}
	var defs []string
	for _, ix := range found {
		if _, err := conn.Exec(ctx, `DROP INDEX `+ix.name); err != nil {
			b.Fatal(err)
		}
		defs = append(defs, ix.def)
	}
	return defs
}

// readMigrationsHash names the schema by dbtest's hash of the migration files (its first 12 digits).
func readMigrationsHash() (string, error) {
	h, err := dbtest.MigrationsHash()
	if err != nil {
		return "", err
	}
	return h[:12], nil
}

// readCopyDir copies the directory src to dst (created), keeping the files' modes: the log's key must stay private.
func readCopyDir(dst, src string) error {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		return os.Chmod(filepath.Join(dst, rel), info.Mode().Perm())
	})
}

func readWithDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err) // dbtest made it
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

func readIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

func readQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func readRandomSuffix() string { return sha(fmt.Sprint(time.Now().UnixNano(), os.Getpid()))[:12] }

// readRetryInUse runs f until it does not fail because a database is still in use (sessions that are ending).
func readRetryInUse(ctx context.Context, f func() error) error {
	for range 500 {
		err := f()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("database still in use after 10 s")
}
