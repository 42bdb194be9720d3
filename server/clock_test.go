package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// TestClockSetBack: the server's clock set back does not revive an expired key or layout, nor date an
// attestation before one it integrated earlier; a restart keeps that, from the newest integration time in the
// database.
func TestClockSetBack(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	expiring := newSigner(t)
	if _, err := e.keys().AddKey(as(tok["admin"]), &attestdv1.AddKeyRequest{PublicKeyPem: expiring.pem,
		ExpireTime: timestamppb.New(e.clock.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	e.pushLayout(t, tok["admin"], "release", owner, fn, // expires in 24 hours
		layoutStep("package", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.setPolicy(tok["admin"], "debs", "file", "*.deb", "release"); err != nil {
		t.Fatal(err)
	}
	deb := sha("clock deb")
	e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": deb}), fn.signer)

	// Two days on: the key and the layout have expired.
	e.clock.Advance(48 * time.Hour)
	late := e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": sha("late deb")}), fn.signer)
	lateAt, err := e.atts().Get(as(tok["reader"]), &attestdv1.GetRequest{Id: late})
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), "the layout expired on")

	// The clock is set back three days: nothing expired comes back, and time does not go back.
	check := func(when string) {
		t.Helper()
		_, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{
			Envelope: envelope(inTotoPayloadType, statement("package", "other.deb"), expiring)})
		wantCode(t, err, codes.PermissionDenied, "expired")
		wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), "the layout expired on")
		id := e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": sha(when)}), fn.signer)
		got, err := e.atts().Get(as(tok["reader"]), &attestdv1.GetRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetAttestation().GetReceipt().GetIntegratedTime().AsTime().Before(lateAt.GetAttestation().GetReceipt().GetIntegratedTime().AsTime()) {
			t.Fatalf("%s: integrated at %v, before an attestation integrated earlier (%v)", when,
				got.GetAttestation().GetReceipt().GetIntegratedTime().AsTime(), lateAt.GetAttestation().GetReceipt().GetIntegratedTime().AsTime())
		}
	}
	e.clock.Advance(-72 * time.Hour)
	check("set back")
	// A restart with the clock still set back: the newest integration time in the database holds it.
	e.restart(t)
	check("restarted")
}
