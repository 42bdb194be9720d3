package postgres

import (
	"context"
	"fmt"

	"github.com/attestd/attestd/internal/store"
)

// attestationColumnsNoEnvelope are attestationColumns with NULL in place of the envelope (scanned as nil).
const attestationColumnsNoEnvelope = `seq, project_id, id, NULL::bytea, payload_type, statement_type,
	predicate_type, step, signer_key_ids, submitter_id, created_at, log_index`

// GetAttestationsWithoutEnvelope returns the project's logged attestations with these ids, sorted by id, with
// the names of their subjects and materials and without their envelopes: two queries (the rows by primary key,
// then their artifacts by attestation), however many ids.
func (s *Store) GetAttestationsWithoutEnvelope(ctx context.Context, projectID int64, ids []string) ([]store.Attestation, error) {
	if len(ids) > store.MaxGetAttestations {
		return nil, fmt.Errorf("get attestations: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	page, err := s.queryAttestations(ctx, s.lookups, getWithoutEnvelopeQuery, projectID, ids)
	if err != nil {
		return nil, fmt.Errorf("get %d attestations of project %d: %w", len(ids), projectID, err)
	}
	return page, nil
}

// getWithoutEnvelopeQuery is GetAttestationsWithoutEnvelope's first query: $1 the project, $2 the ids.
const getWithoutEnvelopeQuery = `SELECT ` + attestationColumnsNoEnvelope + ` FROM attestations
	WHERE project_id = $1 AND id = ANY($2) AND log_index IS NOT NULL ORDER BY id`
