package verifier

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
	"github.com/in-toto/in-toto-golang/in_toto"
)

// functionary is a test key: in-toto-golang's private and public Key, and
// ours.
type functionary struct {
	priv in_toto.Key
	pub  in_toto.Key
	key  *attestation.PublicKey
}

func newFunctionary(t testing.TB) *functionary {
	t.Helper()
	pubRaw, privRaw, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(privRaw)
	var f functionary
	if err := f.priv.LoadKeyReaderDefaults(bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	pder, _ := x509.MarshalPKIXPublicKey(pubRaw)
	ppem := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder})
	if err := f.pub.LoadKeyReaderDefaults(bytes.NewReader(ppem)); err != nil {
		t.Fatal(err)
	}
	if f.key, err = attestation.ParsePublicKey(ppem); err != nil {
		t.Fatal(err)
	}
	if f.key.ID != f.pub.KeyID || f.priv.KeyID != f.pub.KeyID {
		t.Fatalf("key ids differ: ours %s, in-toto %s / %s", f.key.ID, f.pub.KeyID, f.priv.KeyID)
	}
	return &f
}

func (f *functionary) id() string { return f.pub.KeyID }

// h returns a sha256 digest set for a label.
func h(label string) map[string]string {
	s := sha256.Sum256([]byte(label))
	return map[string]string{"sha256": hex.EncodeToString(s[:])}
}

func arts(kv ...string) map[string]in_toto.HashObj {
	m := map[string]in_toto.HashObj{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = h(kv[i+1])
	}
	return m
}

// step builds an in-toto step.
func step(name string, threshold int, keys []*functionary, materials, products [][]string) in_toto.Step {
	s := in_toto.Step{Type: "step", Threshold: threshold}
	s.Name = name
	for _, k := range keys {
		s.PubKeys = append(s.PubKeys, k.id())
	}
	s.ExpectedMaterials, s.ExpectedProducts = materials, products
	return s
}

func layoutOf(expires time.Time, keys []*functionary, steps ...in_toto.Step) in_toto.Layout {
	l := in_toto.Layout{Type: "layout", Expires: expires.UTC().Format(in_toto.ISO8601DateSchema), Keys: map[string]in_toto.Key{}, Steps: steps}
	for _, k := range keys {
		l.Keys[k.id()] = k.pub
	}
	return l
}

// signedLayout signs l with owner as a metablock and returns the JSON.
func signedLayout(t testing.TB, l in_toto.Layout, owner *functionary) []byte {
	t.Helper()
	mb := &in_toto.Metablock{Signed: l}
	if err := mb.Sign(owner.priv); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseSigned runs our side of layout loading: signatures, then ParseLayout.
func parseSigned(t testing.TB, raw []byte, owner *functionary) (*Layout, error) {
	t.Helper()
	signed, signers, err := VerifyLayoutSignatures(raw, []*attestation.PublicKey{owner.key})
	if err != nil {
		return nil, err
	}
	if len(signers) != 1 || signers[0] != owner.id() {
		t.Fatalf("signers %v", signers)
	}
	return ParseLayout(signed)
}

// link is one recorded link: which key signs it.
type link struct {
	name      string
	signer    *functionary
	materials map[string]in_toto.HashObj
	products  map[string]in_toto.HashObj
}

func (l link) inToto() in_toto.Link {
	return in_toto.Link{Type: "link", Name: l.name, Materials: deepCopy(l.materials), Products: deepCopy(l.products),
		ByProducts: map[string]any{}, Environment: map[string]any{}}
}

func deepCopy(m map[string]in_toto.HashObj) map[string]in_toto.HashObj {
	out := make(map[string]in_toto.HashObj, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}

// signedLink signs the link as in-toto-golang does and returns the metablock.
func signedLink(t testing.TB, l link) *in_toto.Metablock {
	t.Helper()
	mb := &in_toto.Metablock{Signed: l.inToto()}
	if err := mb.Sign(l.signer.priv); err != nil {
		t.Fatal(err)
	}
	return mb
}

// ourAttestation reads a signed link metablock the way attestd's write path
// does (attestation.ParseEnvelope, VerifySignatures, ParseStatement).
func ourAttestation(t testing.TB, id string, mb *in_toto.Metablock, keys []*attestation.PublicKey, integrated time.Time) Attestation {
	t.Helper()
	raw, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	env, err := attestation.ParseEnvelope(raw, attestation.Limits{})
	if err != nil {
		t.Fatalf("parse link envelope: %v", err)
	}
	signers, _ := attestation.VerifySignatures(env, keys) // none: the attestation counts for nothing
	st, err := attestation.ParseStatement(env.Payload, attestation.Limits{})
	if err != nil {
		t.Fatalf("parse link: %v", err)
	}
	a := Attestation{ID: id, Step: st.Step, Signers: signers, PredicateType: st.PredicateType, IntegratedAt: integrated,
		Materials: map[string]map[string]string{}, Products: map[string]map[string]string{}}
	for _, d := range st.Materials {
		a.Materials[d.Name] = d.Digest
	}
	for _, d := range st.Subjects {
		a.Products[d.Name] = d.Digest
	}
	return a
}

func mustLayout(t testing.TB, l in_toto.Layout) *Layout {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseLayout(b)
	if err != nil {
		t.Fatalf("ParseLayout: %v\n%s", err, b)
	}
	return out
}

func allKeys(fs ...*functionary) []Key {
	var ks []Key
	for _, f := range fs {
		ks = append(ks, Key{ID: f.id()})
	}
	return ks
}

var _ = fmt.Sprint
