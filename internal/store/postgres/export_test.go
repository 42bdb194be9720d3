package postgres

// ListQuery exposes the query builder of ListAttestations to the external tests, which EXPLAIN it.
var ListQuery = listQuery

// RelatedQuery is RelatedAttestations' query, for the tests that EXPLAIN it.
const RelatedQuery = relatedQuery

// SharedInsertTransactions is how many transactions committed the rows of two InsertAttestation calls or more.
func (s *Store) SharedInsertTransactions() int64 { return s.group.shared.Load() }
