package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// A project's generation grows with every change of its keys, layouts, policies and Rekor settings, and only
// then.
var generationTests = []test{
	{name: "Grows", run: testGenerationGrows},
	{name: "Authenticate", run: testAuthenticate},
}

func generation(t *testing.T, s store.Store, projectID int64) int64 {
	t.Helper()
	p, err := s.ProjectByID(t.Context(), projectID)
	if err != nil {
		t.Fatal(err)
	}
	return p.Generation
}

func testGenerationGrows(t *testing.T, s store.Store) {
	p, other := mustProject(t, s, "alpha"), mustProject(t, s, "beta")
	gen := generation(t, s, p.ID)
	step := func(what string, grows bool, f func()) {
		t.Helper()
		f()
		g := generation(t, s, p.ID)
		if grows && g <= gen {
			t.Errorf("%s: generation %d -> %d, want it to grow", what, gen, g)
		}
		if !grows && g != gen {
			t.Errorf("%s: generation %d -> %d, want it unchanged", what, gen, g)
		}
		gen = g
	}
	k := newKey(p.ID, "gen", at(time.Minute))
	step("AddKey", true, func() { mustKey(t, s, k) })
	step("RevokeKey", true, func() {
		if err := s.RevokeKey(t.Context(), p.ID, k.KeyID, at(time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
	step("AddLayout", true, func() { mustLayout(t, s, newLayout(p.ID, "release", "gen")) })
	step("SetPolicy (new)", true, func() { mustPolicy(t, s, newPolicy(p.ID, "debs", "file", "*.deb", "release"), 10) })
	step("SetPolicy (replaced)", true, func() { mustPolicy(t, s, newPolicy(p.ID, "debs", "file", "*.rpm", "release"), 10) })
	step("DeletePolicy", true, func() {
		if err := s.DeletePolicy(t.Context(), p.ID, "debs"); err != nil {
			t.Fatal(err)
		}
	})
	step("InsertAttestation", false, func() { mustInsert(t, s, newAttestation(p.ID, "gen")) })
	step("SetProjectRekor", true, func() { mustRekor(t, s, p.ID, rekorURL, rekorKey) })
	anchored := newAttestation(p.ID, "anchored")
	step("InsertAttestation with an anchor", false, func() { mustInsert(t, s, anchored) })
	step("CompleteAnchor", false, func() {
		if err := s.CompleteAnchor(t.Context(), p.ID, anchored.ID, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	})
	step("SetProjectRekor (cleared)", true, func() { mustRekor(t, s, p.ID, "", nil) })
	step("CreateToken", false, func() { mustToken(t, s, newToken(p.ID, "gen", at(time.Minute))) })
	step("AddDecision", false, func() {
		if _, err := s.AddDecision(t.Context(), store.Decision{ProjectID: p.ID, Kind: "file", Name: "a", Digest: "sha256:" + digest("a")}); err != nil {
			t.Fatal(err)
		}
	})
	step("a refused AddKey", false, func() {
		if err := s.AddKey(t.Context(), k); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("AddKey again: %v", err)
		}
	})
	step("another project's key", false, func() { mustKey(t, s, newKey(other.ID, "theirs", at(time.Minute))) })
	if g := generation(t, s, other.ID); g == 0 {
		t.Errorf("beta's generation is still 0 after its key was added")
	}
}

func testAuthenticate(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	mustKey(t, s, newKey(p.ID, "auth", at(time.Minute)))
	want, err := s.ProjectByID(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok := mustToken(t, s, newToken(p.ID, "auth", at(time.Minute)))
	gotTok, gotProj, err := s.Authenticate(t.Context(), tok.Hash)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	byHash, err := s.TokenByHash(t.Context(), tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "Authenticate's token", normToken(gotTok), normToken(byHash))
	checkEqual(t, "Authenticate's project", normProject(gotProj), normProject(want))
	if want.Generation == 0 {
		t.Errorf("fixture: the project's generation should have grown with its key")
	}

	admin := newToken(0, "server admin", at(time.Minute))
	admin.Role = store.RoleServerAdmin
	mustToken(t, s, admin)
	gotTok, gotProj, err = s.Authenticate(t.Context(), admin.Hash)
	if err != nil || gotTok.ID != admin.ID || !reflect.DeepEqual(gotProj, store.Project{}) {
		t.Errorf("Authenticate(server admin) = %+v, %+v, %v; want the token and no project", gotTok, gotProj, err)
	}
	if _, _, err := s.Authenticate(t.Context(), make([]byte, 32)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Authenticate(unknown) = %v, want ErrNotFound", err)
	}
}
