package store

import (
	"context"
)

// LeafRow is a database row that names a leaf of the transparency log: an attestation or a layout push
// (exactly one of the two is set).
type LeafRow struct {
	LogIndex    uint64
	Attestation *Attestation
	Layout      *Layout
}

// ProjectID is the project of the row.
func (r LeafRow) ProjectID() int64 {
	if r.Layout != nil {
		return r.Layout.ProjectID
	}
	return r.Attestation.ProjectID
}

// LeafRows walks the rows that name log leaves, attestations and layouts merged, in increasing log index, a
// page of each at a time: the walk of the start-up reconciliation and of the audit.
type LeafRows struct {
	atts    cursor[Attestation]
	layouts cursor[Layout]
}

// NewLeafRows returns a walk over st's rows from log index 0.
func NewLeafRows(st Store) *LeafRows {
	return &LeafRows{
		atts:    cursor[Attestation]{scan: st.ScanByLogIndex, index: func(a Attestation) uint64 { return *a.LogIndex }},
		layouts: cursor[Layout]{scan: st.ScanLayoutsByLogIndex, index: func(l Layout) uint64 { return *l.LogIndex }},
	}
}

// At returns the row at log index i, if there is one. Callers ask for increasing i; rows below an index asked
// for before are skipped.
func (w *LeafRows) At(ctx context.Context, i uint64) (LeafRow, bool, error) {
	a, ok, err := w.atts.at(ctx, i)
	if err != nil || ok {
		return LeafRow{LogIndex: i, Attestation: &a}, ok, err
	}
	l, ok, err := w.layouts.at(ctx, i)
	if err != nil || ok {
		return LeafRow{LogIndex: i, Layout: &l}, ok, err
	}
	return LeafRow{}, false, nil
}

// Rest calls f for every row from log index from on (attestations first, then layouts): rows that name leaves
// a log of size from does not have.
func (w *LeafRows) Rest(ctx context.Context, from uint64, f func(LeafRow)) error {
	if err := w.atts.rest(ctx, from, func(a Attestation) { f(LeafRow{LogIndex: *a.LogIndex, Attestation: &a}) }); err != nil {
		return err
	}
	return w.layouts.rest(ctx, from, func(l Layout) { f(LeafRow{LogIndex: *l.LogIndex, Layout: &l}) })
}

// cursor pages through one kind of row by log index.
type cursor[T any] struct {
	scan  func(ctx context.Context, from uint64, limit int) ([]T, error)
	index func(T) uint64
	page  []T
	next  uint64 // the log index the next page starts from
	done  bool
}

func (c *cursor[T]) at(ctx context.Context, i uint64) (T, bool, error) {
	var zero T
	for {
		for len(c.page) > 0 && c.index(c.page[0]) < i {
			c.page = c.page[1:]
		}
		if len(c.page) > 0 {
			if c.index(c.page[0]) == i {
				row := c.page[0]
				c.page = c.page[1:]
				return row, true, nil
			}
			return zero, false, nil
		}
		if c.done {
			return zero, false, nil
		}
		if err := c.fetch(ctx, max(c.next, i)); err != nil {
			return zero, false, err
		}
		if len(c.page) == 0 {
			return zero, false, nil
		}
	}
}

func (c *cursor[T]) fetch(ctx context.Context, from uint64) error {
	page, err := c.scan(ctx, from, MaxPageSize)
	if err != nil {
		return err
	}
	if len(page) < MaxPageSize {
		c.done = true
	}
	if len(page) > 0 {
		c.next = c.index(page[len(page)-1]) + 1
	}
	c.page = page
	return nil
}

func (c *cursor[T]) rest(ctx context.Context, from uint64, f func(T)) error {
	for {
		for _, r := range c.page {
			if c.index(r) >= from {
				f(r)
			}
		}
		c.page = nil
		if c.done {
			return nil
		}
		if err := c.fetch(ctx, max(c.next, from)); err != nil {
			return err
		}
	}
}
