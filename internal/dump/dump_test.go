package dump_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/audit"
	"github.com/attestd/attestd/internal/dump"
	"github.com/attestd/attestd/internal/dump/dumptest"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/store/sqlite"
	"github.com/attestd/attestd/internal/tlog"
)

// newSQLite returns a new, migrated, empty SQLite store.
func newSQLite(t *testing.T) store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "attestd.db")
	if err := sqlite.Migrate(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// newPostgres returns a store on a new, migrated, empty PostgreSQL database (see dbtest).
func newPostgres(t *testing.T) store.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// source is a populated SQLite installation.
func source(t *testing.T) (store.Store, dumptest.Installation) {
	t.Helper()
	st := newSQLite(t)
	return st, dumptest.Populate(t, st, t.TempDir())
}

// auditClean runs attestd's audit of st against the installation's log and fails t unless it is clean.
func auditClean(t *testing.T, st store.Store, dataDir, logDir string) audit.Report {
	t.Helper()
	vkey, err := os.ReadFile(filepath.Join(dataDir, tlog.PubFile))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Run(t.Context(), audit.Config{Store: st, Log: audit.Files{Dir: logDir},
		VerifierKey: strings.TrimSpace(string(vkey)), StateFile: filepath.Join(t.TempDir(), "audit.checkpoint")})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !rep.Clean() {
		t.Fatalf("audit found mismatches: %+v", rep.Findings)
	}
	return rep
}

func TestCopy(t *testing.T) {
	for _, target := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{{"sqlite", newSQLite}, {"postgres", newPostgres}} {
		t.Run(target.name, func(t *testing.T) {
			src, in := source(t)
			before := auditClean(t, src, in.DataDir, in.LogDir)
			dst := target.open(t)
			rep, err := dump.Copy(t.Context(), src, dst)
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			want := map[string]int64{dump.KindBootstrap: 1, dump.KindProject: 3, dump.KindToken: 7, dump.KindKey: 4,
				dump.KindLayout: 7, dump.KindPolicy: 2, dump.KindDecision: 5, dump.KindAttestation: int64(len(in.Attestations)),
				dump.KindOrphan: 1, dump.KindWatermark: 1}
			for kind, n := range want {
				if rep.Source[kind].Records != n || rep.Target[kind] != rep.Source[kind] {
					t.Errorf("%s: source %+v, target %+v; want %d records", kind, rep.Source[kind], rep.Target[kind], n)
				}
			}
			checkAnchorStates(t, in)
			dumptest.Compare(t, src, dst)
			after := auditClean(t, dst, in.DataDir, in.LogDir)
			if after.Rows != before.Rows || after.Leaves != before.Leaves || len(after.Orphans) != 1 {
				t.Errorf("audit of the copy: %d rows, %d leaves, %d orphans; of the source: %d rows, %d leaves",
					after.Rows, after.Leaves, len(after.Orphans), before.Rows, before.Leaves)
			}
			// A second bootstrap of the copy does nothing: attestd serve would not make a new admin token.
			if ok, err := dst.Bootstrap(t.Context(), store.Token{ID: "t-new", Hash: dumptest.TokenHash("new"), Role: store.RoleServerAdmin}); ok || err != nil {
				t.Errorf("Bootstrap of the copy = %v, %v; want false", ok, err)
			}
		})
	}
}

// TestCopyRefusesNonEmptyTarget: a target that holds anything is refused, and left as it was.
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	src, _ := source(t)
	for _, tc := range []struct {
		name  string
		fill  func(t *testing.T, st store.Store)
		holds string
	}{
		{"project", func(t *testing.T, st store.Store) {
			if _, err := st.CreateProject(t.Context(), "other"); err != nil {
				t.Fatal(err)
			}
		}, "1 project"},
		{"bootstrap", func(t *testing.T, st store.Store) {
			if _, err := st.Bootstrap(t.Context(), store.Token{ID: "t1", Hash: dumptest.TokenHash("x"), Role: store.RoleServerAdmin}); err != nil {
				t.Fatal(err)
			}
		}, "a bootstrap"},
		{"watermark", func(t *testing.T, st store.Store) {
			if err := st.SetLogWatermark(t.Context(), 7); err != nil {
				t.Fatal(err)
			}
		}, "watermark of 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := newSQLite(t)
			tc.fill(t, dst)
			before, err := dump.TallyOf(t.Context(), dst)
			if err != nil {
				t.Fatal(err)
			}
			_, err = dump.Copy(t.Context(), src, dst)
			var ne *dump.NotEmptyError
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), tc.holds) {
				t.Fatalf("Copy into a target with a %s: %v; want a NotEmptyError saying %q", tc.name, err, tc.holds)
			}
			after, err := dump.TallyOf(t.Context(), dst)
			if err != nil {
				t.Fatal(err)
			}
			if diff := dump.Diff(after, before); len(diff) > 0 {
				t.Errorf("the refused target changed: %v", diff)
			}
		})
	}
}

// TestExportFileRoundTrip: an export written to a file and read back imports into the same rows.
func TestExportFileRoundTrip(t *testing.T) {
	src, _ := source(t)
	var buf bytes.Buffer
	w := dump.NewWriter(&buf)
	stats, err := dump.Export(t.Context(), src, w.Write)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if stats.Unlogged != 0 {
		t.Errorf("Unlogged = %d, want 0", stats.Unlogged)
	}
	if n := strings.Count(buf.String(), "\n"); int64(n) != total(w.Tally().Counts()) {
		t.Errorf("%d lines, %d records", n, total(w.Tally().Counts()))
	}
	dst := newSQLite(t)
	im := dump.NewImporter(dst)
	var read dump.Tally
	err = dump.Read(bytes.NewReader(buf.Bytes()), func(r dump.Record) error {
		if err := read.Add(r); err != nil {
			return err
		}
		return im.Add(t.Context(), r)
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if err := im.Finish(); err != nil {
		t.Fatal(err)
	}
	if diff := dump.Diff(read.Counts(), w.Tally().Counts()); len(diff) > 0 {
		t.Errorf("read back: %v", diff)
	}
	dumptest.Compare(t, src, dst)
}

// checkAnchorStates fails t unless the installation has what its copy must carry over: anchors in every
// state, attestations without one, Rekor settings on one project and a policy that requires Rekor.
func checkAnchorStates(t *testing.T, in dumptest.Installation) {
	t.Helper()
	states := map[string]int{}
	for _, a := range in.Anchors {
		states[a.State]++
	}
	if states[store.AnchorPending] == 0 || states[store.AnchorDone] < 2 || states[store.AnchorFailed] == 0 ||
		len(in.Anchors) >= len(in.Attestations) {
		t.Errorf("the installation has anchors %v of %d attestations; want each state, and attestations without",
			states, len(in.Attestations))
	}
}

func total(counts map[string]dump.Count) int64 {
	var n int64
	for _, c := range counts {
		n += c.Records
	}
	return n
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"truncated", `{"kind":"watermark","watermark":{"size":1}}`, "does not end with a newline"},
		{"unknown field", `{"kind":"watermark","watermark":{"size":1,"x":2}}` + "\n", "unknown field"},
		{"missing field", `{"kind":"project","watermark":{"size":1}}` + "\n", `has no "project" field`},
		{"extra field", `{"kind":"project","project":{"name":"p"},"watermark":{"size":1}}` + "\n", `has a "watermark" field`},
		{"unknown kind", `{"kind":"table"}` + "\n", `unknown record kind "table"`},
		{"two values", `{"kind":"watermark","watermark":{"size":1}} {}` + "\n", "more than one record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dump.Read(strings.NewReader(tc.input), func(dump.Record) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read(%q) = %v, want an error saying %q", tc.input, err, tc.want)
			}
		})
	}
}

func TestImporterRefusesIncompleteExports(t *testing.T) {
	ctx := context.Background()
	st := newSQLite(t)
	im := dump.NewImporter(st)
	if err := im.Add(ctx, dump.Record{Kind: dump.KindProject, Project: &dump.Project{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	if err := im.Finish(); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("Finish without a watermark: %v", err)
	}
	if err := im.Add(ctx, dump.Record{Kind: dump.KindWatermark, Watermark: &dump.Watermark{}}); err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ctx, dump.Record{Kind: dump.KindProject, Project: &dump.Project{Name: "q"}}); err == nil {
		t.Error("a record after the watermark was accepted")
	}
	im2 := dump.NewImporter(newSQLite(t))
	if err := im2.Add(ctx, dump.Record{Kind: dump.KindKey, Key: &dump.Key{Project: "nowhere", KeyID: dumptest.KeyID("k")}}); err == nil ||
		!strings.Contains(err.Error(), "no project record") {
		t.Errorf("a key of an unknown project: %v", err)
	}
	im3 := dump.NewImporter(newSQLite(t))
	_ = im3.Add(ctx, dump.Record{Kind: dump.KindBootstrap, Bootstrap: &dump.Bootstrap{TokenID: "t-gone"}})
	_ = im3.Add(ctx, dump.Record{Kind: dump.KindWatermark, Watermark: &dump.Watermark{}})
	if err := im3.Finish(); err == nil || !strings.Contains(err.Error(), "t-gone") {
		t.Errorf("a bootstrap record without its token: %v", err)
	}
}
