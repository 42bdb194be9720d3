package store

import (
	"context"
	"fmt"
)

// ProjectNames caches project names by id, for walks over many attestations of every project (the start-up
// reconciliation, the audit) that need each row's project name to recompute its log entry.
type ProjectNames struct {
	st interface {
		ProjectByID(ctx context.Context, id int64) (Project, error)
	}
	names map[int64]string
}

// NewProjectNames returns an empty cache over st.
func NewProjectNames(st Store) *ProjectNames {
	return &ProjectNames{st: st, names: map[int64]string{}}
}

// Name returns the name of project id.
func (c *ProjectNames) Name(ctx context.Context, id int64) (string, error) {
	if n, ok := c.names[id]; ok {
		return n, nil
	}
	p, err := c.st.ProjectByID(ctx, id)
	if err != nil {
		return "", fmt.Errorf("project %d: %w", id, err)
	}
	c.names[id] = p.Name
	return p.Name, nil
}
