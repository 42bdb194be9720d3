package server_test

import (
	"encoding/json"
	"testing"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/server"
)

// TestVerifyVSA: an allowed decision asked with vsa=true comes with a summary signed by the verifier key,
// recorded in the log and stored in the project; a denied one comes without.
func TestVerifyVSA(t *testing.T) {
	e := newEnv(t, attestation.Limits{})
	tok := e.project("acme")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	src, tar, deb := sha("vsa src"), sha("vsa tar"), sha("vsa deb")
	buildID := e.submitLogged(t, tok["attestor"], linkStatement("build",
		map[string]string{"src/main.c": src}, map[string]string{"app.tar": tar}), fn.signer)
	pkgID := e.submitLogged(t, tok["attestor"], linkStatement("package",
		map[string]string{"app.tar": tar}, map[string]string{"app.deb": deb}), fn.signer)

	resp, err := e.verifier().Verify(as(tok["verifier"]), &attestdv1.VerifyRequest{Kind: "file", Name: "app.deb",
		Digest: "sha256:" + deb, Vsa: true})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetDecision().GetAllowed() {
		t.Fatalf("denied: %q", resp.GetDecision().GetReasons())
	}
	if len(resp.GetVsa()) == 0 || resp.GetVsaReceipt() == nil {
		t.Fatal("allowed with vsa=true, but no VSA or receipt")
	}

	// Signed by the verifier key, and by nothing the project registered.
	env, err := attestation.ParseEnvelope(resp.GetVsa(), attestation.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attestation.ParsePublicKey(e.vsa.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := attestation.VerifySignatures(env, []*attestation.PublicKey{pub}); err != nil || len(ids) != 1 || ids[0] != e.vsa.KeyID() {
		t.Fatalf("VSA signature: %v %v", ids, err)
	}
	fnPub, err := attestation.ParsePublicKey([]byte(fn.signer.pem))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestation.VerifySignatures(env, []*attestation.PublicKey{fnPub}); err == nil {
		t.Fatal("VSA verifies with a functionary key")
	}

	var stmt struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			Verifier struct {
				ID string `json:"id"`
			} `json:"verifier"`
			TimeVerified string `json:"timeVerified"`
			ResourceURI  string `json:"resourceUri"`
			Policy       struct {
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"policy"`
			InputAttestations []struct {
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"inputAttestations"`
			VerificationResult string `json:"verificationResult"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(env.Payload, &stmt); err != nil {
		t.Fatal(err)
	}
	p := stmt.Predicate
	if stmt.Type != "https://in-toto.io/Statement/v1" || stmt.PredicateType != server.VSAPredicateType ||
		len(stmt.Subject) != 1 || stmt.Subject[0].Name != "app.deb" || stmt.Subject[0].Digest["sha256"] != deb ||
		p.Verifier.ID != server.VSAVerifierID || p.ResourceURI != "app.deb" || p.VerificationResult != "PASSED" ||
		p.Policy.URI != "attestd:policy/acme/debs?layout=release&version=1" || len(p.Policy.Digest["sha256"]) != 64 ||
		p.TimeVerified == "" {
		t.Fatalf("statement: %s", env.Payload)
	}
	inputs := map[string]bool{}
	for _, in := range p.InputAttestations {
		if in.URI != "attestd:attestation/"+in.Digest["sha256"] {
			t.Fatalf("input attestation %v", in)
		}
		inputs[in.Digest["sha256"]] = true
	}
	if len(inputs) != 2 || !inputs[buildID] || !inputs[pkgID] {
		t.Fatalf("input attestations %v, want %s and %s", inputs, buildID, pkgID)
	}

	// In the log and in the project, like a submitted attestation.
	id := resp.GetVsaReceipt().GetId()
	proof, err := attestdv1.NewLogServiceClient(e.conn).GetInclusionProof(as(tok["verifier"]),
		&attestdv1.GetInclusionProofRequest{AttestationId: id, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if proof.GetProof().GetLogIndex() != resp.GetVsaReceipt().GetLogIndex() {
		t.Fatalf("proof for leaf %d, receipt says %d", proof.GetProof().GetLogIndex(), resp.GetVsaReceipt().GetLogIndex())
	}
	got, err := e.atts().Get(as(tok["admin"]), &attestdv1.GetRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.GetAttestation(); string(a.GetEnvelope()) != string(resp.GetVsa()) ||
		len(a.GetSignerKeyIds()) != 1 || a.GetSignerKeyIds()[0] != e.vsa.KeyID() {
		t.Fatalf("stored VSA: signers %v", a.GetSignerKeyIds())
	}

	// A VSA in the project does not change the next decision.
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
		t.Fatalf("denied after the VSA: %q", d.GetReasons())
	}

	// Denied: no VSA.
	resp, err = e.verifier().Verify(as(tok["verifier"]), &attestdv1.VerifyRequest{Kind: "file", Name: "other.deb",
		Digest: "sha256:" + sha("nothing"), Vsa: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision().GetAllowed() || len(resp.GetVsa()) != 0 || resp.GetVsaReceipt() != nil {
		t.Fatalf("denied decision: allowed=%v, VSA %d bytes, receipt %v", resp.GetDecision().GetAllowed(),
			len(resp.GetVsa()), resp.GetVsaReceipt())
	}
}
