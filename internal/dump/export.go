package dump

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/attestd/attestd/internal/store"
)

// pageSize is how many attestations (or decisions) Export holds at once: envelopes may be megabytes each.
const pageSize = 100

// Stats says what Export left out.
type Stats struct {
	// Unlogged is the number of attestation rows without a log index, which Export does not copy: attestd never
	// writes such rows (they were inserted behind its back, or stored before the log existed), reads never
	// show them, and attestd audit reports each as row-without-leaf.
	Unlogged int64
}

// Export reads the whole database of src and calls emit with each record, in the order of the format (see
// the package documentation). It holds at most one page of attestations and one project's keys, tokens,
// layouts (without content) and policies in memory.
//
// src may be in use: Export reads in an order that keeps the export consistent with the log while attestd
// writes (the watermark first, then the orphan leaves, then the rows; policies before the layouts they name),
// and leaves out the rows of projects created after it listed the projects. A layout without a log index
// cannot be copied through the store (AddLayout requires one): Export fails on it.
func Export(ctx context.Context, src store.Store, emit func(Record) error) (Stats, error) {
	var stats Stats
	watermark, err := src.LogWatermark(ctx)
	if err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	bootstrapID, err := src.BootstrapTokenID(ctx)
	if errors.Is(err, store.ErrNotFound) {
		bootstrapID, err = "", nil
	}
	if err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	orphanList, err := src.ListOrphanLeaves(ctx)
	if err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	// An orphan that a row claims while Export runs is dropped when the row is read, so that the export never
	// holds both.
	orphans := make(map[uint64]store.OrphanLeaf, len(orphanList))
	for _, o := range orphanList {
		orphans[o.LogIndex] = o
	}
	projects, err := src.ListProjects(ctx)
	if err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}

	if bootstrapID != "" {
		if err := emit(Record{Kind: KindBootstrap, Bootstrap: &Bootstrap{TokenID: bootstrapID}}); err != nil {
			return stats, err
		}
	}
	admins, err := src.ListTokens(ctx, 0)
	if err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	for _, t := range admins {
		if err := emit(tokenRecord(t, "")); err != nil {
			return stats, err
		}
	}
	names := make(map[int64]string, len(projects))
	for _, p := range projects {
		names[p.ID] = p.Name
		if err := exportProject(ctx, src, p, orphans, emit); err != nil {
			return stats, fmt.Errorf("export project %q: %w", p.Name, err)
		}
	}
	if err := exportDecisions(ctx, src, names, emit); err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	if err := exportAttestations(ctx, src, names, orphans, emit); err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	if stats.Unlogged, err = countUnlogged(ctx, src); err != nil {
		return stats, fmt.Errorf("export: %w", err)
	}
	for _, index := range slices.Sorted(maps.Keys(orphans)) {
		o := orphans[index]
		if err := emit(Record{Kind: KindOrphan, Orphan: &Orphan{LogIndex: o.LogIndex, Entry: o.Entry, FoundAt: utc(o.FoundAt)}}); err != nil {
			return stats, err
		}
	}
	return stats, emit(Record{Kind: KindWatermark, Watermark: &Watermark{Size: watermark}})
}

// exportProject emits the project, then its tokens, keys, layouts (every version, oldest first) and policies.
// The policies are read before the layouts, so that every layout a policy names is in the export even while
// layouts are pushed, and emitted after them, so that the target has the layout before the policy.
func exportProject(ctx context.Context, src store.Store, p store.Project, orphans map[uint64]store.OrphanLeaf, emit func(Record) error) error {
	policies, err := src.ListPolicies(ctx, p.ID, "")
	if err != nil {
		return err
	}
	if err := emit(projectRecord(p)); err != nil {
		return err
	}
	tokens, err := src.ListTokens(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if err := emit(tokenRecord(t, p.Name)); err != nil {
			return err
		}
	}
	keys, err := src.ListKeys(ctx, p.ID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := emit(keyRecord(k, p.Name)); err != nil {
			return err
		}
	}
	layouts, err := src.ListLayouts(ctx, p.ID, "")
	if err != nil {
		return err
	}
	// ListLayouts orders by name, newest version first: oldest first within each name instead.
	slices.SortFunc(layouts, func(a, b store.Layout) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	for _, l := range layouts {
		full, err := src.GetLayout(ctx, p.ID, l.Name, l.Version)
		if err != nil {
			return err
		}
		if full.LogIndex == nil {
			return fmt.Errorf("layout %q version %d has no log index (pushed before layouts were logged): "+
				"attestd cannot copy it", l.Name, l.Version)
		}
		delete(orphans, *full.LogIndex)
		if err := emit(layoutRecord(full, p.Name)); err != nil {
			return err
		}
	}
	for _, pol := range policies {
		if err := emit(policyRecord(pol, p.Name)); err != nil {
			return err
		}
	}
	return nil
}

// exportDecisions emits the decisions of the listed projects, oldest first.
func exportDecisions(ctx context.Context, src store.Store, names map[int64]string, emit func(Record) error) error {
	var after int64
	for {
		page, err := src.ScanDecisions(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, d := range page {
			after = d.ID
			if name, ok := names[d.ProjectID]; ok {
				if err := emit(decisionRecord(d, name)); err != nil {
					return err
				}
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// exportAttestations emits the logged attestations of the listed projects, ascending by log index, each with
// its anchor. The anchors of a page are read after the page: an anchor is committed with its attestation, so
// every attestation read that has one has it then, and exports it as it is at that moment.
func exportAttestations(ctx context.Context, src store.Store, names map[int64]string, orphans map[uint64]store.OrphanLeaf, emit func(Record) error) error {
	var from uint64
	for {
		page, err := src.ScanByLogIndex(ctx, from, pageSize)
		if err != nil {
			return err
		}
		anchors, err := anchorsOf(ctx, src, page, names)
		if err != nil {
			return err
		}
		for _, a := range page {
			from = *a.LogIndex + 1
			delete(orphans, *a.LogIndex)
			if name, ok := names[a.ProjectID]; ok {
				var anchor *store.Anchor
				if an, ok := anchors[anchorKey{a.ProjectID, a.ID}]; ok {
					anchor = &an
				}
				if err := emit(attestationRecord(a, name, anchor)); err != nil {
					return err
				}
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// anchorKey names an anchor: the project and the attestation id.
type anchorKey struct {
	projectID int64
	id        string
}

// anchorsOf reads the anchors of the attestations in page of the listed projects: one GetAnchors for each
// project of the page (a page is far below store.MaxGetAttestations).
func anchorsOf(ctx context.Context, src store.Store, page []store.Attestation, names map[int64]string) (map[anchorKey]store.Anchor, error) {
	ids := map[int64][]string{}
	for _, a := range page {
		if _, ok := names[a.ProjectID]; ok {
			ids[a.ProjectID] = append(ids[a.ProjectID], a.ID)
		}
	}
	out := map[anchorKey]store.Anchor{}
	for projectID, list := range ids {
		anchors, err := src.GetAnchors(ctx, projectID, list)
		if err != nil {
			return nil, err
		}
		for _, an := range anchors {
			out[anchorKey{projectID, an.AttestationID}] = an
		}
	}
	return out, nil
}

// countUnlogged counts the attestation rows without a log index.
func countUnlogged(ctx context.Context, src store.Store) (int64, error) {
	var n, after int64
	for {
		page, err := src.ScanUnlogged(ctx, after, pageSize)
		if err != nil {
			return 0, err
		}
		for _, a := range page {
			n++
			after = a.Seq
		}
		if len(page) < pageSize {
			return n, nil
		}
	}
}
