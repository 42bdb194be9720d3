// Package bundletest makes valid offline bundles for tests, without attestd: a project with a layout-owner
// key and a functionary key, a one-step signed layout, attestations signed by the functionary, an RFC 6962
// tree (merkle/testonly, independent of attestd's log) whose leaves are their log entries, and a checkpoint
// signed by a note key of its own; the whole signed by a verifier key of its own. Tests change a Bundle as
// they need and Seal it again. It is for tests only: its keys live in memory and its errors fail the test.
package bundletest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/bundle"
	"github.com/attestd/attestd/internal/tlog"
)

// Origin is the name of the fixture's log.
const Origin = "bundletest.example/log"

// A Fixture is a project whose artifact Name (a file) is covered by policy "release" and layout "release",
// which has one step, "package", that must CREATE Name; the functionary key signs that step.
type Fixture struct {
	Project, Name string
	// Verifier signs bundles, as attestd's verifier key; Owner signs the layout; Functionary the attestations.
	Verifier, Owner, Functionary *attestor.Signer
	// LogKey is the note verifier key of the fixture's log.
	LogKey string
	// Now is when the bundle is exported; keys are registered an hour earlier and attestations logged
	// half an hour earlier.
	Now time.Time

	logSigner note.Signer
	layout    []byte
	atts      [][]byte // envelopes, in log order after the layout
}

// New returns a fixture exported at now (to the second), with the layout signed and no attestation yet.
func New(t testing.TB, now time.Time) *Fixture {
	t.Helper()
	f := &Fixture{Project: "acme", Name: "app.deb", Now: now.UTC().Truncate(time.Second)}
	f.Verifier, f.Owner, f.Functionary = signer(t), signer(t), signer(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, Origin)
	if err != nil {
		t.Fatal(err)
	}
	if f.logSigner, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	f.LogKey = vkey
	fn := f.Functionary
	layout := fmt.Sprintf(`{"_type":"layout","expires":%q,"readme":"","keys":{%q:{"keyid":%q,"keytype":"ed25519",`+
		`"scheme":"ed25519","keyval":{"public":%q}}},"steps":[{"_type":"step","name":"package","threshold":1,`+
		`"pubkeys":[%q],"expected_command":[],"expected_materials":[["ALLOW","*"]],`+
		`"expected_products":[["CREATE",%q],["DISALLOW","*"]]}],"inspect":[]}`,
		f.Now.Add(24*time.Hour).Format(time.RFC3339), fn.KeyID(), fn.KeyID(), fn.PublicPEM(), fn.KeyID(), f.Name)
	f.layout = sign(t, f.Owner, attestation.PayloadType, []byte(layout))
	return f
}

// Attest adds an attestation of step by s whose products are the name -> sha256 hex pairs, and returns its
// envelope.
func (f *Fixture) Attest(t testing.TB, s *attestor.Signer, step string, products map[string]string) []byte {
	t.Helper()
	var subjects []string
	for name, digest := range products {
		subjects = append(subjects, fmt.Sprintf(`{"name":%q,"digest":{"sha256":%q}}`, name, digest))
	}
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[%s],`+
		`"predicateType":"https://in-toto.io/attestation/link/v0.3","predicate":{"name":%q,"command":[],"materials":[]}}`,
		strings.Join(subjects, ","), step)
	env := sign(t, s, attestation.PayloadType, []byte(stmt))
	f.atts = append(f.atts, env)
	return env
}

// Bundle returns the bundle about Name with the given digest ("sha256:HEX"): the layout and the attestations
// added so far, in a tree of which the layout is leaf 0, each proved against one signed checkpoint.
func (f *Fixture) Bundle(t testing.TB, digest string) *attestdv1.Bundle {
	t.Helper()
	tree := testonly.New(rfc6962.DefaultHasher)
	tree.AppendData(tlog.EntryForLayout(f.Project, "release", f.layout))
	var ids []string
	for _, env := range f.atts {
		id := ID(env)
		ids = append(ids, id)
		tree.AppendData(tlog.EntryForEnvelope(f.Project, id, env))
	}
	size := tree.Size()
	body := fmt.Sprintf("%s\n%d\n%s\n", Origin, size, base64.StdEncoding.EncodeToString(tree.Hash()))
	cp, err := note.Sign(&note.Note{Text: body}, f.logSigner)
	if err != nil {
		t.Fatal(err)
	}
	proof := func(i uint64) *attestdv1.InclusionProof {
		hashes, err := tree.InclusionProof(i, size)
		if err != nil {
			t.Fatal(err)
		}
		return &attestdv1.InclusionProof{LogIndex: i, TreeSize: size, Hashes: hashes}
	}
	registered, logged := timestamppb.New(f.Now.Add(-time.Hour)), timestamppb.New(f.Now.Add(-30*time.Minute))
	zero := uint64(0)
	b := &attestdv1.Bundle{
		Project: f.Project, Kind: "file", Name: f.Name, Digest: digest,
		Policy: &attestdv1.Policy{Project: f.Project, Name: "release", Kind: "file", Match: "*.deb", Layout: "release"},
		Layout: &attestdv1.Layout{Project: f.Project, Name: "release", Version: 1, Id: ID(f.layout), Content: f.layout,
			CreateTime: registered, LogIndex: &zero, SignerKeyIds: []string{f.Owner.KeyID()}},
		LayoutProof: proof(0),
		Keys: []*attestdv1.Key{
			{KeyId: f.Owner.KeyID(), Project: f.Project, KeyType: "ed25519", Scheme: "ed25519", PublicKeyPem: string(f.Owner.PublicPEM()), CreateTime: registered, Owner: true},
			{KeyId: f.Functionary.KeyID(), Project: f.Project, KeyType: "ed25519", Scheme: "ed25519", PublicKeyPem: string(f.Functionary.PublicPEM()), CreateTime: registered},
		},
		Checkpoint:     cp,
		LogVerifierKey: f.LogKey,
		ExportTime:     timestamppb.New(f.Now),
	}
	for i, env := range f.atts {
		r := &attestdv1.Receipt{Id: ids[i], Project: f.Project, IntegratedTime: logged, LogIndex: uint64(i + 1),
			InclusionProof: proof(uint64(i + 1))}
		b.Attestations = append(b.Attestations, &attestdv1.BundleAttestation{Attestation: &attestdv1.Attestation{
			Receipt: r, Envelope: env, PayloadType: attestation.PayloadType}})
	}
	return b
}

// Seal signs b with the fixture's verifier key, as attestd's ExportBundle does.
func (f *Fixture) Seal(t testing.TB, b *attestdv1.Bundle) []byte {
	t.Helper()
	payload, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, f.Verifier, bundle.PayloadType, payload)
}

// VerifierKey is the fixture's verifier public key, parsed.
func (f *Fixture) VerifierKey(t testing.TB) *attestation.PublicKey {
	t.Helper()
	pub, err := attestation.ParsePublicKey(f.Verifier.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// ID is the attestation id of an envelope: the sha256 of its bytes, in hex.
func ID(envelope []byte) string {
	sum := sha256.Sum256(envelope)
	return hex.EncodeToString(sum[:])
}

func signer(t testing.TB) *attestor.Signer {
	t.Helper()
	priv, _, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attestor.LoadSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t testing.TB, s *attestor.Signer, payloadType string, payload []byte) []byte {
	t.Helper()
	env, err := s.Sign(context.Background(), payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
