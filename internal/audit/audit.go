// Package audit checks that attestd's database and its transparency log tell the same story, so that a row
// changed, dropped or added behind attestd's back, or a log tampered with on disk, is found.
//
// Run walks every leaf of the log and every row of the database and reports each mismatch:
//
//   - checkpoint-signature: the published checkpoint does not verify with the log's key;
//   - rollback, inconsistent: the tree is smaller than, or does not extend, the checkpoint the previous audit saw;
//   - tree-root: the leaves on disk do not hash to the checkpoint's root;
//   - leaf-without-row: a leaf has no row (a row was deleted);
//   - entry-mismatch: a row's recomputed entry (project, id, sha256 of the stored envelope) differs from its leaf
//     (an envelope or id was changed);
//   - row-without-leaf: a row has no log index (inserted behind attestd's back; reads never show it);
//   - row-beyond-tree: a row names a leaf the tree does not have.
//
// Leaves recorded as orphans at start-up (sequenced, never acknowledged: attestd crashed before the row
// committed) are listed apart and are not mismatches. Run reads only; it remembers the last checkpoint it
// verified in a state file so that the next audit can check the tree only grew.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// Log is what the audit reads of the log: the published checkpoint and the leaves, from the files on disk.
type Log interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	// Entries calls yield for every leaf in [from, to), in order.
	Entries(ctx context.Context, from, to uint64, yield func(index uint64, entry []byte) error) error
}

// Config is what Run needs.
type Config struct {
	Store       store.Store
	Log         Log
	VerifierKey string // the log's note verifier key
	StateFile   string // where the last verified checkpoint is kept between audits
}

// Finding is one mismatch.
type Finding struct {
	Kind     string  `json:"kind"`
	LogIndex *uint64 `json:"log_index,omitempty"`
	Project  string  `json:"project,omitempty"`
	ID       string  `json:"attestation_id,omitempty"`
	Detail   string  `json:"detail"`
}

// Report is what Run found.
type Report struct {
	Origin   string    `json:"origin"`
	TreeSize uint64    `json:"tree_size"`
	RootHash string    `json:"root_hash"`
	Leaves   uint64    `json:"leaves"`
	Rows     uint64    `json:"rows"`
	Orphans  []Finding `json:"orphans,omitempty"`
	Findings []Finding `json:"findings"`
}

// Clean reports whether the audit found no mismatch.
func (r Report) Clean() bool { return len(r.Findings) == 0 }

func (r *Report) add(kind string, index *uint64, project, id, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Kind: kind, LogIndex: index, Project: project, ID: id, Detail: fmt.Sprintf(format, args...)})
}

func ptr(i uint64) *uint64 { return &i }

// Run audits the whole log and database. An error means the audit could not complete; mismatches are in the
// report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	rep := Report{Findings: []Finding{}}
	raw, err := cfg.Log.ReadCheckpoint(ctx)
	if err != nil {
		return rep, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, cfg.VerifierKey)
	if err != nil {
		rep.add("checkpoint-signature", nil, "", "", "the published checkpoint does not verify with the log key: %v", err)
		return rep, nil
	}
	rep.Origin, rep.TreeSize, rep.RootHash = cp.Origin, cp.Size, hex.EncodeToString(cp.Hash)
	prev, err := loadState(cfg.StateFile, cfg.VerifierKey)
	if err != nil {
		return rep, err
	}
	if prev != nil && prev.Size > cp.Size {
		rep.add("rollback", nil, "", "", "the tree has %d leaves but the previous audit saw a checkpoint of %d", cp.Size, prev.Size)
	}

	names := store.NewProjectNames(cfg.Store)
	projectName := func(id int64) (string, error) { return names.Name(ctx, id) }
	orphans := map[uint64][]byte{}
	ols, err := cfg.Store.ListOrphanLeaves(ctx)
	if err != nil {
		return rep, err
	}
	for _, o := range ols {
		orphans[o.LogIndex] = o.Entry
	}

	rows := store.NewLeafRows(cfg.Store)
	tree := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	err = cfg.Log.Entries(ctx, 0, cp.Size, func(i uint64, entry []byte) error {
		rep.Leaves++
		if err := tree.Append(rfc6962.DefaultHasher.HashLeaf(entry), nil); err != nil {
			return err
		}
		if prev != nil && tree.End() == prev.Size && prev.Size <= cp.Size {
			root, err := tree.GetRootHash(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(root, prev.Hash) {
				rep.add("inconsistent", nil, "", "", "the first %d leaves hash to %x, but the previous audit verified root %x for that size (split view or rewritten log)", prev.Size, root, prev.Hash)
			}
		}
		row, ok, err := rows.At(ctx, i)
		if err != nil {
			return err
		}
		if !ok {
			if o, isOrphan := orphans[i]; isOrphan && bytes.Equal(o, entry) {
				rep.Orphans = append(rep.Orphans, Finding{Kind: "orphan", LogIndex: ptr(i), Detail: "orphan: sequenced, but its row never committed (crash or database error), so never acknowledged; not yet claimed by a retry"})
				return nil
			}
			rep.add("leaf-without-row", ptr(i), "", "", "leaf %d has no row in the database", i)
			return nil
		}
		rep.Rows++
		name, err := projectName(row.ProjectID())
		if err != nil {
			return err
		}
		if l := row.Layout; l != nil {
			if got := tlog.EntryForLayout(name, l.Name, l.Content); !bytes.Equal(got, entry) {
				why := "the row's project or layout name differs from what the leaf commits to"
				if sum := sha256.Sum256(l.Content); l.ID != hex.EncodeToString(sum[:]) {
					why = "the stored layout's sha256 is not its id (layout changed)"
				}
				rep.add("entry-mismatch", ptr(i), name, "layout "+l.Name, "leaf %d does not match its layout row (version %d): %s", i, l.Version, why)
			}
			return nil
		}
		a := row.Attestation
		sum := sha256.Sum256(a.Envelope)
		if got := tlog.EntryForEnvelope(name, a.ID, a.Envelope); !bytes.Equal(got, entry) {
			why := "the row's project or id differs from what the leaf commits to"
			if a.ID != hex.EncodeToString(sum[:]) {
				why = "the stored envelope's sha256 is not the attestation id (envelope changed)"
			}
			rep.add("entry-mismatch", ptr(i), name, a.ID, "leaf %d does not match its row: %s", i, why)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("walk log: %w", err)
	}
	if rep.Leaves != cp.Size {
		rep.add("tree-root", nil, "", "", "the log has %d readable leaves, its checkpoint says %d", rep.Leaves, cp.Size)
	} else if root, err := treeRoot(tree); err != nil {
		return rep, err
	} else if !bytes.Equal(root, cp.Hash) {
		rep.add("tree-root", nil, "", "", "the leaves on disk hash to %x, the checkpoint says %x", root, cp.Hash)
	}
	if err := rows.Rest(ctx, cp.Size, func(r store.LeafRow) {
		rep.Rows++
		name, _ := projectName(r.ProjectID())
		var id string
		if r.Attestation != nil {
			id = r.Attestation.ID
		} else {
			id = "layout " + r.Layout.Name
		}
		rep.add("row-beyond-tree", &r.LogIndex, name, id, "row names leaf %d, the tree has %d", r.LogIndex, cp.Size)
	}); err != nil {
		return rep, err
	}
	var after int64
	for {
		page, err := cfg.Store.ScanUnlogged(ctx, after, store.MaxPageSize)
		if err != nil {
			return rep, err
		}
		for _, a := range page {
			rep.Rows++
			name, _ := projectName(a.ProjectID)
			rep.add("row-without-leaf", nil, name, a.ID, "row %s has no log index: written behind attestd's back", a.ID)
			after = a.Seq
		}
		if len(page) < store.MaxPageSize {
			break
		}
	}
	if !hasKind(rep.Findings, "tree-root", "rollback", "inconsistent") {
		if err := saveState(cfg.StateFile, raw); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// treeRoot is the RFC 6962 root of the leaves in tree; the empty tree's is SHA-256 of nothing, which compact
// ranges leave out.
func treeRoot(tree *compact.Range) ([]byte, error) {
	if tree.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return tree.GetRootHash(nil)
}

func hasKind(fs []Finding, kinds ...string) bool {
	for _, f := range fs {
		for _, k := range kinds {
			if f.Kind == k {
				return true
			}
		}
	}
	return false
}

func loadState(path, verifierKey string) (*tlog.Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit state: %w", err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, verifierKey)
	if err != nil {
		return nil, fmt.Errorf("audit state %s does not verify with the log key: %w", path, err)
	}
	return &cp, nil
}

func saveState(path string, raw []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save audit state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("save audit state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save audit state: %w", err)
	}
	return nil
}
