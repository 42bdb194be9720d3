package server

import (
	"fmt"
	"slices"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

func feedAttestation(project int64, step string, subjects, materials []string) store.Attestation {
	a := store.Attestation{ProjectID: project, Step: step}
	for i, d := range subjects {
		a.Subjects = append(a.Subjects, store.Artifact{Name: fmt.Sprint("s", i), Algorithm: "sha256", Digest: d})
	}
	for i, d := range materials {
		a.Materials = append(a.Materials, store.Artifact{Name: fmt.Sprint("m", i), Algorithm: "sha256", Digest: d})
	}
	return a
}

func TestLeafFeedBounds(t *testing.T) {
	f := newLeafFeed()
	if _, next, ok := f.since(0); !ok || next != 0 {
		t.Fatalf("empty feed: since(0) = %d, %t", next, ok)
	}
	for i := range feedMaxEntries + 10 {
		f.add(f.entryOf(feedAttestation(1, "build", []string{fmt.Sprint(i)}, nil)))
	}
	if p := f.position(); p != feedMaxEntries+10 {
		t.Fatalf("position %d", p)
	}
	if _, _, ok := f.since(9); ok {
		t.Fatal("entries beyond the bound are still returned")
	}
	got, next, ok := f.since(10)
	if !ok || len(got) != feedMaxEntries || next != feedMaxEntries+10 {
		t.Fatalf("since(10): %d entries, next %d, %t", len(got), next, ok)
	}
	if _, _, ok := f.since(next + 1); ok {
		t.Fatal("a position beyond the feed's is accepted")
	}
	// Many more rows: what since returned earlier stays as it was, the newest rows are returned in order,
	// and the forgotten ones do not pile up.
	held := slices.Clone(got)
	heldView := got
	for i := range 3 * feedMaxEntries {
		f.add(f.entryOf(feedAttestation(1, fmt.Sprint("step ", i), []string{fmt.Sprint(i)}, nil)))
		if len(f.entries) > 2*feedMaxEntries {
			t.Fatalf("after %d more rows the feed holds %d entries", i+1, len(f.entries))
		}
	}
	for i := range heldView {
		if heldView[i].step != held[i].step || !slices.Equal(heldView[i].subjects, held[i].subjects) {
			t.Fatalf("entry %d returned earlier changed", i)
		}
	}
	last, _, ok := f.since(f.position() - 3)
	if !ok || len(last) != 3 || last[2].step != fmt.Sprint("step ", 3*feedMaxEntries-1) || last[0].step != fmt.Sprint("step ", 3*feedMaxEntries-3) {
		t.Fatalf("the newest three: %d entries, %t", len(last), ok)
	}
	// The digest budget: one huge row pushes out all but itself.
	huge := make([]string, feedMaxDigests)
	for i := range huge {
		huge[i] = fmt.Sprint(i)
	}
	f.add(f.entryOf(feedAttestation(1, "build", huge, []string{"x"})))
	if got, _, ok := f.since(f.position() - 1); !ok || len(got) != 1 || len(f.entries)-f.off != 1 {
		t.Fatalf("after a row over the digest budget: %d entries kept", len(f.entries)-f.off)
	}
}

// TestKeptGathering: a kept gathering is returned, with the same id, while the rows settled since touch nothing
// it asked for, and never once one does: a subject it walked back to, a material it looked for consumers of,
// a step it took hints of, in its project, whatever the row's log index (a retry claiming an old orphan
// leaf settles a row below the log's size).
func TestKeptGathering(t *testing.T) {
	d := func(s string) store.Digest { return store.Digest{Algorithm: "sha256", Value: s} }
	g := gathered{walked: map[store.Digest]bool{d("art"): true, d("obj"): true},
		consumed: map[store.Digest]bool{d("src"): true}, hintSteps: []string{"test"}}
	key := gatherKey{project: 1, layoutID: "l", digest: d("art")}

	cases := []struct {
		name  string
		row   store.Attestation
		holds bool
	}{
		{"unrelated row", feedAttestation(1, "build", []string{"other"}, []string{"other-src"}), true},
		{"another project's row on the same digests", feedAttestation(2, "test", []string{"obj"}, []string{"src"}), true},
		{"a material already walked through (not a consumer query)", feedAttestation(1, "package", []string{"x"}, []string{"obj"}), true},
		{"a new producer of a walked digest", feedAttestation(1, "build", []string{"obj"}, nil), false},
		{"a new consumer of a consumed digest", feedAttestation(1, "compile", []string{"y"}, []string{"src"}), false},
		{"a new attestation of a hinted step", feedAttestation(1, "test", []string{"z"}, nil), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Server{cache: newVerifyCache()}
			f := newLeafFeed()
			f.add(f.entryOf(feedAttestation(1, "build", []string{"before"}, nil)))
			id := s.keepGathering(key, f, f.position(), g)
			if id == 0 {
				t.Fatal("not kept")
			}
			if _, got, ok := s.keptGathering(key, f); !ok || got != id {
				t.Fatalf("nothing since: kept %t, id %d want %d", ok, got, id)
			}
			f.add(f.entryOf(c.row))
			_, got, ok := s.keptGathering(key, f)
			if ok != c.holds || (ok && got != id) {
				t.Fatalf("kept %t (id %d, was %d), want %t", ok, got, id, c.holds)
			}
			// Another feed (a new sequencer) never vouches for it.
			if _, _, ok := s.keptGathering(key, newLeafFeed()); ok {
				t.Fatal("kept under another feed")
			}
		})
	}

	t.Run("truncated gatherings are not kept", func(t *testing.T) {
		s := &Server{cache: newVerifyCache()}
		f := newLeafFeed()
		tg := g
		tg.truncated = true
		if id := s.keepGathering(key, f, 0, tg); id != 0 {
			t.Fatalf("kept as %d", id)
		}
	})
	t.Run("older than the feed remembers", func(t *testing.T) {
		s := &Server{cache: newVerifyCache()}
		f := newLeafFeed()
		s.keepGathering(key, f, 0, g)
		for i := range feedMaxEntries + 1 {
			f.add(f.entryOf(feedAttestation(1, "build", []string{fmt.Sprint("u", i)}, nil)))
		}
		if _, _, ok := s.keptGathering(key, f); ok {
			t.Fatal("kept past what the feed remembers")
		}
	})
}
