package storetest

import (
	"errors"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

var projectTests = []test{
	{name: "CreateAndGet", run: testProjectCreateAndGet},
	{name: "DuplicateName", run: testProjectDuplicateName},
	{name: "NotFound", run: testProjectNotFound},
	{name: "ListByName", run: testProjectList},
}

func testProjectCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	if p.ID == 0 || p.Name != "alpha" || p.CreatedAt.IsZero() {
		t.Fatalf("CreateProject = %+v, want an id, the name and a creation time", p)
	}
	q := mustProject(t, s, "beta")
	if q.ID == p.ID {
		t.Fatalf("two projects with id %d", p.ID)
	}
	byName, err := s.ProjectByName(ctx, "alpha")
	if err != nil {
		t.Fatalf("ProjectByName: %v", err)
	}
	checkEqual(t, "ProjectByName", normProject(byName), normProject(p))
	byID, err := s.ProjectByID(ctx, p.ID)
	if err != nil {
		t.Fatalf("ProjectByID: %v", err)
	}
	checkEqual(t, "ProjectByID", normProject(byID), normProject(p))
}

func testProjectDuplicateName(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	if _, err := s.CreateProject(t.Context(), "alpha"); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateProject of a taken name: err = %v, want ErrAlreadyExists", err)
	}
	list, err := s.ListProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "ListProjects after the duplicate", projectNames(list), []string{"alpha"})
	if len(list) == 1 && list[0].ID != p.ID {
		t.Errorf("the project changed id: %d, was %d", list[0].ID, p.ID)
	}
}

func testProjectNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := mustProject(t, s, "alpha")
	if _, err := s.ProjectByName(ctx, "Alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ProjectByName(Alpha): err = %v, want ErrNotFound (names are exact)", err)
	}
	if _, err := s.ProjectByName(ctx, "%"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ProjectByName(%%): err = %v, want ErrNotFound", err)
	}
	for _, id := range []int64{0, -1, p.ID + 1000} {
		if _, err := s.ProjectByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ProjectByID(%d): err = %v, want ErrNotFound", id, err)
		}
	}
}

func testProjectList(t *testing.T, s store.Store) {
	list, err := s.ListProjects(t.Context())
	if err != nil {
		t.Fatalf("ListProjects of an empty store: %v", err)
	}
	if len(list) != 0 {
		t.Fatalf("ListProjects of an empty store = %v", list)
	}
	created := map[string]store.Project{}
	for _, name := range []string{"gamma", "alpha", "delta-2", "Zeta", "beta", "delta-10"} {
		created[name] = mustProject(t, s, name)
	}
	list, err = s.ListProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Byte order: upper case before lower case, whatever the database's locale.
	want := []string{"Zeta", "alpha", "beta", "delta-10", "delta-2", "gamma"}
	checkEqual(t, "ListProjects", projectNames(list), want)
	for _, p := range list {
		checkEqual(t, "listed project", normProject(p), normProject(created[p.Name]))
	}
}

func projectNames(list []store.Project) []string {
	names := []string{}
	for _, p := range list {
		names = append(names, p.Name)
	}
	return names
}
