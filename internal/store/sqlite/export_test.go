package sqlite

import (
	"context"
	"database/sql"
)

// ListQuery and RelatedQuery expose the queries of ListAttestations and RelatedAttestations to the external
// tests, which EXPLAIN them.
var ListQuery = listQuery

const RelatedQuery = relatedQuery

// DueAnchorsQuery exposes the query of DueAnchors to the plan test.
const DueAnchorsQuery = dueAnchorsQuery

// Pragmas returns the value of PRAGMA name on the write connection, then on each of n read connections held
// at once (so that the read pool opens n of them).
func (s *Store) Pragmas(ctx context.Context, name string, n int) ([]string, error) {
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	w, err := s.write.Conn(ctx)
	if err != nil {
		return nil, err
	}
	conns = append(conns, w)
	for range n {
		r, err := s.read.Conn(ctx)
		if err != nil {
			return nil, err
		}
		conns = append(conns, r)
	}
	var out []string
	for _, c := range conns {
		var v string
		if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
