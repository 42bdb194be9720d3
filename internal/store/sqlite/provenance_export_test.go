package sqlite

// GetWithoutEnvelopeQuery is GetAttestationsWithoutEnvelope's query, for the plan test.
const GetWithoutEnvelopeQuery = getWithoutEnvelopeQuery
