package sqlite_test

import (
	"crypto/sha256"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/sqlite"
)

// TestSchemaChecks: the store refuses values that no correct caller sends, as the PostgreSQL schema does,
// with errors that are none of the sentinels.
func TestSchemaChecks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := open(t, newDB(t))
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	good := newAttestation(p.ID, "good", 0)
	hash := sha256.Sum256([]byte("secret"))
	keyID := strings.Repeat("0f", 32)
	layoutContent := []byte("layout")

	for name, err := range map[string]error{
		"attestation id that is not the sha256 of the envelope": func() error {
			a := good
			a.ID = strings.Repeat("0", 64)
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"attestation id in upper case": func() error {
			a := good
			a.ID = strings.ToUpper(a.ID)
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"signer key id that is not hex": func() error {
			a := good
			a.SignerKeyIDs = []string{"not-a-key-id"}
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"empty payload type": func() error {
			a := good
			a.PayloadType = ""
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"log index beyond int64": func() error {
			a := good
			a.LogIndex = new(uint64(math.MaxInt64) + 1)
			_, _, err := st.InsertAttestation(ctx, a)
			return err
		}(),
		"layout id that is not the sha256 of the content": func() error {
			_, err := st.AddLayout(ctx, store.Layout{ProjectID: p.ID, Name: "l", ID: strings.Repeat("0", 64),
				Content: layoutContent, LogIndex: new(uint64(10))})
			return err
		}(),
		"layout signer that is not hex": func() error {
			_, err := st.AddLayout(ctx, store.Layout{ProjectID: p.ID, Name: "l", ID: sha256Hex(layoutContent),
				Content: layoutContent, SignerKeyIDs: []string{"A"}, LogIndex: new(uint64(10))})
			return err
		}(),
		"token step that is not UTF-8": st.CreateToken(ctx, store.Token{ID: "t0", Hash: hash[:], ProjectID: p.ID,
			Role: store.RoleAttestor, Steps: []string{"\xff"}}),
		"watermark beyond int64": st.SetLogWatermark(ctx, math.MaxUint64),
		"orphan leaf beyond int64": st.AddOrphanLeaves(ctx,
			[]store.OrphanLeaf{{LogIndex: 1}, {LogIndex: math.MaxInt64 + 1, Entry: []byte("x")}}),
		"unknown role": st.CreateToken(ctx, store.Token{ID: "t1", Hash: hash[:], ProjectID: p.ID, Role: "root"}),
		"server-admin token in a project": st.CreateToken(ctx,
			store.Token{ID: "t2", Hash: hash[:], ProjectID: p.ID, Role: store.RoleServerAdmin}),
		"project token without project": st.CreateToken(ctx,
			store.Token{ID: "t3", Hash: hash[:], Role: store.RoleReader}),
		"token hash of the wrong length": st.CreateToken(ctx,
			store.Token{ID: "t4", Hash: hash[:16], ProjectID: p.ID, Role: store.RoleReader}),
		"key id in upper case": st.AddKey(ctx, store.Key{ProjectID: p.ID, KeyID: strings.ToUpper(keyID),
			KeyType: "ed25519", Scheme: "ed25519", PublicPEM: "pem"}),
		"empty project name": func() error { _, err := st.CreateProject(ctx, ""); return err }(),
		"unknown decision kind": func() error {
			_, err := st.AddDecision(ctx, store.Decision{ProjectID: p.ID, Kind: "car", Name: "x", Digest: "d"})
			return err
		}(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrAlreadyExists) ||
			errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want a plain error", name, err)
		}
	}
	if w, err := st.LogWatermark(ctx); err != nil || w != 0 {
		t.Errorf("LogWatermark after the refused set = %d, %v", w, err)
	}
	if leaves, err := st.ListOrphanLeaves(ctx); err != nil || len(leaves) != 0 {
		t.Errorf("orphan leaves after the refused add = %v, %v; want none (all or nothing)", leaves, err)
	}
	if _, created, err := st.InsertAttestation(ctx, good); err != nil || !created {
		t.Errorf("the valid attestation: created %v, err %v", created, err)
	}
}

// TestDefaultsAndTimes: a zero creation time is now, times come back in UTC to the microsecond (finer parts
// cut off, the same in what a write returns and in what reads return), and a second revocation keeps the first
// time.
func TestDefaultsAndTimes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := open(t, newDB(t))
	before := time.Now().Add(-time.Minute)
	p, err := st.CreateProject(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte("secret"))
	if err := st.CreateToken(ctx, store.Token{ID: "t", Hash: hash[:], ProjectID: p.ID, Role: store.RoleReader}); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, p.ID, "t", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, p.ID, "t", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	tok, err := st.TokenByHash(ctx, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Minute)
	for name, tm := range map[string]time.Time{"project": p.CreatedAt, "token": tok.CreatedAt, "revocation": *tok.RevokedAt} {
		if tm.Before(before) || tm.After(after) || tm.Location() != time.UTC {
			t.Errorf("%s time = %v, want about now, in UTC", name, tm)
		}
	}

	a := newAttestation(p.ID, "times", 0)
	east := time.FixedZone("east", 5*3600)
	a.CreatedAt = time.Date(2026, 11, 1, 17, 0, 0, 123456789, east)
	a.SignerKeyIDs = []string{strings.Repeat("b", 64), strings.Repeat("a", 64), strings.Repeat("b", 64)}
	stored, _, err := st.InsertAttestation(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 1, 12, 0, 0, 123456000, time.UTC)
	got, err := st.GetAttestation(ctx, p.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, tm := range map[string]time.Time{"returned": stored.CreatedAt, "read": got.CreatedAt} {
		if tm != want {
			t.Errorf("%s CreatedAt = %v, want exactly %v", name, tm, want)
		}
	}
	wantSigners := []string{strings.Repeat("a", 64), strings.Repeat("b", 64)}
	if !slices.Equal(got.SignerKeyIDs, wantSigners) || !slices.Equal(stored.SignerKeyIDs, wantSigners) {
		t.Errorf("SignerKeyIDs stored %v, returned %v; want sorted without duplicates", got.SignerKeyIDs, stored.SignerKeyIDs)
	}
}

// TestListQueryIsParameterized: filter values travel as parameters, never in the SQL text.
func TestListQueryIsParameterized(t *testing.T) {
	t.Parallel()
	evil := `x'); DROP TABLE attestations; --`
	query, args := sqlite.ListQuery(7, store.Filter{
		SubjectAlgorithm: evil + "1", SubjectDigest: evil + "2", MaterialAlgorithm: evil + "3",
		MaterialDigest: evil + "4", Step: evil + "5", PredicateType: evil + "6", SignerKeyID: evil + "7",
	})
	if strings.Contains(query, "DROP") || strings.Contains(query, "'") {
		t.Errorf("a value reached the SQL text:\n%s", query)
	}
	if n := strings.Count(query, "?"); n != len(args) || len(args) != 12 { // project 4 times, seven values, limit
		t.Errorf("%d placeholders, %d parameters, want 12: %v", n, len(args), args)
	}
}
