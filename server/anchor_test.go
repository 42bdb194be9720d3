package server_test

import (
	"context"
	"crypto"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	in_toto "github.com/in-toto/in-toto-golang/in_toto"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/grpc/codes"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/rekor"
	"github.com/attestd/attestd/internal/rekor/rekortest"
)

// The tests of this file need a real Rekor: bash scripts/rekor.sh up, then ATTESTD_REKOR_URL=http://... .
// Without it they skip, unless ATTESTD_REQUIRE_REKOR=1 (as in CI), which makes them fail.

// rekorURL is the URL of the real Rekor of scripts/rekor.sh; without it the Rekor tests skip, or fail under
// ATTESTD_REQUIRE_REKOR=1.
func rekorURL(t testing.TB) string { return rekortest.URL(t) }

// rekorShop is verifyShop whose project anchors in the real Rekor at u, with the anchoring worker running.
func rekorShop(t *testing.T, u string) (e *env, tok map[string]string, owner, fn *intotoKey, rekorKey []byte) {
	t.Helper()
	c, err := rekor.NewClient(u)
	if err != nil {
		t.Fatal(err)
	}
	rekorKey, err = c.PublicKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e, tok, owner, fn = verifyShop(t)
	// A server admin: project admins may choose only the Rekor servers of attestd serve --rekor-allow.
	if _, err := e.projects().SetProjectRekor(as(e.admin), &attestdv1.SetProjectRekorRequest{Project: "acme", Url: u, PublicKey: rekorKey}); err != nil {
		t.Fatal(err)
	}
	e.runAnchoring(t)
	return e, tok, owner, fn, rekorKey
}

// runAnchoring runs the anchoring worker of the env's current server until the test ends.
func (e *env) runAnchoring(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := e.srv
	go func() { srv.RunAnchoring(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// awaitAnchor waits until the attestation's anchor leaves pending and returns it.
func (e *env) awaitAnchor(t *testing.T, secret, id string, within time.Duration) *attestdv1.Anchor {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := e.atts().Get(as(secret), &attestdv1.GetRequest{Id: id})
		if err != nil {
			t.Fatal(err)
		}
		a := resp.GetAttestation().GetAnchor()
		if a == nil {
			t.Fatalf("attestation %s has no anchor", id)
		}
		if a.GetState() != "pending" {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("anchor of %s still pending after %v: %d attempts, last error %q", id, within, a.GetAttempts(), a.GetLastError())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRekorAnchoring: an attestation accepted while its project anchors is pending at once (the receipt
// does not wait for Rekor), then done; its entry verifies with Rekor's own code, fetched from Rekor, and with
// attestd's against the envelope; Verify under a policy that requires Rekor counts it only then.
func TestRekorAnchoring(t *testing.T) {
	e, tok, owner, fn, rekorKey := rekorShop(t, rekorURL(t))
	e.pushLayout(t, tok["admin"], "release", owner, fn,
		layoutStep("package", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}))
	if _, err := e.policies().SetPolicy(as(tok["admin"]), &attestdv1.SetPolicyRequest{Name: "debs", Kind: "file",
		Match: "*.deb", Layout: "release", RequireRekor: true}); err != nil {
		t.Fatal(err)
	}
	deb := sha("anchored deb")
	env := envelope(inTotoPayloadType, linkStatement("package", nil, map[string]string{"app.deb": deb}), fn.signer)
	resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.GetReceipt().GetAnchorState(); st != "pending" {
		t.Fatalf("receipt anchor state %q, want pending", st)
	}
	id := resp.GetReceipt().GetId()
	a := e.awaitAnchor(t, tok["reader"], id, 30*time.Second)
	if a.GetState() != "done" || a.GetEntry() == nil {
		t.Fatalf("anchor %v", a)
	}

	// Rekor's own verification code, on the entry as Rekor serves it.
	ctx := t.Context()
	api, err := rekorclient.GetRekorClient(rekorURL(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.Entries.GetLogEntryByUUID(entries.NewGetLogEntryByUUIDParamsWithContext(ctx).WithEntryUUID(a.GetEntry().GetUuid()))
	if err != nil {
		t.Fatal(err)
	}
	anon, ok := got.Payload[a.GetEntry().GetUuid()]
	if !ok || *anon.LogIndex != a.GetEntry().GetLogIndex() {
		t.Fatalf("Rekor's entry %s: %+v", a.GetEntry().GetUuid(), got.Payload)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(rekorKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.VerifyLogEntry(ctx, &anon, v); err != nil {
		t.Fatalf("Rekor's VerifyLogEntry: %v", err)
	}
	// The stored entry, as attest and attestd read it, records this envelope and verifies offline.
	stored, err := rekor.ParseEntry(a.GetEntry().GetEntryJson())
	if err != nil {
		t.Fatal(err)
	}
	if err := rekor.VerifyEntry(ctx, stored, env, rekorKey); err != nil {
		t.Fatalf("VerifyEntry of the stored entry: %v", err)
	}
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
		t.Fatalf("anchored, denied: %q", d.GetReasons())
	}
	// The project's Rekor key replaced by another log's: the kept decision is not returned, the entry does not
	// verify against the new key; the right key back, allowed again.
	other := []byte(newSigner(t).pem)
	if _, err := e.projects().SetProjectRekor(as(e.admin), &attestdv1.SetProjectRekorRequest{Project: "acme", Url: rekorURL(t), PublicKey: other}); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb), "its Rekor entry does not verify")
	if _, err := e.projects().SetProjectRekor(as(e.admin), &attestdv1.SetProjectRekorRequest{Project: "acme", Url: rekorURL(t), PublicKey: rekorKey}); err != nil {
		t.Fatal(err)
	}
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
		t.Fatalf("the right key back, denied: %q", d.GetReasons())
	}

	// Anchoring cannot be turned off while a policy requires it; with the policy relaxed, it can.
	_, err = e.projects().SetProjectRekor(as(tok["admin"]), &attestdv1.SetProjectRekorRequest{})
	wantCode(t, err, codes.FailedPrecondition, "debs", "require Rekor")
	if _, err := e.policies().SetPolicy(as(tok["admin"]), &attestdv1.SetPolicyRequest{Name: "debs", Kind: "file",
		Match: "*.deb", Layout: "release"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.projects().SetProjectRekor(as(tok["admin"]), &attestdv1.SetProjectRekorRequest{}); err != nil {
		t.Fatal(err)
	}
	// Accepted while anchoring is off: no anchor, now or later.
	deb2 := sha("unanchored deb")
	e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": deb2}), fn.signer)
	// On again (the URL's trailing slash is dropped), and the policy requires Rekor again.
	set, err := e.projects().SetProjectRekor(as(e.admin), &attestdv1.SetProjectRekorRequest{Project: "acme", Url: rekorURL(t) + "/", PublicKey: rekorKey})
	if err != nil || set.GetProject().GetRekor().GetUrl() != rekorURL(t) {
		t.Fatalf("SetProjectRekor: %v %v", set, err)
	}
	if _, err := e.policies().SetPolicy(as(tok["admin"]), &attestdv1.SetPolicyRequest{Name: "debs", Kind: "file",
		Match: "*.deb", Layout: "release", RequireRekor: true}); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb2),
		"the policy requires a Rekor entry, and it has none")

	// A third attestation is anchored; then its stored entry is swapped for the first one's behind attestd's
	// back: an entry for another envelope never counts.
	deb3 := sha("third deb")
	id3 := e.submitLogged(t, tok["attestor"], linkStatement("package", nil, map[string]string{"app.deb": deb3}), fn.signer)
	if a := e.awaitAnchor(t, tok["reader"], id3, 30*time.Second); a.GetState() != "done" {
		t.Fatalf("anchor %v", a)
	}
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb3); !d.GetAllowed() {
		t.Fatalf("anchored, denied: %q", d.GetReasons())
	}
	conn := e.connDB(t)
	tag, err := conn.Exec(ctx, `UPDATE anchors SET entry = (SELECT entry FROM anchors WHERE attestation_id = $1)
		WHERE attestation_id = $2`, id, id3)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("swap entries: %v %v", tag, err)
	}
	e.restart(t) // what was checked is kept in memory; a restart reads the rows again
	wantDenied(t, e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb3),
		"its Rekor entry does not verify", "not for this envelope")
	// The first one still counts.
	if d := e.verify(t, tok["verifier"], "file", "app.deb", "sha256:"+deb); !d.GetAllowed() {
		t.Fatalf("untouched, denied: %q", d.GetReasons())
	}
}

// TestRekorAnchoringRefusals: the settings are checked; a project admin may choose only the Rekor servers the
// operator allows (attestd sends requests there: a tenant must not aim them inside the operator's network); a
// policy cannot require Rekor of a project that does not anchor; nothing changes on a refusal.
func TestRekorAnchoringRefusals(t *testing.T) {
	e, tok, owner, fn := verifyShop(t)
	e.pushTestLayout(t, tok["admin"], "release", owner, fn)
	key := []byte(fn.signer.pem)
	for _, c := range []struct {
		secret string
		req    *attestdv1.SetProjectRekorRequest
		code   codes.Code
		frag   string
	}{
		{e.admin, &attestdv1.SetProjectRekorRequest{Url: "ftp://rekor.example", PublicKey: key}, codes.InvalidArgument, "url"},
		{e.admin, &attestdv1.SetProjectRekorRequest{Url: "https://user:pw@rekor.example", PublicKey: key}, codes.InvalidArgument, "url"},
		{e.admin, &attestdv1.SetProjectRekorRequest{Url: "https://rekor.example"}, codes.InvalidArgument, "public_key"},
		{e.admin, &attestdv1.SetProjectRekorRequest{Url: "https://rekor.example", PublicKey: []byte("not a key")}, codes.InvalidArgument, "public_key"},
		{e.admin, &attestdv1.SetProjectRekorRequest{PublicKey: key}, codes.InvalidArgument, "without url"},
		{e.admin, &attestdv1.SetProjectRekorRequest{Url: "https://" + strings.Repeat("a", 3000), PublicKey: key}, codes.InvalidArgument, "url"},
		{tok["admin"], &attestdv1.SetProjectRekorRequest{Url: "http://169.254.169.254/latest", PublicKey: key}, codes.PermissionDenied, "--rekor-allow"},
		{tok["attestor"], &attestdv1.SetProjectRekorRequest{Url: "https://rekor.example", PublicKey: key}, codes.PermissionDenied, "token may not"},
	} {
		if c.secret == e.admin {
			c.req.Project = "acme"
		}
		_, err := e.projects().SetProjectRekor(as(c.secret), c.req)
		wantCode(t, err, c.code, c.frag)
	}
	_, err := e.policies().SetPolicy(as(tok["admin"]), &attestdv1.SetPolicyRequest{Name: "p", Kind: "file", Match: "*",
		Layout: "release", RequireRekor: true})
	wantCode(t, err, codes.FailedPrecondition, "does not anchor")
	// Nothing changed: the project does not anchor, and no policy was set.
	got, err := e.projects().GetProject(as(tok["reader"]), &attestdv1.GetProjectRequest{})
	if err != nil || got.GetProject().GetRekor() != nil {
		t.Fatalf("GetProject: %v %v", got, err)
	}
	if ps := e.listPolicies(tok["admin"], ""); len(ps) != 0 {
		t.Fatalf("policies %v", ps)
	}
	// A valid setting round-trips; --no-rekor clears it.
	if _, err := e.projects().SetProjectRekor(as(e.admin), &attestdv1.SetProjectRekorRequest{Project: "acme", Url: "https://rekor.example", PublicKey: key}); err != nil {
		t.Fatal(err)
	}
	got, err = e.projects().GetProject(as(tok["reader"]), &attestdv1.GetProjectRequest{})
	if err != nil || got.GetProject().GetRekor().GetUrl() != "https://rekor.example" || string(got.GetProject().GetRekor().GetPublicKey()) != string(key) {
		t.Fatalf("GetProject: %v %v", got, err)
	}
	if _, err := e.projects().SetProjectRekor(as(tok["admin"]), &attestdv1.SetProjectRekorRequest{}); err != nil {
		t.Fatal(err)
	}
	got, err = e.projects().GetProject(as(tok["reader"]), &attestdv1.GetProjectRequest{})
	if err != nil || got.GetProject().GetRekor() != nil {
		t.Fatalf("after turning it off: %v %v", got, err)
	}
}

// rekorScript runs scripts/rekor.sh with args and returns what it printed.
func rekorScript(t *testing.T, args ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "scripts", "rekor.sh")
	out, err := exec.Command("bash", append([]string{script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/rekor.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// spareRekor starts the spare rekor-server of scripts/rekor.sh (the same log and key as the main one, its own
// process) and returns its URL: a test can stop it without disturbing the others.
func spareRekor(t *testing.T) string {
	t.Helper()
	rekorURL(t) // skips or fails as the other Rekor tests do
	for _, line := range strings.Split(rekorScript(t, "spare", "start"), "\n") {
		if u, ok := strings.CutPrefix(line, "REKOR_URL="); ok {
			t.Cleanup(func() { rekorScript(t, "spare", "stop") })
			return strings.TrimSpace(u)
		}
	}
	t.Fatal("scripts/rekor.sh spare start printed no REKOR_URL")
	return ""
}

// TestRekorOutage: rekor-server (the spare, so that other tests run on) stops in the middle of a run of
// submissions. Every submission is accepted
// all the same, its anchor pending; attestd restarts while they are; once rekor-server is back, every anchor
// completes.
func TestRekorOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts rekor-server")
	}
	e, tok, owner, fn, _ := rekorShop(t, spareRekor(t))
	e.pushLayout(t, tok["admin"], "built", owner, fn,
		layoutStep("build", [][]string{{"ALLOW", "*"}}, [][]string{{"CREATE", "out"}, {"DISALLOW", "*"}}))
	if _, err := e.policies().SetPolicy(as(tok["admin"]), &attestdv1.SetPolicyRequest{Name: "outs", Kind: "file",
		Match: "out", Layout: "built", RequireRekor: true}); err != nil {
		t.Fatal(err)
	}
	outDigest := func(i int) string { return sha(fmt.Sprint("outage ", i, " ", t.Name())) }
	submitOne := func(i int) (string, error) {
		stmt := linkStatement("build", nil, map[string]string{"out": outDigest(i)})
		resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, stmt, fn.signer)})
		if err != nil {
			return "", fmt.Errorf("submission %d: %w", i, err)
		}
		return resp.GetReceipt().GetId(), nil
	}
	submit := func(i int) string {
		t.Helper()
		id, err := submitOne(i)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// A load: 8 clients submitting until told to stop; the main goroutine stops rekor-server in the middle.
	var (
		mu      sync.Mutex
		ids     []string
		loadErr error
		next    atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, err := submitOne(int(next.Add(1)))
				mu.Lock()
				ids = append(ids, id)
				if err != nil && loadErr == nil {
					loadErr = err
				}
				mu.Unlock()
			}
		}()
	}
	submitted := func() int { mu.Lock(); defer mu.Unlock(); return len(ids) }
	awaitSubmitted := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); submitted() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d submissions after a minute, want %d", submitted(), n)
			}
		}
	}
	awaitSubmitted(20)
	rekorScript(t, "spare", "stop")
	awaitSubmitted(submitted() + 40)
	close(stop)
	wg.Wait()
	if loadErr != nil {
		t.Fatalf("a submission failed while Rekor was down: %v", loadErr)
	}
	t.Logf("%d submissions under load, rekor-server stopped after 20", len(ids))
	// attestd restarts while anchors are pending: they are in the database, not in memory.
	e.restart(t)
	e.runAnchoring(t)
	for range 5 {
		ids = append(ids, submit(int(next.Add(1))))
	}
	// Let the worker fail against the stopped server at least once, with its backoff on attestd's clock.
	time.Sleep(500 * time.Millisecond)
	// Verify under a policy that requires Rekor: pending is not anchored (and the denial is not kept).
	for range 2 {
		wantDenied(t, e.verify(t, tok["verifier"], "file", "out", "sha256:"+outDigest(int(next.Load()))), "its upload to Rekor is still pending")
	}
	rekorScript(t, "spare", "start")
	// attestd's clock stands still in tests: it moves 10 s a round, past the few seconds of backoff that the
	// failed attempts earned, and far less than the layout's day.
	deadline := time.Now().Add(time.Minute)
	for pending := ids; len(pending) > 0; {
		e.clock.Advance(10 * time.Second)
		var still []string
		for _, id := range pending {
			resp, err := e.atts().Get(as(tok["reader"]), &attestdv1.GetRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			switch a := resp.GetAttestation().GetAnchor(); a.GetState() {
			case "done":
			case "pending":
				still = append(still, id)
			default:
				t.Fatalf("anchor of %s: %v", id, a)
			}
		}
		if pending = still; len(pending) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d anchors still pending a minute after rekor-server returned", len(pending))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d anchors done after the outage", len(ids))
	if d := e.verify(t, tok["verifier"], "file", "out", "sha256:"+outDigest(int(next.Load()))); !d.GetAllowed() {
		t.Fatalf("anchored after the outage, still denied: %q", d.GetReasons())
	}
}

// TestRekorRetryAnchors: a failed anchor (a classic metablock link, which Rekor's dsse type does not take)
// goes back in the queue when a project admin asks, is tried again and, still a metablock, fails again: one
// more attempt. The requests are checked.
func TestRekorRetryAnchors(t *testing.T) {
	e, tok, _, fn, _ := rekorShop(t, rekorURL(t))
	link := signLayout(t, in_toto.Link{Type: "link", Name: "build", Command: []string{"make"},
		Materials: map[string]in_toto.HashObj{}, Products: map[string]in_toto.HashObj{"app": {"sha256": sha("retry app")}},
		ByProducts: map[string]any{}, Environment: map[string]any{}}, fn)
	resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: link})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetReceipt().GetId()
	a := e.awaitAnchor(t, tok["reader"], id, 30*time.Second)
	if a.GetState() != "failed" || a.GetAttempts() != 1 || !strings.Contains(a.GetLastError(), "not a DSSE envelope") {
		t.Fatalf("the anchor of a metablock: %v", a)
	}

	for _, c := range []struct {
		secret string
		req    *attestdv1.RetryAnchorsRequest
		code   codes.Code
		frag   string
	}{
		{tok["admin"], &attestdv1.RetryAnchorsRequest{}, codes.InvalidArgument, "ids"},
		{tok["admin"], &attestdv1.RetryAnchorsRequest{Ids: []string{id}, AllFailed: true}, codes.InvalidArgument, "one or the other"},
		{tok["admin"], &attestdv1.RetryAnchorsRequest{Ids: []string{"not-an-id"}}, codes.InvalidArgument, "attestation id"},
		{tok["admin"], &attestdv1.RetryAnchorsRequest{Ids: make([]string, 1001)}, codes.ResourceExhausted, "1000"},
		{tok["attestor"], &attestdv1.RetryAnchorsRequest{Ids: []string{id}}, codes.PermissionDenied, "may not"},
	} {
		_, err := e.atts().RetryAnchors(as(c.secret), c.req)
		wantCode(t, err, c.code, c.frag)
	}
	if got := e.awaitAnchor(t, tok["reader"], id, time.Second); got.GetState() != "failed" || got.GetAttempts() != 1 {
		t.Fatalf("a refused retry changed the anchor: %v", got)
	}

	got, err := e.atts().RetryAnchors(as(tok["admin"]), &attestdv1.RetryAnchorsRequest{AllFailed: true})
	if err != nil || got.GetRetried() != 1 {
		t.Fatalf("RetryAnchors(all_failed) = %v, %v", got, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := e.awaitAnchor(t, tok["reader"], id, 30*time.Second)
		if a.GetState() == "failed" && a.GetAttempts() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the retry: %v", a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
