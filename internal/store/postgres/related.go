package postgres

import (
	"context"
	"fmt"

	"github.com/attestd/attestd/internal/store"
)

// attestationColumnsNoEnvelope are attestationColumns with NULL in place of the envelope, which Verify's walk
// does not read.
const attestationColumnsNoEnvelope = `seq, project_id, id, NULL::bytea, payload_type, statement_type, predicate_type,
	step, signer_key_ids, submitter_id, created_at, log_index`

// RelatedAttestations returns the project's logged attestations with a subject among subjects or a material
// among materials, newest first, without envelopes: one query for the rows, one for their artifacts, however
// many digests.
func (s *Store) RelatedAttestations(ctx context.Context, projectID int64, subjects, materials []store.Digest, limit int) ([]store.Attestation, error) {
	if n := len(subjects) + len(materials); n > store.MaxRelatedDigests {
		return nil, fmt.Errorf("related attestations: %d digests, at most %d in one call", n, store.MaxRelatedDigests)
	}
	if len(subjects) == 0 && len(materials) == 0 {
		return nil, nil
	}
	if limit < 1 || limit > store.MaxRelatedRows {
		limit = store.MaxRelatedRows
	}
	sa, sd := splitDigests(subjects)
	ma, md := splitDigests(materials)
	// The artifact indexes lead with (project_id, digest): each digest is one index probe, and the algorithm
	// is checked from the index's INCLUDE column.
	page, err := s.queryAttestations(ctx, `
		SELECT `+attestationColumnsNoEnvelope+` FROM attestations a
		WHERE a.project_id = $1 AND a.log_index IS NOT NULL AND a.seq IN (
			SELECT x.attestation_seq FROM attestation_subjects x
			JOIN unnest($2::text[], $3::text[]) AS d (algorithm, digest)
				ON x.digest = d.digest AND x.algorithm = d.algorithm
			WHERE x.project_id = $1
			UNION
			SELECT x.attestation_seq FROM attestation_materials x
			JOIN unnest($4::text[], $5::text[]) AS d (algorithm, digest)
				ON x.digest = d.digest AND x.algorithm = d.algorithm
			WHERE x.project_id = $1)
		ORDER BY a.seq DESC LIMIT $6`, projectID, sa, sd, ma, md, limit)
	if err != nil {
		return nil, fmt.Errorf("related attestations of project %d: %w", projectID, err)
	}
	for i := range page {
		page[i].Envelope = nil
	}
	return page, nil
}

// GetAttestations returns the project's logged attestations with these ids, sorted by id.
func (s *Store) GetAttestations(ctx context.Context, projectID int64, ids []string) ([]store.Attestation, error) {
	if len(ids) > store.MaxGetAttestations {
		return nil, fmt.Errorf("get attestations: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	page, err := s.queryAttestations(ctx, `SELECT `+attestationColumns+` FROM attestations
		WHERE project_id = $1 AND id = ANY($2) AND log_index IS NOT NULL ORDER BY id`, projectID, ids)
	if err != nil {
		return nil, fmt.Errorf("get %d attestations of project %d: %w", len(ids), projectID, err)
	}
	return page, nil
}

// splitDigests returns the algorithms and values of digests as two arrays (never nil, which pgx would send as
// NULL).
func splitDigests(digests []store.Digest) (algorithms, values []string) {
	algorithms = make([]string, len(digests))
	values = make([]string, len(digests))
	for i, d := range digests {
		algorithms[i], values[i] = d.Algorithm, d.Value
	}
	return algorithms, values
}
