package postgres

import (
	"context"

	"github.com/attestd/attestd/internal/store"
)

// ListQuery exposes the query builder of ListAttestations to the external tests, which EXPLAIN it.
var ListQuery = listQuery

// RelatedQuery is RelatedAttestations' query, for the tests that EXPLAIN it.
const RelatedQuery = relatedQuery

// SharedInsertTransactions is how many transactions committed the rows of two InsertAttestation calls or more.
func (s *Store) SharedInsertTransactions() int64 { return s.group.shared.Load() }

// InsertPlans inserts as, one at a time, on one connection of the group commit's pool (writer) or of the main pool, then
// reports how PostgreSQL planned the insert statement on that connection: generic and custom plans so far.
func (s *Store) InsertPlans(ctx context.Context, writer bool, as ...store.Attestation) (generic, custom int64, err error) {
	pool := s.pool
	if writer {
		pool = s.writer
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	for _, a := range as {
		if _, err := insertRows(ctx, conn, []insertRow{{a: a, index: int64(*a.LogIndex)}}); err != nil {
			return 0, 0, err
		}
	}
	err = conn.QueryRow(ctx, `SELECT COALESCE(sum(generic_plans), 0), COALESCE(sum(custom_plans), 0)
		FROM pg_prepared_statements WHERE statement = $1`, insertAttestationsSQL).Scan(&generic, &custom)
	return generic, custom, err
}
