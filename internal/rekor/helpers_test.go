package rekor

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	dsse001 "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/rekor/rekortest"
)

// rekorURL returns the URL of the real Rekor, or skips the test when there is none (fails it under
// ATTESTD_REQUIRE_REKOR=1).
func rekorURL(t testing.TB) string { return rekortest.URL(t) }

// signedEnvelope returns a DSSE envelope holding an in-toto link statement
// for a random product, signed by a new ECDSA P-256 key, and that key's PEM.
func signedEnvelope(t testing.TB) (envelope, publicPEM []byte) {
	t.Helper()
	privPEM, pubPEM, err := attestor.GenerateKey(attestor.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := attestor.LoadSigner(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	product := make([]byte, 16)
	rand.Read(product)
	sum := sha256.Sum256(product)
	link := attestor.Link{
		Step:     "build",
		Command:  []string{"make", "all"},
		Products: []attestor.Artifact{{Name: "out/app", SHA256: hex.EncodeToString(sum[:]), Size: 16}},
	}
	payload, err := link.Payload()
	if err != nil {
		t.Fatal(err)
	}
	env, err := signer.Sign(context.Background(), attestation.PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	// What attestd itself would accept, so that the tests upload real attestations.
	parsed, err := attestation.ParseEnvelope(env, attestation.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	key, err := attestation.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestation.VerifySignatures(parsed, []*attestation.PublicKey{key}); err != nil {
		t.Fatal(err)
	}
	return env, pubPEM
}

// fakeLog makes entries the way a Rekor v1 server does, in memory: the
// canonical body of Rekor's dsse type, an RFC 6962 tree, a signed checkpoint
// and a signed entry timestamp, all with one ECDSA key.
type fakeLog struct {
	signer signature.SignerVerifier
	pubPEM []byte
	logID  string
	treeID int64
	tree   *testonly.Tree
}

func newFakeLog(t testing.TB) *fakeLog {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	return &fakeLog{
		signer: sv,
		pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		logID:  hex.EncodeToString(id[:]),
		treeID: 4242,
		tree:   testonly.New(rfc6962.DefaultHasher),
	}
}

// add appends the dsse entry of envelope, between two other leaves so that
// the proof has hashes on both sides, and returns it with its proof.
func (l *fakeLog) add(t testing.TB, envelope []byte, keys ...[]byte) Entry {
	t.Helper()
	ctx := context.Background()
	proposed, err := dsse001.V001Entry{}.CreateFromArtifactProperties(ctx, types.ArtifactProperties{
		ArtifactBytes: envelope, PublicKeyBytes: keys,
	})
	if err != nil {
		t.Fatal(err)
	}
	impl, err := types.UnmarshalEntry(proposed)
	if err != nil {
		t.Fatal(err)
	}
	body, err := types.CanonicalizeEntry(ctx, impl)
	if err != nil {
		t.Fatal(err)
	}
	l.tree.AppendData([]byte("before"))
	index := int64(l.tree.Size())
	l.tree.AppendData(body, []byte("after"))
	size := l.tree.Size()
	hashes, err := l.tree.InclusionProof(uint64(index), size)
	if err != nil {
		t.Fatal(err)
	}
	checkpoint, err := util.CreateAndSignCheckpoint(ctx, "fake-rekor", l.treeID, size, l.tree.Hash(), l.signer)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{
		UUID:           hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(body)),
		LogIndex:       index,
		IntegratedTime: time.Unix(1_790_000_000+index, 0).UTC(),
		LogID:          l.logID,
		Body:           body,
		InclusionProof: &InclusionProof{
			LogIndex:   index,
			RootHash:   l.tree.Hash(),
			TreeSize:   int64(size),
			Hashes:     hashes,
			Checkpoint: string(checkpoint),
		},
	}
	e.UUID = "0000000000001092" + e.UUID // tree 4242 in hex, as Rekor prefixes it
	e.SignedEntryTimestamp = l.sign(t, e)
	return e
}

// sign returns the signed entry timestamp of e: the log's signature over the
// RFC 8785 form of {body, integratedTime, logID, logIndex}.
func (l *fakeLog) sign(t testing.TB, e Entry) []byte {
	t.Helper()
	integrated := e.IntegratedTime.Unix()
	payload, err := (&models.LogEntryAnon{
		Body: e.Body, IntegratedTime: &integrated, LogID: &e.LogID, LogIndex: &e.LogIndex,
	}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	canonical, err := jsoncanonicalizer.Transform(payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := l.signer.SignMessage(bytes.NewReader(canonical), options.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// clone returns a deep copy of e, for tampering.
func clone(e Entry) Entry {
	c := e
	c.Body = bytes.Clone(e.Body)
	c.SignedEntryTimestamp = bytes.Clone(e.SignedEntryTimestamp)
	if p := e.InclusionProof; p != nil {
		cp := *p
		cp.RootHash = bytes.Clone(p.RootHash)
		cp.Hashes = make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			cp.Hashes[i] = bytes.Clone(h)
		}
		c.InclusionProof = &cp
	}
	return c
}
