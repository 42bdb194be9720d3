package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// signedNote signs an arbitrary checkpoint body with k.
func signedNote(t testing.TB, k testKey, body string) []byte {
	t.Helper()
	raw, err := note.Sign(&note.Note{Text: body}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func cpBody(origin string, size uint64, root []byte) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
}

func TestVerifyCheckpoint(t *testing.T) {
	k := newTestKey(t, testOrigin)
	other := newTestKey(t, testOrigin)
	root := sha256.Sum256([]byte("root"))
	empty := sha256.Sum256(nil)
	good := signedNote(t, k, cpBody(testOrigin, 7, root[:]))

	cp, err := VerifyCheckpoint(good, k.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != testOrigin || cp.Size != 7 || !bytes.Equal(cp.Hash, root[:]) {
		t.Fatalf("parsed %+v", cp)
	}
	if _, err := VerifyCheckpoint(signedNote(t, k, cpBody(testOrigin, 0, empty[:])), k.vkey); err != nil {
		t.Errorf("empty tree: %v", err)
	}

	tampered := bytes.Replace(good, []byte("\n7\n"), []byte("\n8\n"), 1)
	bad := map[string]struct {
		raw []byte
		key string
	}{
		"another key, same origin": {good, other.vkey},
		"signed by another key":    {signedNote(t, other, cpBody(testOrigin, 7, root[:])), k.vkey},
		"tampered size":            {tampered, k.vkey},
		"tampered root":            {bytes.Replace(good, []byte(base64.StdEncoding.EncodeToString(root[:])[:4]), []byte("AAAA"), 1), k.vkey},
		"origin is not the key":    {signedNote(t, k, cpBody("attestd.test/elsewhere", 7, root[:])), k.vkey},
		"size with leading zero":   {signedNote(t, k, "attestd.test/log\n07\n"+base64.StdEncoding.EncodeToString(root[:])+"\n"), k.vkey},
		"negative size":            {signedNote(t, k, "attestd.test/log\n-7\n"+base64.StdEncoding.EncodeToString(root[:])+"\n"), k.vkey},
		"short root":               {signedNote(t, k, cpBody(testOrigin, 7, root[:31])), k.vkey},
		"unpadded root":            {signedNote(t, k, "attestd.test/log\n7\n"+base64.RawStdEncoding.EncodeToString(root[:])+"\n"), k.vkey},
		"empty tree, wrong root":   {signedNote(t, k, cpBody(testOrigin, 0, root[:])), k.vkey},
		"extension line":           {signedNote(t, k, cpBody(testOrigin, 7, root[:])+"extra\n"), k.vkey},
		"two lines":                {signedNote(t, k, "attestd.test/log\n7\n"), k.vkey},
		"unsigned":                 {[]byte(cpBody(testOrigin, 7, root[:])), k.vkey},
		"signature stripped":       {good[:bytes.Index(good, []byte("\n\n"))+2], k.vkey},
		"garbage key":              {good, "not a key"},
		"empty":                    {nil, k.vkey},
		"huge":                     {append(bytes.Repeat([]byte("a"), maxCheckpointBytes), good...), k.vkey},
	}
	for name, c := range bad {
		if _, err := VerifyCheckpoint(c.raw, c.key); !errors.Is(err, ErrInvalidCheckpoint) {
			t.Errorf("%s: VerifyCheckpoint = %v, want ErrInvalidCheckpoint", name, err)
		}
	}
}

// TestProofRefusals: a proof proves exactly one leaf at one index under one root.
func TestProofRefusals(t *testing.T) {
	const n = 37
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = LeafHash(testEntry("refusal", i))
	}
	root := refMTH(leaves)
	for i := range n {
		if err := VerifyInclusion(leaves[i], uint64(i), n, refPath(i, leaves), root); err != nil {
			t.Fatalf("reference path %d: %v", i, err)
		}
	}
	other := refMTH(leaves[:n-1])
	p := refPath(5, leaves)
	cases := map[string]error{
		"another entry":      VerifyInclusion(leaves[6], 5, n, p, root),
		"another root":       VerifyInclusion(leaves[5], 5, n, p, other),
		"another index":      VerifyInclusion(leaves[5], 4, n, p, root),
		"another size":       VerifyInclusion(leaves[5], 5, 2*n, p, root), // n+1 happens to share the path shape: the signed checkpoint fixes the size
		"index beyond size":  VerifyInclusion(leaves[5], n, n, p, root),
		"truncated proof":    VerifyInclusion(leaves[5], 5, n, p[:len(p)-1], root),
		"extended proof":     VerifyInclusion(leaves[5], 5, n, append(p, root), root),
		"short hash":         VerifyInclusion(leaves[5], 5, n, [][]byte{p[0][:31]}, root),
		"entry as leaf hash": VerifyInclusion(testEntry("refusal", 5), 5, n, p, root),
		// An entry made of an interior node's children must not prove as that node (0x00 vs 0x01 prefix): here,
		// as the single leaf of a tree whose root is the node over leaves 0 and 1.
		"node preimage as entry": VerifyInclusion(LeafHash(append(bytes.Clone(leaves[0]), leaves[1]...)), 0, 1, nil, refMTH(leaves[:2])),
	}
	cp := refProof(20, leaves)
	cases["consistency, wrong old root"] = VerifyConsistency(20, n, refMTH(leaves[:19]), root, cp)
	cases["consistency, wrong new root"] = VerifyConsistency(20, n, refMTH(leaves[:20]), other, cp)
	cases["consistency, wrong size"] = VerifyConsistency(21, n, refMTH(leaves[:20]), root, cp)
	cases["consistency, backwards"] = VerifyConsistency(n, 20, root, refMTH(leaves[:20]), cp)
	cases["consistency, empty proof"] = VerifyConsistency(20, n, refMTH(leaves[:20]), root, nil)
	cases["consistency, same size other root"] = VerifyConsistency(n, n, root, other, nil)
	cases["consistency, empty tree wrong root"] = VerifyConsistency(0, n, root, root, nil)
	for name, err := range cases {
		if !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: %v, want ErrInvalidProof", name, err)
		}
	}
	if err := VerifyConsistency(20, n, refMTH(leaves[:20]), root, cp); err != nil {
		t.Errorf("reference consistency proof: %v", err)
	}
	if err := VerifyConsistency(0, n, refMTH(nil), root, nil); err != nil {
		t.Errorf("consistency from the empty tree: %v", err)
	}
}

// TestReference checks the test's own RFC 6962 implementation against itself on every small tree, so that the
// log's agreement with it means something.
func TestReference(t *testing.T) {
	var leaves [][]byte
	for n := 1; n <= 70; n++ {
		leaves = append(leaves, refLeafHash(testEntry("ref", n)))
		root := refMTH(leaves)
		for m := range n {
			if !refVerifyInclusion(uint64(m), uint64(n), leaves[m], refPath(m, leaves), root) {
				t.Fatalf("reference inclusion %d/%d", m, n)
			}
			if refVerifyInclusion(uint64(m), uint64(n), leaves[(m+1)%n], refPath(m, leaves), root) && n > 1 {
				t.Fatalf("reference inclusion %d/%d accepts another leaf", m, n)
			}
			if m > 0 {
				if !refVerifyConsistency(uint64(m), uint64(n), refMTH(leaves[:m]), root, refProof(m, leaves)) {
					t.Fatalf("reference consistency %d/%d", m, n)
				}
				if refVerifyConsistency(uint64(m), uint64(n), refMTH(leaves[1:m+1]), root, refProof(m, leaves)) {
					t.Fatalf("reference consistency %d/%d accepts another old root", m, n)
				}
			}
		}
	}
}

func FuzzVerifyCheckpoint(f *testing.F) {
	k := newTestKey(f, testOrigin)
	root := sha256.Sum256([]byte("root"))
	good := signedNote(f, k, cpBody(testOrigin, 7, root[:]))
	f.Add(good, k.vkey)
	f.Add(bytes.Replace(good, []byte("7"), []byte("70"), 1), k.vkey)
	f.Add([]byte(cpBody(testOrigin, 7, root[:])+"\n— attestd.test/log AAAA\n"), k.vkey)
	f.Add([]byte("\n\n\n"), "a+00000000+AQ==")
	f.Fuzz(func(t *testing.T, raw []byte, key string) {
		cp, err := VerifyCheckpoint(raw, key)
		if err != nil {
			if !errors.Is(err, ErrInvalidCheckpoint) {
				t.Fatalf("error %v does not wrap ErrInvalidCheckpoint", err)
			}
			return
		}
		if len(cp.Hash) != hashSize || cp.Origin == "" || !strings.HasPrefix(string(raw), cp.Origin+"\n") {
			t.Fatalf("accepted a malformed checkpoint: %+v", cp)
		}
	})
}

// FuzzVerifyProof feeds arbitrary sizes, indices, hashes and proofs to the verifiers: they must not panic, and
// whatever they accept the reference implementation must accept too.
func FuzzVerifyProof(f *testing.F) {
	leaves := make([][]byte, 11)
	for i := range leaves {
		leaves[i] = refLeafHash(testEntry("fuzz", i))
	}
	f.Add(uint64(3), uint64(11), leaves[3], bytes.Join(refPath(3, leaves), nil), refMTH(leaves), uint8(32))
	f.Add(uint64(4), uint64(11), refMTH(leaves[:4]), bytes.Join(refProof(4, leaves), nil), refMTH(leaves), uint8(32))
	f.Add(uint64(0), uint64(0), []byte{}, []byte{}, []byte{}, uint8(0))
	f.Add(^uint64(0), ^uint64(0), leaves[0], leaves[1], leaves[2], uint8(31))
	f.Fuzz(func(t *testing.T, a, b uint64, h, proofBytes, root []byte, chunk uint8) {
		var p [][]byte
		for c := max(int(chunk), 1); len(proofBytes) > 0 && len(p) < 80; {
			n := min(c, len(proofBytes))
			p, proofBytes = append(p, proofBytes[:n]), proofBytes[n:]
		}
		if VerifyInclusion(h, a, b, p, root) == nil && !refVerifyInclusion(a, b, h, p, root) {
			t.Fatalf("inclusion accepted, reference rejects: %d/%d", a, b)
		}
		if VerifyConsistency(a, b, h, root, p) == nil && a > 0 && a < b && !refVerifyConsistency(a, b, h, root, p) {
			t.Fatalf("consistency accepted, reference rejects: %d -> %d", a, b)
		}
	})
}

func TestVerifyCheckpointOfLiveLog(t *testing.T) {
	k := newTestKey(t, testOrigin)
	l := openTestLog(t, t.TempDir(), k)
	ctx := ctxTimeout(t, 20*time.Second)
	raw, cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 0 || cp.Origin != testOrigin || l.Origin() != testOrigin || l.Verifier().Name() != testOrigin || l.VerifierKey() != k.vkey {
		t.Fatalf("new log: %+v", cp)
	}
	got, err := VerifyCheckpoint(raw, k.vkey)
	if err != nil || got.Size != 0 {
		t.Fatalf("VerifyCheckpoint(new log) = %+v, %v", got, err)
	}
}
