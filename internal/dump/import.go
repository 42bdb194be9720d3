package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/attestd/attestd/internal/store"
)

// orphanBatch is how many orphan leaves the Importer records in one call.
const orphanBatch = 1000

// Importer writes the records of an export into a store, through the store's own methods, so that the
// target's invariants hold as if attestd had written the rows: versions assigned in order, log indices
// unique, every row checked. Records must come in the order of the format (as Export and Read give them),
// into an empty store (see CheckEmpty). An Importer is not safe for concurrent use.
//
// The projects' Rekor settings are set last, with the watermark: InsertAttestation records an anchor for
// every attestation of a project that has them, and the target must hold the anchors of the export (written
// with InsertAnchor, as they were), no more.
type Importer struct {
	st          store.Store
	projects    map[string]int64   // name -> id in the target
	rekor       []*Project         // the projects with Rekor settings, set with the watermark
	bootstrapID string             // from the bootstrap record
	booted      bool               // the bootstrap token was stored
	orphans     []store.OrphanLeaf // not yet recorded
	sawOrphan   bool
	done        bool // the watermark, the last record, was written
}

// NewImporter returns an Importer into st.
func NewImporter(st store.Store) *Importer {
	return &Importer{st: st, projects: map[string]int64{}}
}

// Add writes r to the target.
func (im *Importer) Add(ctx context.Context, r Record) error {
	if err := r.check(); err != nil {
		return err
	}
	if im.done {
		return fmt.Errorf("import: %s record after the watermark, which ends an export", r.Kind)
	}
	if r.Kind != KindOrphan && r.Kind != KindWatermark && im.sawOrphan {
		return fmt.Errorf("import: %s record after the orphan leaves", r.Kind)
	}
	var err error
	switch r.Kind {
	case KindBootstrap:
		if im.bootstrapID != "" {
			return errors.New("import: a second bootstrap record")
		}
		im.bootstrapID = r.Bootstrap.TokenID
	case KindProject:
		err = im.project(ctx, r.Project)
	case KindToken:
		err = im.token(ctx, r.Token)
	case KindKey:
		err = im.key(ctx, r.Key)
	case KindLayout:
		err = im.layout(ctx, r.Layout)
	case KindPolicy:
		err = im.policy(ctx, r.Policy)
	case KindDecision:
		err = im.decision(ctx, r.Decision)
	case KindAttestation:
		err = im.attestation(ctx, r.Attestation)
	case KindOrphan:
		im.sawOrphan = true
		im.orphans = append(im.orphans, store.OrphanLeaf{LogIndex: r.Orphan.LogIndex, Entry: r.Orphan.Entry, FoundAt: r.Orphan.FoundAt})
		if len(im.orphans) >= orphanBatch {
			err = im.flushOrphans(ctx)
		}
	case KindWatermark:
		err = im.watermark(ctx, r.Watermark.Size)
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// Finish checks that the export was complete: it ended with its watermark, and the bootstrap token it named
// was among its tokens.
func (im *Importer) Finish() error {
	if !im.done {
		return errors.New("import: the export ends before its watermark record: it is incomplete")
	}
	if im.bootstrapID != "" && !im.booted {
		return fmt.Errorf("import: the bootstrap token %s is not among the exported tokens", im.bootstrapID)
	}
	return nil
}

func (im *Importer) projectID(name string) (int64, error) {
	id, ok := im.projects[name]
	if !ok {
		return 0, fmt.Errorf("project %q has no project record before its rows", name)
	}
	return id, nil
}

func (im *Importer) project(ctx context.Context, p *Project) error {
	if _, dup := im.projects[p.Name]; dup {
		return fmt.Errorf("project %q twice", p.Name)
	}
	got, err := im.st.CreateProjectAt(ctx, p.Name, p.CreatedAt)
	if err != nil {
		return err
	}
	im.projects[p.Name] = got.ID
	if p.RekorURL != "" {
		im.rekor = append(im.rekor, p)
	}
	return nil
}

func (im *Importer) token(ctx context.Context, t *Token) error {
	var projectID int64
	if t.Project != "" {
		id, err := im.projectID(t.Project)
		if err != nil {
			return fmt.Errorf("token %s: %w", t.ID, err)
		}
		projectID = id
	}
	tok := t.store(projectID)
	if t.ID != im.bootstrapID {
		return im.st.CreateToken(ctx, tok)
	}
	ok, err := im.st.Bootstrap(ctx, tok)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("bootstrap with token %s: the target was bootstrapped already", t.ID)
	}
	im.booted = true
	return nil
}

func (im *Importer) key(ctx context.Context, k *Key) error {
	id, err := im.projectID(k.Project)
	if err != nil {
		return fmt.Errorf("key %s: %w", k.KeyID, err)
	}
	return im.st.AddKey(ctx, k.store(id))
}

func (im *Importer) layout(ctx context.Context, l *Layout) error {
	id, err := im.projectID(l.Project)
	if err != nil {
		return fmt.Errorf("layout %q: %w", l.Name, err)
	}
	got, err := im.st.AddLayout(ctx, l.store(id))
	if err != nil {
		return err
	}
	if got.Version != l.Version {
		return fmt.Errorf("layout %q of project %q: the target stored version %d as version %d (versions must "+
			"come in order, from 1)", l.Name, l.Project, l.Version, got.Version)
	}
	return nil
}

// policy sets the policy as it was first set, then as it was last set, so that both times survive.
func (im *Importer) policy(ctx context.Context, p *Policy) error {
	id, err := im.projectID(p.Project)
	if err != nil {
		return fmt.Errorf("policy %q: %w", p.Name, err)
	}
	pol := p.store(id)
	first := pol
	first.UpdatedAt = pol.CreatedAt
	got, err := im.st.SetPolicy(ctx, first, store.MaxPoliciesPerProject)
	if err == nil && !pol.UpdatedAt.Equal(pol.CreatedAt) {
		got, err = im.st.SetPolicy(ctx, pol, store.MaxPoliciesPerProject)
	}
	if err != nil {
		return err
	}
	if !got.CreatedAt.Equal(pol.CreatedAt) || !got.UpdatedAt.Equal(pol.UpdatedAt) {
		return fmt.Errorf("policy %q of project %q: stored with times %v, %v; want %v, %v", p.Name, p.Project,
			got.CreatedAt, got.UpdatedAt, pol.CreatedAt, pol.UpdatedAt)
	}
	return nil
}

func (im *Importer) decision(ctx context.Context, d *Decision) error {
	id, err := im.projectID(d.Project)
	if err != nil {
		return fmt.Errorf("decision: %w", err)
	}
	_, err = im.st.AddDecision(ctx, d.store(id))
	return err
}

func (im *Importer) attestation(ctx context.Context, a *Attestation) error {
	id, err := im.projectID(a.Project)
	if err != nil {
		return fmt.Errorf("attestation %s: %w", a.ID, err)
	}
	_, created, err := im.st.InsertAttestation(ctx, a.store(id))
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("attestation %s of project %q twice", a.ID, a.Project)
	}
	if a.Anchor != nil {
		return im.st.InsertAnchor(ctx, a.Anchor.store(id, a.ID))
	}
	return nil
}

func (im *Importer) flushOrphans(ctx context.Context) error {
	if len(im.orphans) == 0 {
		return nil
	}
	if err := im.st.AddOrphanLeaves(ctx, im.orphans); err != nil {
		return err
	}
	im.orphans = slices.Delete(im.orphans, 0, len(im.orphans))
	return nil
}

// watermark records the last orphans, the projects' Rekor settings (now that every attestation is in) and
// the watermark. That is the last write, and durable: a commit that waits for the disk also makes the
// decisions written before it durable.
func (im *Importer) watermark(ctx context.Context, size uint64) error {
	if err := im.flushOrphans(ctx); err != nil {
		return err
	}
	for _, p := range im.rekor {
		got, err := im.st.SetProjectRekor(ctx, im.projects[p.Name], p.RekorURL, p.RekorPublicKey)
		if err != nil {
			return fmt.Errorf("project %q: %w", p.Name, err)
		}
		if got.RekorURL != p.RekorURL || !bytes.Equal(got.RekorPublicKey, p.RekorPublicKey) {
			return fmt.Errorf("project %q: the target stored other Rekor settings", p.Name)
		}
	}
	if err := im.st.SetLogWatermark(ctx, size); err != nil {
		return err
	}
	im.done = true
	return nil
}
