package server_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// A classic signed link, exactly as in-toto-golang writes it, is accepted under the key id in-toto computes,
// indexed (products as subjects) and stored byte for byte.
func TestSubmitClassicLink(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha", "package")
	s := newSigner(t)
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	var key intoto.Key
	if err := key.LoadKeyReaderDefaults(bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	if key.KeyID != s.id {
		t.Fatalf("in-toto key id %s, ours %s", key.KeyID, s.id)
	}
	e.addKey(tok["admin"], s)
	mb := intoto.Metablock{Signed: intoto.Link{Type: "link", Name: "package", Command: []string{"tar", "czf", "app.tgz", "app"},
		Materials:   map[string]intoto.HashObj{"app": {"sha256": sha("app")}},
		Products:    map[string]intoto.HashObj{"app.tgz": {"sha256": sha("app.tgz")}},
		ByProducts:  map[string]any{"return-value": 0},
		Environment: map[string]any{}}}
	if err := mb.Sign(key); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: raw})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetReceipt().GetStep() != "package" {
		t.Fatalf("receipt %v", resp.GetReceipt())
	}
	list, err := e.atts().List(as(tok["reader"]), &attestdv1.ListRequest{SubjectDigest: "sha256:" + sha("app.tgz")})
	if err != nil || len(list.GetAttestations()) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	a := list.GetAttestations()[0]
	if !bytes.Equal(a.GetEnvelope(), raw) || a.GetStatementType() != "link" || a.GetSignerKeyIds()[0] != s.id {
		t.Fatalf("stored %v", a)
	}
	if len(a.GetMaterials()) != 1 || a.GetMaterials()[0].GetName() != "app" {
		t.Fatalf("materials %v", a.GetMaterials())
	}
	// A tampered link does not verify.
	tampered := bytes.Replace(raw, []byte(`"package"`), []byte(`"packagE"`), 1)
	_, err = e.atts().Submit(as(tok["admin"]), &attestdv1.SubmitRequest{Envelope: tampered})
	if err == nil {
		t.Fatal("tampered link accepted")
	}
}
