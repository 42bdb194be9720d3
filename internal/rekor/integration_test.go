package rekor

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/client/pubkey"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// These tests need a real Rekor: bash scripts/rekor.sh up, then
// ATTESTD_REKOR_URL=http://127.0.0.1:PORT. Without it they skip, unless
// ATTESTD_REQUIRE_REKOR=1.

// realRekor returns a Client for the real Rekor and its public key.
func realRekor(t testing.TB) (*Client, []byte) {
	t.Helper()
	c, err := NewClient(rekorURL(t), WithTimeout(20*time.Second), WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func upload(t testing.TB, c *Client, env, key []byte) Entry {
	t.Helper()
	e, err := c.UploadDSSE(context.Background(), env, [][]byte{key})
	if err != nil {
		t.Fatalf("UploadDSSE: %v", err)
	}
	return e
}

func TestRekorUploadVerify(t *testing.T) {
	c, rekorKey := realRekor(t)
	ctx := context.Background()
	env, key := signedEnvelope(t)
	e := upload(t, c, env, key)
	if err := VerifyEntry(ctx, e, env, rekorKey); err != nil {
		t.Fatalf("VerifyEntry: %v", err)
	}
	if e.InclusionProof == nil || len(e.UUID) != 80 || time.Since(e.IntegratedTime) > time.Minute {
		t.Fatalf("entry %+v", e)
	}
	// As stored and read back.
	stored, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEntry(stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyEntry(ctx, back, env, rekorKey); err != nil {
		t.Fatalf("VerifyEntry after Marshal and ParseEntry: %v", err)
	}
	// Fetched again later, with a proof for a larger tree.
	otherEnv, otherKey := signedEnvelope(t)
	upload(t, c, otherEnv, otherKey)
	again, err := c.Entry(ctx, e.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if again.InclusionProof.TreeSize <= e.InclusionProof.TreeSize {
		t.Fatalf("tree size %d after another upload, was %d", again.InclusionProof.TreeSize, e.InclusionProof.TreeSize)
	}
	if err := VerifyEntry(ctx, again, env, rekorKey); err != nil {
		t.Fatalf("VerifyEntry of the entry fetched again: %v", err)
	}
}

func TestRekorUploadTwice(t *testing.T) {
	c, rekorKey := realRekor(t)
	env, key := signedEnvelope(t)
	first := upload(t, c, env, key)
	second := upload(t, c, env, key) // Rekor answers 409 Conflict
	if second.UUID != first.UUID || second.LogIndex != first.LogIndex || !second.IntegratedTime.Equal(first.IntegratedTime) {
		t.Fatalf("second upload: %s at %d, first: %s at %d", second.UUID, second.LogIndex, first.UUID, first.LogIndex)
	}
	if err := VerifyEntry(context.Background(), second, env, rekorKey); err != nil {
		t.Fatalf("VerifyEntry of the second answer: %v", err)
	}
}

func TestRekorTampered(t *testing.T) {
	c, rekorKey := realRekor(t)
	env, key := signedEnvelope(t)
	otherEnv, otherKey := signedEnvelope(t)
	e := upload(t, c, env, key)
	other := upload(t, c, otherEnv, otherKey)
	// Fetched after the second upload, the proof has at least one hash.
	e, err := c.Entry(context.Background(), e.UUID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("tampered", func(t *testing.T) { checkTampers(t, e, other, env, rekorKey) })
	t.Run("binding", func(t *testing.T) { checkBindingFailures(t, e, env, otherEnv, rekorKey) })
	t.Run("wrong key", func(t *testing.T) { checkWrongKey(t, e, env) })
}

// TestRekorOwnVerification checks the entries with Rekor's own client and
// verification code, apart from this package: what Rekor's code accepts,
// VerifyEntry accepts, and the other way round.
func TestRekorOwnVerification(t *testing.T) {
	c, _ := realRekor(t)
	ctx := context.Background()
	env, key := signedEnvelope(t)
	mine := upload(t, c, env, key)

	api, err := rekorclient.GetRekorClient(rekorURL(t))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := api.Pubkey.GetPublicKey(pubkey.NewGetPublicKeyParamsWithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(pk.Payload))
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := api.Entries.GetLogEntryByUUID(entries.NewGetLogEntryByUUIDParamsWithContext(ctx).WithEntryUUID(mine.UUID))
	if err != nil {
		t.Fatal(err)
	}
	anon, ok := resp.Payload[mine.UUID]
	if !ok || len(resp.Payload) != 1 {
		t.Fatalf("Rekor's answer for %s: %v", mine.UUID, resp.Payload)
	}
	if err := verify.VerifyLogEntry(ctx, &anon, verifier); err != nil {
		t.Fatalf("Rekor's VerifyLogEntry of Rekor's own answer: %v", err)
	}
	// The same entry through this package's Entry, stored and read back.
	theirs, err := fromLogEntry(resp.Payload)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := theirs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEntry(stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.VerifyLogEntry(ctx, back.anon(), verifier); err != nil {
		t.Fatalf("Rekor's VerifyLogEntry of the stored Entry: %v", err)
	}
	if err := VerifyEntry(ctx, back, env, []byte(pk.Payload)); err != nil {
		t.Fatalf("VerifyEntry: %v", err)
	}
	if !reflect.DeepEqual(back.Body, mine.Body) || back.LogIndex != mine.LogIndex {
		t.Fatalf("Rekor's answer differs from UploadDSSE's")
	}
	// And what Rekor's code refuses, VerifyEntry refuses.
	bad := clone(back)
	bad.SignedEntryTimestamp[3] ^= 1
	if verify.VerifyLogEntry(ctx, bad.anon(), verifier) == nil {
		t.Fatal("Rekor's VerifyLogEntry accepts a tampered SET")
	}
	if err := VerifyEntry(ctx, bad, env, []byte(pk.Payload)); !errors.Is(err, ErrSignedEntryTimestamp) {
		t.Fatalf("VerifyEntry of a tampered SET = %v", err)
	}
}

// BenchmarkRekorUpload measures one upload of a new envelope to the real Rekor.
func BenchmarkRekorUpload(b *testing.B) {
	c, _ := realRekor(b)
	envs := make([][]byte, b.N)
	keys := make([][]byte, b.N)
	for i := range envs {
		envs[i], keys[i] = signedEnvelope(b)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.UploadDSSE(context.Background(), envs[i], [][]byte{keys[i]}); err != nil {
			b.Fatal(err)
		}
	}
}
