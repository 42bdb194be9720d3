package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

var keyTests = []test{
	{name: "AddAndList", run: testKeyAddAndList},
	{name: "Duplicate", run: testKeyDuplicate},
	{name: "SameIDInTwoProjects", run: testKeySameIDInTwoProjects},
	{name: "Revoke", run: testKeyRevoke},
	{name: "RevokeElsewhere", run: testKeyRevokeElsewhere},
	{name: "Owner", run: testKeyOwner},
}

// newKey is a key of projectID named by label.
func newKey(projectID int64, label string, created time.Time) store.Key {
	return store.Key{
		ProjectID:   projectID,
		KeyID:       keyID(label),
		KeyType:     "ed25519",
		Scheme:      "ed25519",
		PublicPEM:   "-----BEGIN PUBLIC KEY-----\n" + label + "\n-----END PUBLIC KEY-----\n",
		Description: "key " + label,
		CreatedAt:   created,
	}
}

func mustKey(t *testing.T, s store.Store, k store.Key) store.Key {
	t.Helper()
	if err := s.AddKey(t.Context(), k); err != nil {
		t.Fatalf("AddKey(%s): %v", k.KeyID, err)
	}
	return k
}

func listKeys(t *testing.T, s store.Store, projectID int64) []store.Key {
	t.Helper()
	list, err := s.ListKeys(t.Context(), projectID)
	if err != nil {
		t.Fatalf("ListKeys(%d): %v", projectID, err)
	}
	var out []store.Key
	for _, k := range list {
		out = append(out, normKey(k))
	}
	return out
}

func normKeys(list ...store.Key) []store.Key {
	var out []store.Key
	for _, k := range list {
		out = append(out, normKey(k))
	}
	return out
}

func testKeyAddAndList(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	if got := listKeys(t, s, p.ID); len(got) != 0 {
		t.Fatalf("ListKeys of a new project = %v", got)
	}
	// Added out of order: the list is by creation time.
	late := newKey(p.ID, "late", at(time.Hour))
	late.KeyType, late.Scheme = "ecdsa", "ecdsa-sha2-nistp256"
	late.ExpiresAt = timePtr(at(24*time.Hour + 5*time.Microsecond))
	mustKey(t, s, late)
	early := mustKey(t, s, newKey(p.ID, "early", baseTime))
	checkEqual(t, "ListKeys", listKeys(t, s, p.ID), normKeys(early, late))
}

func testKeyDuplicate(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	k := mustKey(t, s, newKey(p.ID, "a", baseTime))
	again := newKey(p.ID, "a", at(time.Hour))
	again.Description = "again"
	if err := s.AddKey(t.Context(), again); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("AddKey of a registered key id: err = %v, want ErrAlreadyExists", err)
	}
	checkEqual(t, "ListKeys after the duplicate", listKeys(t, s, p.ID), normKeys(k))
}

func testKeySameIDInTwoProjects(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	k1 := mustKey(t, s, newKey(p1.ID, "shared", baseTime))
	k2 := newKey(p2.ID, "shared", at(time.Minute))
	k2.Description = "the same key, registered by beta"
	mustKey(t, s, k2)
	checkEqual(t, "keys of alpha", listKeys(t, s, p1.ID), normKeys(k1))
	checkEqual(t, "keys of beta", listKeys(t, s, p2.ID), normKeys(k2))

	if err := s.RevokeKey(t.Context(), p2.ID, k2.KeyID, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkEqual(t, "keys of alpha after beta revoked its copy", listKeys(t, s, p1.ID), normKeys(k1))
}

func testKeyRevoke(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	k := mustKey(t, s, newKey(p.ID, "a", baseTime))
	keep := mustKey(t, s, newKey(p.ID, "b", at(time.Second)))
	revokedAt := at(time.Hour + 3*time.Microsecond)
	if err := s.RevokeKey(t.Context(), p.ID, k.KeyID, revokedAt); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	k.RevokedAt = timePtr(revokedAt)
	checkEqual(t, "ListKeys after revoking (revoked keys are listed)", listKeys(t, s, p.ID), normKeys(k, keep))
}

// testKeyRevokeElsewhere: another project's key is not found, exactly like a key that does not exist.
func testKeyRevokeElsewhere(t *testing.T, s store.Store) {
	p1 := mustProject(t, s, "alpha")
	p2 := mustProject(t, s, "beta")
	k := mustKey(t, s, newKey(p1.ID, "a", baseTime))
	for _, tc := range []struct {
		project int64
		keyID   string
	}{
		{p2.ID, k.KeyID},
		{p1.ID, keyID("unknown")},
		{p2.ID + 1000, k.KeyID},
	} {
		err := s.RevokeKey(t.Context(), tc.project, tc.keyID, at(time.Hour))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeKey(%d, %.8s): err = %v, want ErrNotFound", tc.project, tc.keyID, err)
		}
	}
	checkEqual(t, "keys of alpha", listKeys(t, s, p1.ID), normKeys(k))
	if got := listKeys(t, s, p2.ID); len(got) != 0 {
		t.Errorf("ListKeys of beta shows alpha's keys: %v", got)
	}
}

// testKeyOwner: the owner flag round-trips, and keys added without it are functionary keys.
func testKeyOwner(t *testing.T, s store.Store) {
	p := mustProject(t, s, "alpha")
	fn := mustKey(t, s, newKey(p.ID, "functionary", baseTime))
	owner := newKey(p.ID, "owner", at(time.Second))
	owner.Owner = true
	mustKey(t, s, owner)
	checkEqual(t, "ListKeys", listKeys(t, s, p.ID), normKeys(fn, owner))
}
