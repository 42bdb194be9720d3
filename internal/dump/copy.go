package dump

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/attestd/attestd/internal/store"
)

// NotEmptyError is the refusal of a target database that holds data already: copying into it would mix two
// installations. It lists what the target holds.
type NotEmptyError struct {
	Holds []string // e.g. "3 projects", "a bootstrap token"
}

func (e *NotEmptyError) Error() string {
	return "the target database is not empty: it holds " + strings.Join(e.Holds, ", ") +
		"; copy into a new database (created and migrated, never served)"
}

// CheckEmpty returns a *NotEmptyError unless st holds nothing that an export would copy: no project, no
// server-admin token, no bootstrap, no orphan leaf, a zero watermark. (Every other row belongs to a project.)
func CheckEmpty(ctx context.Context, st store.Store) error {
	var holds []string
	projects, err := st.ListProjects(ctx)
	if err != nil {
		return fmt.Errorf("check the target is empty: %w", err)
	}
	if len(projects) > 0 {
		holds = append(holds, plural(len(projects), "project"))
	}
	admins, err := st.ListTokens(ctx, 0)
	if err != nil {
		return fmt.Errorf("check the target is empty: %w", err)
	}
	if len(admins) > 0 {
		holds = append(holds, plural(len(admins), "server-admin token"))
	}
	switch _, err := st.BootstrapTokenID(ctx); {
	case err == nil:
		holds = append(holds, "a bootstrap (attestd serve ran on it)")
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("check the target is empty: %w", err)
	}
	orphans, err := st.ListOrphanLeaves(ctx)
	if err != nil {
		return fmt.Errorf("check the target is empty: %w", err)
	}
	if len(orphans) > 0 {
		holds = append(holds, plural(len(orphans), "orphan leaf"))
	}
	wm, err := st.LogWatermark(ctx)
	if err != nil {
		return fmt.Errorf("check the target is empty: %w", err)
	}
	if wm > 0 {
		holds = append(holds, fmt.Sprintf("a log watermark of %d", wm))
	}
	if len(holds) > 0 {
		return &NotEmptyError{Holds: holds}
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "leaf") {
		return fmt.Sprintf("%d %sves", n, strings.TrimSuffix(what, "f"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// MismatchError says that a copy, read back from its target, differs from what was written: which kinds, and
// how (see Diff).
type MismatchError struct {
	Differences []string
}

func (e *MismatchError) Error() string {
	return "the target differs from the source after the copy: " + strings.Join(e.Differences, "; ")
}

// Report is what Copy did: the tally of the source as exported and of the target as read back afterwards.
type Report struct {
	Source, Target map[string]Count
	Stats          Stats
}

// Copy copies the database of src into dst, which must be empty (CheckEmpty), through dst's store methods,
// then exports dst and compares the two, kind by kind, count and contents. A difference is a
// *MismatchError, with the Report filled in. src is only read.
func Copy(ctx context.Context, src, dst store.Store) (Report, error) {
	var rep Report
	if err := CheckEmpty(ctx, dst); err != nil {
		return rep, err
	}
	var source Tally
	im := NewImporter(dst)
	stats, err := Export(ctx, src, func(r Record) error {
		if err := source.Add(r); err != nil {
			return err
		}
		return im.Add(ctx, r)
	})
	rep.Stats, rep.Source = stats, source.Counts()
	if err != nil {
		return rep, err
	}
	if err := im.Finish(); err != nil {
		return rep, err
	}
	rep.Target, err = TallyOf(ctx, dst)
	if err != nil {
		return rep, fmt.Errorf("read the target back: %w", err)
	}
	if diff := Diff(rep.Target, rep.Source); len(diff) > 0 {
		return rep, &MismatchError{Differences: diff}
	}
	return rep, nil
}

// TallyOf exports st into a Tally alone and returns its counts: what a copy of st is compared with.
func TallyOf(ctx context.Context, st store.Store) (map[string]Count, error) {
	var t Tally
	if _, err := Export(ctx, st, t.Add); err != nil {
		return nil, err
	}
	return t.Counts(), nil
}
