package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/storetest"
)

// tamperer is the storetest.Tamperer of this backend: plain SQL on the store's database, as an operator with
// write access would run it.
type tamperer struct {
	pool *pgxpool.Pool
}

var _ storetest.Tamperer = tamperer{}

// newTamperer opens a small pool on url, closed when t ends. It connects at its first use only.
func newTamperer(t *testing.T, url string) tamperer {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return tamperer{pool: pool}
}

// InsertUnlogged inserts the row of a with a NULL log_index, and its subjects, materials and signers.
func (tm tamperer) InsertUnlogged(ctx context.Context, a store.Attestation) error {
	signers := slices.Compact(slices.Sorted(slices.Values(a.SignerKeyIDs)))
	if signers == nil {
		signers = []string{}
	}
	return pgx.BeginFunc(ctx, tm.pool, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, `
			INSERT INTO attestations (project_id, id, envelope, payload_type, statement_type, predicate_type, step,
				signer_key_ids, submitter_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			RETURNING seq`,
			a.ProjectID, a.ID, a.Envelope, a.PayloadType, a.StatementType, a.PredicateType, a.Step,
			signers, a.SubmitterID, a.CreatedAt,
		).Scan(&seq)
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for table, list := range map[string][]store.Artifact{
			"attestation_subjects": a.Subjects, "attestation_materials": a.Materials,
		} {
			for i, art := range list {
				batch.Queue(`INSERT INTO `+table+` (project_id, attestation_seq, ord, name, algorithm, digest)
					VALUES ($1, $2, $3, $4, $5, $6)`, a.ProjectID, seq, i+1, art.Name, art.Algorithm, art.Digest)
			}
		}
		for _, k := range signers {
			batch.Queue(`INSERT INTO attestation_signers (project_id, attestation_seq, key_id) VALUES ($1, $2, $3)`,
				a.ProjectID, seq, k)
		}
		return tx.SendBatch(ctx, batch).Close()
	})
}
