package postgres

// GetWithoutEnvelopeQuery is GetAttestationsWithoutEnvelope's query, for the tests that EXPLAIN it.
const GetWithoutEnvelopeQuery = getWithoutEnvelopeQuery
