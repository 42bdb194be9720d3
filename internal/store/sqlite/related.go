package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/attestd/attestd/internal/store"
)

// attestationColumnsNoEnvelope are attestationColumns with NULL in place of the envelope, which Verify's walk
// does not read.
const attestationColumnsNoEnvelope = `seq, project_id, id, NULL, payload_type, statement_type, predicate_type,
	step, signer_key_ids, submitter_id, created_at, log_index`

// relatedQuery selects the logged attestations of project ?1 with a subject among the digests ?2 or a material
// among ?3 (JSON arrays of [algorithm, value]), newest first, at most ?4. CROSS JOIN makes SQLite take the
// digests as the outer loop: one probe of the artifact lookup index per digest, never a walk through all the
// project's artifacts.
const relatedQuery = `
	SELECT ` + attestationColumnsNoEnvelope + ` FROM attestations a
	WHERE a.project_id = ?1 AND a.log_index IS NOT NULL AND a.seq IN (
		SELECT x.attestation_seq FROM json_each(?2) AS d
		CROSS JOIN attestation_subjects x ON x.project_id = ?1
			AND x.digest = d.value ->> 1 AND x.algorithm = d.value ->> 0
		UNION
		SELECT x.attestation_seq FROM json_each(?3) AS d
		CROSS JOIN attestation_materials x ON x.project_id = ?1
			AND x.digest = d.value ->> 1 AND x.algorithm = d.value ->> 0)
	ORDER BY a.seq DESC LIMIT ?4`

// RelatedAttestations returns the project's logged attestations with a subject among subjects or a material
// among materials, newest first, without envelopes and without the names of their artifacts: one query for the
// rows, one for their artifacts, however many digests. The digests travel as one JSON parameter per list (SQLite bounds the number of parameters).
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
	subjectsJSON, err := jsonDigests(subjects)
	if err != nil {
		return nil, fmt.Errorf("related attestations of project %d: %w", projectID, err)
	}
	materialsJSON, err := jsonDigests(materials)
	if err != nil {
		return nil, fmt.Errorf("related attestations of project %d: %w", projectID, err)
	}
	page, err := s.readAttestationsNamed(ctx, false, relatedQuery, projectID, subjectsJSON, materialsJSON, limit)
	if err != nil {
		return nil, fmt.Errorf("related attestations of project %d: %w", projectID, err)
	}
	return page, nil
}

// jsonDigests is digests as a JSON array of [algorithm, value] pairs. JSON cannot carry invalid UTF-8
// unchanged, so such a digest is refused (as PostgreSQL refuses it in text).
func jsonDigests(digests []store.Digest) (string, error) {
	pairs := make([][2]string, len(digests))
	for i, d := range digests {
		if !utf8.ValidString(d.Algorithm) || !utf8.ValidString(d.Value) {
			return "", fmt.Errorf("digest %q:%q is not valid UTF-8", d.Algorithm, d.Value)
		}
		pairs[i] = [2]string{d.Algorithm, d.Value}
	}
	b, err := json.Marshal(pairs)
	if err != nil {
		return "", fmt.Errorf("encode digests: %w", err)
	}
	return string(b), nil
}

// GetAttestations returns the project's logged attestations with these ids, sorted by id, each once.
func (s *Store) GetAttestations(ctx context.Context, projectID int64, ids []string) ([]store.Attestation, error) {
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
	page, err := s.readAttestations(ctx, `SELECT `+attestationColumns+` FROM attestations
		WHERE project_id = ? AND id IN (SELECT value FROM json_each(?)) AND log_index IS NOT NULL
		ORDER BY id`, projectID, list)
	if err != nil {
		return nil, fmt.Errorf("get %d attestations of project %d: %w", len(ids), projectID, err)
	}
	return page, nil
}
