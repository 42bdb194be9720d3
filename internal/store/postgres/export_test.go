package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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

// LookupPlan is a statement prepared on a connection of the lookups pool, and how PostgreSQL plans it there.
type LookupPlan struct {
	Statement       string
	Generic, Custom int64  // plans made for it on that connection so far
	Plan            string // EXPLAIN of the plan that an execution there uses now
}

// LookupPlans reports the statements prepared on the idle connections of the lookups pool with their plans,
// and for each idle connection of the lookups and main pools its plan_cache_mode and enable_seqscan.
func (s *Store) LookupPlans(ctx context.Context) (plans []LookupPlan, settings map[string][]string, err error) {
	settings = map[string][]string{}
	for name, pool := range map[string]*pgxpool.Pool{"main": s.pool, "lookups": s.lookups} {
		for _, conn := range pool.AcquireAllIdle(ctx) {
			var mode, seqscan string
			err = conn.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')`).
				Scan(&mode, &seqscan)
			if err == nil && name == "lookups" {
				plans, err = explainPrepared(ctx, conn.Conn(), plans)
			}
			conn.Release()
			if err != nil {
				return nil, nil, err
			}
			settings[name] = append(settings[name], mode+" "+seqscan)
		}
	}
	return plans, settings, nil
}

// explainPrepared appends to plans the statements prepared on conn, each EXPLAINed as an execution with
// placeholder values of its parameters' types would run it: the generic plan, where one is kept.
func explainPrepared(ctx context.Context, conn *pgx.Conn, plans []LookupPlan) ([]LookupPlan, error) {
	rows, err := conn.Query(ctx, `SELECT name, statement, generic_plans, custom_plans,
		array(SELECT format_type(t, NULL) FROM unnest(parameter_types) AS t) FROM pg_prepared_statements`)
	if err != nil {
		return nil, err
	}
	type prepared struct {
		name  string
		plan  LookupPlan
		types []string
	}
	var stmts []prepared
	for rows.Next() {
		var p prepared
		if err := rows.Scan(&p.name, &p.plan.Statement, &p.plan.Generic, &p.plan.Custom, &p.types); err != nil {
			return nil, err
		}
		stmts = append(stmts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, p := range stmts {
		values := make([]string, len(p.types))
		for i, t := range p.types {
			switch {
			case strings.HasSuffix(t, "[]"):
				values[i] = `'{}'`
			case t == "bigint" || t == "integer":
				values[i] = `'0'`
			case t == "text":
				values[i] = `''`
			default:
				return nil, fmt.Errorf("statement %q: no placeholder for a parameter of type %s", p.plan.Statement, t)
			}
		}
		sql := `EXPLAIN EXECUTE ` + pgx.Identifier{p.name}.Sanitize()
		if len(values) > 0 {
			sql += `(` + strings.Join(values, ", ") + `)`
		}
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sql, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sql, err)
		}
		p.plan.Plan = strings.Join(lines, "\n")
		plans = append(plans, p.plan)
	}
	return plans, nil
}
