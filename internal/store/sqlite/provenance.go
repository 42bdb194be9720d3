package sqlite

import (
	"context"
	"fmt"

	"github.com/attestd/attestd/internal/store"
)

// GetAttestationsWithoutEnvelope returns the project's logged attestations with these ids, sorted by id, each
// once, with the names of their subjects and materials and without their envelopes.
func (s *Store) GetAttestationsWithoutEnvelope(ctx context.Context, projectID int64, ids []string) ([]store.Attestation, error) {
	if len(ids) > store.MaxGetAttestations {
		return nil, fmt.Errorf("get attestations: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := jsonList("attestation id", ids)
	if err != nil {
		return nil, fmt.Errorf("get attestations of project %d: %w", projectID, err)
	}
	page, err := s.readAttestations(ctx, getWithoutEnvelopeQuery, projectID, list)
	if err != nil {
		return nil, fmt.Errorf("get %d attestations of project %d: %w", len(ids), projectID, err)
	}
	return page, nil
}

// getWithoutEnvelopeQuery is GetAttestationsWithoutEnvelope's first query: ?1 the project, ?2 the ids as a
// JSON array.
const getWithoutEnvelopeQuery = `SELECT ` + attestationColumnsNoEnvelope + ` FROM attestations
	WHERE project_id = ?1 AND id IN (SELECT value FROM json_each(?2)) AND log_index IS NOT NULL ORDER BY id`
