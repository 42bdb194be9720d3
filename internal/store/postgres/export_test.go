package postgres

// ListQuery exposes the query builder of ListAttestations to the external tests, which EXPLAIN it.
var ListQuery = listQuery

// RelatedQuery is RelatedAttestations' query, for the tests that EXPLAIN it.
const RelatedQuery = relatedQuery
