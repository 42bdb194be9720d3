package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store"
)

// RelatedAttestations returns the project's logged attestations with a subject among subjects or a material
// among materials, newest first, without envelopes, in one query however many digests.
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
	// One round trip: the artifact indexes lead with (project_id, digest), so each digest is one index probe
	// (the algorithm checked from the index's INCLUDE column), and each row brings the digests of its subjects
	// and materials as arrays of "algorithm:digest" (names are not needed to walk, and cost the most bytes).
	// The probes, and the reads of the rows they find, are LATERAL subqueries behind OFFSET 0, which the planner
	// cannot flatten: joined plainly, a hundred digests or more made it hash the project's whole artifact or
	// attestation table instead (3.8 ms at 10,000 attestations and growing with the table, against 1.7 ms as
	// probes). TestRelatedUsesIndexes keeps it so. Each probe reads its digest's index backwards and stops at
	// the limit: the newest limit rows overall are among the newest limit rows of each digest, and a digest
	// that half the project consumes (a base image) costs limit rows, not all of them (1 s against 9 ms for a
	// digest with 33,000 consumers at 1,000,000 attestations). Its shape, not its values, makes it a walk of
	// indexes, so it runs on s.lookups with a generic plan.
	rows, err := s.lookups.Query(ctx, relatedQuery, projectID, sa, sd, ma, md, limit)
	if err != nil {
		return nil, fmt.Errorf("related attestations of project %d: %w", projectID, classify(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Attestation, error) {
		var a store.Attestation
		var logIndex *int64
		var subj, mat []string
		err := row.Scan(&a.Seq, &a.ProjectID, &a.ID, &a.PayloadType, &a.StatementType, &a.PredicateType, &a.Step,
			&a.SignerKeyIDs, &a.SubmitterID, &a.CreatedAt, &logIndex, &subj, &mat)
		if err != nil {
			return store.Attestation{}, err
		}
		u := uint64(*logIndex) // not NULL, never negative: the query and the schema check it
		a.LogIndex = &u
		a.SignerKeyIDs = emptyNil(a.SignerKeyIDs)
		a.CreatedAt = a.CreatedAt.UTC()
		a.Subjects, a.Materials = digestsOnly(subj), digestsOnly(mat)
		return a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("related attestations of project %d: %w", projectID, classify(ctx, err))
	}
	return out, nil
}

// relatedQuery is RelatedAttestations' query: $1 the project, $2 and $3 the algorithms and values of the
// subject digests, $4 and $5 those of the material digests, $6 the limit.
const relatedQuery = `
		SELECT a.seq, a.project_id, a.id, a.payload_type, a.statement_type, a.predicate_type, a.step,
			a.signer_key_ids, a.submitter_id, a.created_at, a.log_index,
			(SELECT array_agg(x.algorithm || ':' || x.digest) FROM attestation_subjects x
				WHERE x.attestation_seq = a.seq AND x.project_id = a.project_id),
			(SELECT array_agg(x.algorithm || ':' || x.digest) FROM attestation_materials x
				WHERE x.attestation_seq = a.seq AND x.project_id = a.project_id)
		FROM (
			SELECT x.attestation_seq FROM unnest($2::text[], $3::text[]) AS d (algorithm, digest)
			CROSS JOIN LATERAL (SELECT s.attestation_seq FROM attestation_subjects s
				JOIN attestations l ON l.project_id = $1 AND l.seq = s.attestation_seq AND l.log_index IS NOT NULL
				WHERE s.project_id = $1 AND s.digest = d.digest AND s.algorithm = d.algorithm
				ORDER BY s.attestation_seq DESC LIMIT $6) x
			UNION
			SELECT x.attestation_seq FROM unnest($4::text[], $5::text[]) AS d (algorithm, digest)
			CROSS JOIN LATERAL (SELECT m.attestation_seq FROM attestation_materials m
				JOIN attestations l ON l.project_id = $1 AND l.seq = m.attestation_seq AND l.log_index IS NOT NULL
				WHERE m.project_id = $1 AND m.digest = d.digest AND m.algorithm = d.algorithm
				ORDER BY m.attestation_seq DESC LIMIT $6) x
		) AS hit (seq)
		CROSS JOIN LATERAL (SELECT * FROM attestations r
			WHERE r.project_id = $1 AND r.seq = hit.seq AND r.log_index IS NOT NULL OFFSET 0) a
		ORDER BY a.seq DESC LIMIT $6`

// digestsOnly turns "algorithm:digest" strings into artifacts without names.
func digestsOnly(refs []string) []store.Artifact {
	if len(refs) == 0 {
		return nil
	}
	out := make([]store.Artifact, 0, len(refs))
	for _, r := range refs {
		alg, dig, _ := strings.Cut(r, ":") // algorithms never contain ':' (attestation.ParseDigest)
		out = append(out, store.Artifact{Algorithm: alg, Digest: dig})
	}
	return out
}

// GetAttestations returns the project's logged attestations with these ids, sorted by id.
func (s *Store) GetAttestations(ctx context.Context, projectID int64, ids []string) ([]store.Attestation, error) {
	if len(ids) > store.MaxGetAttestations {
		return nil, fmt.Errorf("get attestations: %d ids, at most %d in one call", len(ids), store.MaxGetAttestations)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	page, err := s.queryAttestations(ctx, s.lookups, `SELECT `+attestationColumns+` FROM attestations
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
