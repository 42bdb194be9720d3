package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

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

// PoolSettings reports, for each connection that is idle in the main pool, the group commit's pool and the
// decision rows' pool, its synchronous_commit, and on the decision pool's connections also how PostgreSQL
// planned AddDecision's statement there so far (generic and custom plans, summed).
func (s *Store) PoolSettings(ctx context.Context) (syncCommit map[string][]string, generic, custom int64, err error) {
	syncCommit = map[string][]string{}
	for name, pool := range map[string]*pgxpool.Pool{"main": s.pool, "writer": s.writer, "decider": s.decider} {
		for _, conn := range pool.AcquireAllIdle(ctx) {
			var sc string
			var g, c int64
			// Statements that start with the insert, not this one, which names it.
			err = conn.QueryRow(ctx, `SELECT current_setting('synchronous_commit'),
				COALESCE(sum(generic_plans), 0), COALESCE(sum(custom_plans), 0)
				FROM pg_prepared_statements WHERE btrim(statement, E' \n\t') LIKE 'INSERT INTO decisions %'`).
				Scan(&sc, &g, &c)
			conn.Release()
			if err != nil {
				return nil, 0, 0, err
			}
			syncCommit[name] = append(syncCommit[name], sc)
			if name == "decider" {
				generic, custom = generic+g, custom+c
			}
		}
	}
	return syncCommit, generic, custom, nil
}
