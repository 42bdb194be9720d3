package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/attestd/attestd/internal/store"
)

// ListAttestations returns the project's attestations that match f, newest first (descending Seq), at most
// f.Limit of them (see store.PageSize). Rows without a log index are left out. Filter values are compared for
// equality, so `%`, `_`, `*` and quotes in them have no special meaning.
func (s *Store) ListAttestations(ctx context.Context, projectID int64, f store.Filter) ([]store.Attestation, error) {
	query, args := listQuery(projectID, f)
	page, err := s.readAttestations(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list attestations of project %d: %w", projectID, err)
	}
	return page, nil
}

// listQuery builds the one SELECT of ListAttestations. Only conditions for the fields that f sets are
// written, each comparing a column with a parameter; values never become part of the SQL text. The
// conditions on subjects, materials and signers are IN over the lookup indexes, which SQLite can use to
// visit only the matching rows (by seq, the rowid) instead of testing every row of the project.
func listQuery(projectID int64, f store.Filter) (string, []any) {
	var q query
	q.where("a.project_id = ?", projectID)
	q.conds = append(q.conds, "a.log_index IS NOT NULL")
	if f.AfterSeq > 0 {
		q.where("a.seq < ?", f.AfterSeq)
	}
	if f.Step != "" {
		q.where("a.step = ?", f.Step)
	}
	if f.PredicateType != "" {
		q.where("a.predicate_type = ?", f.PredicateType)
	}
	if f.Submitter != "" {
		q.where("a.submitter_id = ?", f.Submitter)
	}
	if f.SignerKeyID != "" {
		q.where(`a.seq IN (SELECT x.attestation_seq FROM attestation_signers x
			WHERE x.project_id = ? AND x.key_id = ?)`, projectID, f.SignerKeyID)
	}
	if !f.Since.IsZero() {
		q.where("a.created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		q.where("a.created_at < ?", micros(f.Until))
	}
	q.artifact(projectID, subjects, f.SubjectAlgorithm, f.SubjectDigest)
	q.artifact(projectID, materials, f.MaterialAlgorithm, f.MaterialDigest)
	q.args = append(q.args, store.PageSize(f.Limit))
	columns := attestationColumns
	if f.WithoutEnvelopes {
		columns = attestationColumnsNoEnvelope
	}
	return `SELECT ` + columns + ` FROM attestations a WHERE ` + strings.Join(q.conds, " AND ") +
		` ORDER BY a.seq DESC LIMIT ?`, q.args
}

// query collects the conditions and parameters of a WHERE clause; the parameters are positional (?), in the
// order in which the conditions are written.
type query struct {
	conds []string
	args  []any
}

// where adds a condition and the values of its parameters.
func (q *query) where(cond string, args ...any) {
	q.conds = append(q.conds, cond)
	q.args = append(q.args, args...)
}

// artifact adds the condition that one subject (or material) of the attestation has this algorithm and
// digest; an empty one of the two matches any.
func (q *query) artifact(projectID int64, kind artifactKind, algorithm, digest string) {
	if algorithm == "" && digest == "" {
		return
	}
	cond := `a.seq IN (SELECT x.attestation_seq FROM ` + artifactTables[kind] + ` x WHERE x.project_id = ?`
	args := []any{projectID}
	if digest != "" {
		cond += ` AND x.digest = ?`
		args = append(args, digest)
	}
	if algorithm != "" {
		cond += ` AND x.algorithm = ?`
		args = append(args, algorithm)
	}
	q.where(cond+`)`, args...)
}
