package rekor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/rekor/pkg/util"
	"github.com/transparency-dev/merkle/rfc6962"
)

// A tamper changes one thing in a valid entry; VerifyEntry must then fail with want.
type tamper struct {
	name   string
	change func(e *Entry)
	want   error
}

// tampers lists the changes to entry e that VerifyEntry must catch. other is
// another valid entry of the same log; e's proof must have at least one hash.
func tampers(other Entry) []tamper {
	flip := func(b []byte) { b[len(b)/2] ^= 0x01 }
	return []tamper{
		{"SET bit flipped", func(e *Entry) { flip(e.SignedEntryTimestamp) }, ErrSignedEntryTimestamp},
		{"SET of another entry", func(e *Entry) { e.SignedEntryTimestamp = clone(other).SignedEntryTimestamp }, ErrSignedEntryTimestamp},
		{"integrated time a second later", func(e *Entry) { e.IntegratedTime = e.IntegratedTime.Add(time.Second) }, ErrSignedEntryTimestamp},
		{"log index changed", func(e *Entry) { e.LogIndex++ }, ErrSignedEntryTimestamp},
		{"proof hash flipped", func(e *Entry) { flip(e.InclusionProof.Hashes[0]) }, ErrInclusionProof},
		{"proof hash dropped", func(e *Entry) { e.InclusionProof.Hashes = e.InclusionProof.Hashes[1:] }, ErrInclusionProof},
		{"proof hash added", func(e *Entry) {
			e.InclusionProof.Hashes = append(e.InclusionProof.Hashes, e.InclusionProof.Hashes[0])
		}, ErrInclusionProof},
		{"proof leaf index changed", func(e *Entry) {
			p := e.InclusionProof
			p.LogIndex = (p.LogIndex + 1) % p.TreeSize
		}, ErrInclusionProof},
		{"proof root hash flipped", func(e *Entry) { flip(e.InclusionProof.RootHash) }, ErrInclusionProof},
		{"proof of another entry", func(e *Entry) { e.InclusionProof = clone(other).InclusionProof }, ErrInclusionProof},
		{"checkpoint origin changed", func(e *Entry) {
			e.InclusionProof.Checkpoint = "x" + e.InclusionProof.Checkpoint
		}, ErrCheckpoint},
		{"checkpoint signature changed", func(e *Entry) {
			e.InclusionProof.Checkpoint = flipNoteSignature(e.InclusionProof.Checkpoint)
		}, ErrCheckpoint},
		{"body changed", func(e *Entry) { e.Body = append(e.Body, ' ') }, ErrMalformedEntry},
		{"body changed, UUID to match", func(e *Entry) {
			e.Body = append(e.Body, ' ')
			e.UUID = e.UUID[:len(e.UUID)-64] + hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(e.Body))
		}, ErrInclusionProof},
		{"body and UUID of another entry", func(e *Entry) {
			o := clone(other)
			e.Body, e.UUID = o.Body, o.UUID
		}, ErrEnvelopeMismatch},
		{"no inclusion proof", func(e *Entry) { e.InclusionProof = nil }, ErrMalformedEntry},
		{"log ID of another log", func(e *Entry) { e.LogID = strings.Repeat("ab", 32) }, ErrWrongLog},
	}
}

// checkTampers runs every tamper on e and checks that it does not verify, for the right reason.
func checkTampers(t *testing.T, e, other Entry, envelope, logKey []byte) {
	t.Helper()
	ctx := context.Background()
	if err := VerifyEntry(ctx, e, envelope, logKey); err != nil {
		t.Fatalf("the untampered entry does not verify: %v", err)
	}
	for _, tc := range tampers(other) {
		t.Run(tc.name, func(t *testing.T) {
			bad := clone(e)
			tc.change(&bad)
			err := VerifyEntry(ctx, bad, envelope, logKey)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyEntry = %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
	// The changes were made on copies.
	if err := VerifyEntry(ctx, e, envelope, logKey); err != nil {
		t.Fatalf("the entry no longer verifies: %v", err)
	}
}

// checkBindingFailures checks that e verifies for envelope only: neither for
// another envelope nor for a copy of envelope that differs in its bytes only.
func checkBindingFailures(t *testing.T, e Entry, envelope, otherEnvelope, logKey []byte) {
	t.Helper()
	ctx := context.Background()
	cases := map[string][]byte{
		"another envelope":         otherEnvelope,
		"same envelope, a space":   append(append([]byte(nil), envelope...), ' '),
		"not JSON":                 []byte("not an envelope"),
		"empty":                    nil,
		"same envelope, re-quoted": []byte(strings.Replace(string(envelope), `"payloadType"`, `"payload\u0054ype"`, 1)),
	}
	for name, env := range cases {
		if err := VerifyEntry(ctx, e, env, logKey); !errors.Is(err, ErrEnvelopeMismatch) {
			t.Errorf("%s: VerifyEntry = %v, want ErrEnvelopeMismatch", name, err)
		}
	}
}

func otherKeyPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// checkWrongKey checks that e does not verify with another log's key, even
// with the log ID set to that key's.
func checkWrongKey(t *testing.T, e Entry, envelope []byte) {
	t.Helper()
	ctx := context.Background()
	wrong := otherKeyPEM(t)
	if err := VerifyEntry(ctx, e, envelope, wrong); !errors.Is(err, ErrWrongLog) {
		t.Errorf("VerifyEntry with another key = %v, want ErrWrongLog", err)
	}
	bad := clone(e)
	bad.LogID = logIDOf(t, wrong)
	if err := VerifyEntry(ctx, bad, envelope, wrong); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("VerifyEntry with another key and its log ID = %v, want ErrCheckpoint", err)
	}
	for _, k := range [][]byte{nil, []byte("not a key"), []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")} {
		err := VerifyEntry(ctx, e, envelope, k)
		if err == nil || errors.Is(err, ErrWrongLog) {
			t.Errorf("VerifyEntry with key %q = %v, want a key error", k, err)
		}
	}
}

func logIDOf(t *testing.T, pubPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(pubPEM)
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// flipNoteSignature changes one bit of the signature (not of the key hint)
// on the last signature line of a signed note.
func flipNoteSignature(note string) string {
	i := strings.LastIndex(note, " ")
	j := strings.LastIndex(note, "\n")
	sig, err := base64.StdEncoding.DecodeString(note[i+1 : j])
	if err != nil || len(sig) < 8 {
		panic(fmt.Sprintf("not a signed note: %q", note))
	}
	sig[len(sig)-1] ^= 1
	return note[:i+1] + base64.StdEncoding.EncodeToString(sig) + note[j:]
}

func mustCheckpoint(t *testing.T, log *fakeLog, size uint64, root []byte) string {
	t.Helper()
	cp, err := util.CreateAndSignCheckpoint(context.Background(), "fake-rekor", log.treeID, size, root, log.signer)
	if err != nil {
		t.Fatal(err)
	}
	return string(cp)
}

func TestVerifyEntry(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	otherEnv, otherKey := signedEnvelope(t)
	e := log.add(t, env, key)
	other := log.add(t, otherEnv, otherKey)

	if err := VerifyEntry(context.Background(), e, env, log.pubPEM); err != nil {
		t.Fatalf("VerifyEntry: %v", err)
	}
	t.Run("tampered", func(t *testing.T) { checkTampers(t, e, other, env, log.pubPEM) })
	t.Run("binding", func(t *testing.T) { checkBindingFailures(t, e, env, otherEnv, log.pubPEM) })
	t.Run("wrong key", func(t *testing.T) { checkWrongKey(t, e, env) })
}

func TestVerifyEntryCheckpointOfAnotherSize(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	e := log.add(t, env, key)
	// A checkpoint the log did sign, with the proof's root hash but another size.
	p := e.InclusionProof
	cp := mustCheckpoint(t, log, uint64(p.TreeSize+1), p.RootHash)
	e.InclusionProof.Checkpoint = cp
	if err := VerifyEntry(context.Background(), e, env, log.pubPEM); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("VerifyEntry = %v, want ErrCheckpoint", err)
	}
}

func TestVerifyEntryRefusesOtherKinds(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	e := log.add(t, env, key)
	bodies := []string{
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`,
		`{"apiVersion":"0.0.2","kind":"dsse","spec":{}}`,
		`{"apiVersion":"0.0.1","kind":"dsse","spec":{}}`,
		`{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha512","value":"00"}}}`,
		`[]`,
	}
	for _, b := range bodies {
		if err := checkBinding([]byte(b), env); !errors.Is(err, ErrEnvelopeMismatch) {
			t.Errorf("checkBinding(%s) = %v, want ErrEnvelopeMismatch", b, err)
		}
	}
	if err := checkBinding(e.Body, env); err != nil {
		t.Fatal(err)
	}
}
