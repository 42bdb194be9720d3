package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// ReconcileReport says what Reconcile found.
type ReconcileReport struct {
	LogSize    uint64 // the log's size when reconciled
	Scanned    uint64 // leaves checked, from the stored watermark to LogSize
	NewOrphans int    // leaves without rows found now (never-acknowledged submissions)
	Orphans    int    // orphan leaves claimable by retries, in all
	Mismatches int    // leaves whose row commits to other bytes (tampering: run attestd audit)
}

// entryFor is the log entry of a stored attestation: it commits to the project, the id and the sha256 of the
// envelope bytes as stored.
func entryFor(projectName string, a store.Attestation) []byte {
	return tlog.EntryForEnvelope(projectName, a.ID, a.Envelope)
}

// layoutEntryFor is the log entry of a stored layout push.
func layoutEntryFor(projectName string, l store.Layout) []byte {
	return tlog.EntryForLayout(projectName, l.Name, l.Content)
}

// leafRowEntry is the log entry that a row naming a leaf commits to.
func leafRowEntry(projectName string, r store.LeafRow) []byte {
	if r.Layout != nil {
		return layoutEntryFor(projectName, *r.Layout)
	}
	return entryFor(projectName, *r.Attestation)
}

// Reconcile brings the database and the log into agreement; it must run before the server takes submissions
// (Submit answers UNAVAILABLE until it has). The log is the source of truth for order: every leaf from the
// stored watermark up to the log's size either has its row, or is recorded as an orphan — a submission that was
// sequenced but never acknowledged, which a retry of the same envelope will claim.
func (s *Server) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	if s.log == nil {
		return rep, errors.New("reconcile: no log configured")
	}
	size, err := s.log.IntegratedSize(ctx)
	if err != nil {
		return rep, fmt.Errorf("reconcile: log size: %w", err)
	}
	rep.LogSize = size
	if size > 0 {
		if err := s.raiseClockToLeaf(ctx, size-1); err != nil {
			return rep, fmt.Errorf("reconcile: %w", err)
		}
	}
	if size > 0 {
		if _, _, err := s.log.AwaitIntegration(ctx, size-1); err != nil {
			return rep, fmt.Errorf("reconcile: wait for a checkpoint of size %d: %w", size, err)
		}
	}
	from, err := s.store.LogWatermark(ctx)
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	if from > size {
		return rep, fmt.Errorf("reconcile: the database says leaves below %d are settled but the log has only %d: "+
			"the log directory is older than the database (restored from another backup?)", from, size)
	}
	names := store.NewProjectNames(s.store)
	rows := store.NewLeafRows(s.store)
	var orphans []store.OrphanLeaf
	for i := from; i < size; i++ {
		entry, err := s.log.Entry(ctx, i)
		if err != nil {
			return rep, fmt.Errorf("reconcile: read leaf %d: %w", i, err)
		}
		rep.Scanned++
		row, ok, err := rows.At(ctx, i)
		if err != nil {
			return rep, fmt.Errorf("reconcile: %w", err)
		}
		if !ok {
			orphans = append(orphans, store.OrphanLeaf{LogIndex: i, Entry: entry, FoundAt: s.now()})
			continue
		}
		name, err := names.Name(ctx, row.ProjectID())
		if err != nil {
			return rep, fmt.Errorf("reconcile: %w", err)
		}
		if !bytes.Equal(leafRowEntry(name, row), entry) {
			rep.Mismatches++
			s.logger.ErrorContext(ctx, "log leaf and database row disagree: run attestd audit", "log_index", i)
		}
	}
	if len(orphans) > 0 {
		if err := s.store.AddOrphanLeaves(ctx, orphans); err != nil {
			return rep, fmt.Errorf("reconcile: record orphan leaves: %w", err)
		}
	}
	if err := s.store.SetLogWatermark(ctx, size); err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	all, err := s.store.ListOrphanLeaves(ctx)
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	claimable := make(map[string]uint64, len(all))
	for _, o := range all {
		claimable[string(o.Entry)] = o.LogIndex
	}
	beyond := 0
	if err := rows.Rest(ctx, size, func(r store.LeafRow) {
		if beyond++; beyond == 1 {
			s.logger.ErrorContext(ctx, "database rows name leaves beyond the log's size: run attestd audit",
				"log_size", size, "first_index", r.LogIndex)
		}
	}); err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	rep.NewOrphans, rep.Orphans = len(orphans), len(all)
	s.seqMu.Lock()
	s.seq = newSequencer(s.log, size, claimable)
	s.seqMu.Unlock()
	return rep, nil
}

// raiseClockToLeaf makes attestd's clock no earlier than the integration time of the newest row at or below
// leaf index (an orphan has none: the rows before it are looked at, at most store.MaxPageSize leaves back).
func (s *Server) raiseClockToLeaf(ctx context.Context, index uint64) error {
	from := uint64(0)
	if index >= store.MaxPageSize {
		from = index - store.MaxPageSize + 1
	}
	var newest time.Time
	rows := store.NewLeafRows(s.store)
	if err := rows.Rest(ctx, from, func(r store.LeafRow) {
		var t time.Time
		if r.Layout != nil {
			t = r.Layout.CreatedAt
		} else {
			t = r.Attestation.CreatedAt
		}
		if t.After(newest) {
			newest = t
		}
	}); err != nil {
		return err
	}
	if !newest.IsZero() {
		s.clock.raise(newest)
	}
	return nil
}

// KeepWatermark stores the sequencer's watermark every interval until ctx ends, and once more at the end, so
// that the next start-up's reconciliation scans only the leaves appended since.
func (s *Server) KeepWatermark(ctx context.Context, interval time.Duration) {
	save := func(ctx context.Context) {
		q := s.sequencer()
		if q == nil {
			return
		}
		if err := s.store.SetLogWatermark(ctx, q.watermark()); err != nil {
			s.logger.WarnContext(ctx, "store log watermark", "err", err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			save(sctx)
			cancel()
			return
		case <-t.C:
			save(ctx)
		}
	}
}
