package e2e

import (
	"crypto"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/rekor"
	"github.com/attestd/attestd/internal/rekor/rekortest"
)

// rekorURL is the URL of the real Rekor of scripts/rekor.sh; without it the Rekor tests skip, or fail under
// ATTESTD_REQUIRE_REKOR=1.
func rekorURL(t testing.TB) string { return rekortest.URL(t) }

// TestRekor: a project anchors its attestations in a real Rekor, chosen by its admin among the servers of
// attestd serve --rekor-allow. A two-step supply chain recorded with attest run is uploaded by attestd's
// worker; attest get shows the entries, whose JSON verifies with attestd's code against the submitted
// envelope files and, fetched from Rekor by UUID, with Rekor's own; a policy with --require-rekor allows the
// product. Refusals: a Rekor URL outside --rekor-allow, --require-rekor in a project that does not anchor.
// After --no-rekor a new attestation has no entry, and the policy denies it; on each backend.
func TestRekor(t *testing.T) {
	u := rekorURL(t)
	onEachBackend(t, func(t *testing.T, db backend) { rekorJourney(t, db, u) })
}

func rekorJourney(t *testing.T, db backend, u string) {
	// The flags of attestd serve default to their ATTESTD_ variables: this is --rekor-allow u.
	d := startDaemon(t, db.newDatabase(t), "ATTESTD_REKOR_ALLOW="+u)
	dir := t.TempDir()
	admin := &cli{t: t, d: d, dir: dir, token: d.adminToken(t)}
	admin.ok("--plaintext", "project", "create", "shop")
	token := func(role string) *cli {
		return &cli{t: t, d: d, dir: dir,
			token: strings.TrimSpace(admin.ok("--plaintext", "token", "create", "--project", "shop", "--role", role))}
	}
	pa, runner, reader, verifier := token("admin"), token("attestor"), token("reader"), token("verifier")

	pa.ok("keygen", "--out", "owner.pem")
	pa.ok("keygen", "--out", "ci.pem")
	pa.ok("--plaintext", "key", "add", "--pub", "owner.pem.pub", "--owner")
	pa.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")
	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	pa.ok("layout", "new", "--step", "build:ci.pem.pub", "--step", "package:ci.pem.pub", "--expires", expires,
		"--out", "release.json")
	addRules(t, filepath.Join(dir, "release.json"), map[string][2][][]string{
		"build": {{{"DISALLOW", "*"}}, {{"CREATE", "app.tar"}, {"DISALLOW", "*"}}},
		"package": {{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
			{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}},
	})
	pa.ok("layout", "sign", "--key", "owner.pem", "--in", "release.json", "--out", "release.dsse")
	pa.ok("--plaintext", "layout", "push", "--name", "release", "release.dsse")
	requireRekor := []string{"--plaintext", "policy", "set", "--name", "debs", "--kind", "file", "--match", "*.deb",
		"--layout", "release", "--require-rekor"}

	// Not anchoring yet: no policy may require Rekor.
	r := pa.run(requireRekor...)
	if r.code != 1 || !strings.Contains(r.stderr, "FAILED_PRECONDITION") || !strings.Contains(r.stderr, `project "shop" does not anchor`) ||
		!strings.Contains(r.stderr, "attest project set --rekor-url") {
		t.Fatalf("policy set --require-rekor without Rekor: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The Rekor server's public key, as its operator publishes it.
	resp, err := http.Get(u + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatal(err)
	}
	rekorPub, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/api/v1/log/publicKey: %d %v\n%s", u, resp.StatusCode, err, rekorPub)
	}
	if err := os.WriteFile(filepath.Join(dir, "rekor.pub"), rekorPub, 0o644); err != nil {
		t.Fatal(err)
	}

	// A Rekor server outside --rekor-allow is refused to the project admin, and nothing changes.
	r = pa.run("--plaintext", "project", "set", "--rekor-url", "http://127.0.0.1:1", "--rekor-key", "rekor.pub")
	if r.code != 1 || !strings.Contains(r.stderr, "PERMISSION_DENIED") || !strings.Contains(r.stderr, "--rekor-allow") ||
		!strings.Contains(r.stderr, u) {
		t.Fatalf("project set with a Rekor URL outside --rekor-allow: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := reader.ok("--plaintext", "project", "get"); !strings.Contains(out, "project shop\n") ||
		!strings.Contains(out, "rekor   off\n") {
		t.Fatalf("project get after the refusal:\n%s", out)
	}

	if out := pa.ok("--plaintext", "project", "set", "--rekor-url", u, "--rekor-key", "rekor.pub"); out != "project shop anchors its new attestations in "+u+"\n" {
		t.Fatalf("project set: %q", out)
	}
	if out := reader.ok("--plaintext", "project", "get"); !strings.Contains(out, "rekor   "+u+"\n") {
		t.Fatalf("project get:\n%s", out)
	}
	if out := pa.ok(requireRekor...); !strings.Contains(out, "every attestation anchored in Rekor") {
		t.Fatalf("policy set --require-rekor: %s", out)
	}
	if out := reader.ok("--plaintext", "policy", "list"); !strings.Contains(out, "required") {
		t.Fatalf("policy list:\n%s", out)
	}

	// The supply chain; the worker uploads each envelope in the background.
	runner.ok("--plaintext", "run", "--wait", "--step", "build", "--key", "ci.pem", "--products", "app.tar", "--",
		"sh", "-c", "echo app > app.tar")
	runner.ok("--plaintext", "run", "--wait", "--step", "package", "--key", "ci.pem", "--materials", "app.tar",
		"--products", "app.deb", "--", "sh", "-c", "cat app.tar > app.deb && echo deb >> app.deb")
	type anchored struct {
		step, id, digest string
		envelope         []byte
		logIndex         int64
	}
	var chain []*anchored
	for _, s := range []struct{ step, product string }{{"build", "app.tar"}, {"package", "app.deb"}} {
		envelope, err := os.ReadFile(filepath.Join(dir, s.step+".intoto.json"))
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, &anchored{step: s.step, id: fileSHA(t, filepath.Join(dir, s.step+".intoto.json")),
			digest: "sha256:" + fileSHA(t, filepath.Join(dir, s.product)), envelope: envelope})
	}
	for _, a := range chain {
		a.logIndex = awaitRekorDone(t, reader, a.digest, a.id)
	}
	if chain[0].logIndex == chain[1].logIndex {
		t.Fatalf("build and package both at Rekor log index %d", chain[0].logIndex)
	}

	api, err := rekorclient.GetRekorClient(u)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(rekorPub)
	if err != nil {
		t.Fatal(err)
	}
	rekorVerifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var stored []rekor.Entry
	for _, a := range chain {
		// attest get --json carries the entry, in the form attestd stores it.
		var list attestdv1.ListResponse
		if err := protojson.Unmarshal([]byte(reader.ok("--plaintext", "--json", "get", "--digest", a.digest)), &list); err != nil {
			t.Fatalf("attest get --json --digest %s: %v", a.digest, err)
		}
		var got *attestdv1.Anchor
		for _, att := range list.GetAttestations() {
			if att.GetReceipt().GetId() == a.id {
				got = att.GetAnchor()
			}
		}
		if got.GetState() != "done" || got.GetEntry() == nil {
			t.Fatalf("%s: attest get --json shows anchor %v", a.step, got)
		}
		entry, err := rekor.ParseEntry(got.GetEntry().GetEntryJson())
		if err != nil {
			t.Fatalf("%s: entryJson: %v", a.step, err)
		}
		if entry.UUID != got.GetEntry().GetUuid() || entry.LogIndex != a.logIndex || got.GetEntry().GetLogIndex() != a.logIndex {
			t.Fatalf("%s: entry %s #%d, anchor %s #%d, attest get printed #%d", a.step, entry.UUID, entry.LogIndex,
				got.GetEntry().GetUuid(), got.GetEntry().GetLogIndex(), a.logIndex)
		}
		// attestd's offline check: the entry records the very envelope file attest run submitted.
		if err := rekor.VerifyEntry(t.Context(), entry, a.envelope, rekorPub); err != nil {
			t.Fatalf("%s: VerifyEntry against %s.intoto.json: %v", a.step, a.step, err)
		}
		stored = append(stored, entry)

		// Rekor's own verification code, on the entry as Rekor serves it by that UUID.
		resp, err := api.Entries.GetLogEntryByUUID(entries.NewGetLogEntryByUUIDParamsWithContext(t.Context()).WithEntryUUID(entry.UUID))
		if err != nil {
			t.Fatalf("%s: Rekor's entry %s: %v", a.step, entry.UUID, err)
		}
		anon, ok := resp.Payload[entry.UUID]
		if !ok || len(resp.Payload) != 1 || anon.LogIndex == nil || *anon.LogIndex != a.logIndex {
			t.Fatalf("%s: Rekor's answer for %s (attest printed #%d): %+v", a.step, entry.UUID, a.logIndex, resp.Payload)
		}
		if err := verify.VerifyLogEntry(t.Context(), &anon, rekorVerifier); err != nil {
			t.Fatalf("%s: Rekor's VerifyLogEntry of %s: %v", a.step, entry.UUID, err)
		}
		if body, _ := anon.Body.(string); body != base64.StdEncoding.EncodeToString(entry.Body) {
			t.Fatalf("%s: Rekor serves another body for %s than attestd stored", a.step, entry.UUID)
		}
	}
	// An entry binds its own envelope alone.
	if err := rekor.VerifyEntry(t.Context(), stored[0], chain[1].envelope, rekorPub); !errors.Is(err, rekor.ErrEnvelopeMismatch) {
		t.Fatalf("build's entry against package's envelope: %v", err)
	}

	// Nothing failed: a retry of every failed anchor puts none back; the command needs ids or --all-failed.
	if out := pa.ok("--plaintext", "anchor", "retry", "--all-failed"); out != "0 anchors back in the queue\n" {
		t.Fatalf("anchor retry --all-failed: %q", out)
	}
	if r := pa.run("--plaintext", "anchor", "retry"); r.code != 2 || !strings.Contains(r.stderr, "--all-failed") {
		t.Fatalf("anchor retry without ids: exit %d\n%s", r.code, r.stderr)
	}

	out := verifier.ok("--plaintext", "verify", "file", "app.deb")
	if !strings.Contains(out, "ALLOWED") || !strings.Contains(out, "layout release version 1 (policy debs)") ||
		!strings.Contains(out, "step package: "+chain[1].id) {
		t.Fatalf("verify file app.deb, anchored:\n%s", out)
	}

	// Anchoring off: refused while a policy requires Rekor; with the policy relaxed, done. A new attestation
	// has no entry, the earlier ones keep theirs; anchoring on again and the policy requiring it again, the
	// new attestation does not count.
	if r := pa.run("--plaintext", "project", "set", "--no-rekor"); r.code != 1 || !strings.Contains(r.stderr, "policies debs of project \"shop\" require Rekor") {
		t.Fatalf("project set --no-rekor under a policy that requires Rekor: exit %d\n%s", r.code, r.stderr)
	}
	pa.ok("--plaintext", "policy", "set", "--name", "debs", "--kind", "file", "--match", "*.deb", "--layout", "release")
	if out := pa.ok("--plaintext", "project", "set", "--no-rekor"); out != "project shop does not anchor in Rekor\n" {
		t.Fatalf("project set --no-rekor: %q", out)
	}
	if out := reader.ok("--plaintext", "project", "get"); !strings.Contains(out, "rekor   off\n") {
		t.Fatalf("project get after --no-rekor:\n%s", out)
	}
	runner.ok("--plaintext", "run", "--wait", "--step", "package", "--key", "ci.pem", "--materials", "app.tar",
		"--products", "app.deb", "--", "sh", "-c", "cat app.tar > app.deb && echo deb 2 >> app.deb")
	id2 := fileSHA(t, filepath.Join(dir, "package.intoto.json"))
	digest2 := "sha256:" + fileSHA(t, filepath.Join(dir, "app.deb"))
	if col := rekorColumn(t, reader.ok("--plaintext", "get", "--digest", digest2), id2); col != "-" {
		t.Fatalf("REKOR column of the attestation accepted without anchoring: %q, want -", col)
	}
	if col := rekorColumn(t, reader.ok("--plaintext", "get", "--digest", chain[0].digest), chain[0].id); col != "done #"+strconv.FormatInt(chain[0].logIndex, 10) {
		t.Fatalf("REKOR column of build after --no-rekor: %q", col)
	}
	if r := pa.run(requireRekor...); r.code != 1 || !strings.Contains(r.stderr, "does not anchor") {
		t.Fatalf("policy set --require-rekor after --no-rekor: exit %d\n%s", r.code, r.stderr)
	}
	pa.ok("--plaintext", "project", "set", "--rekor-url", u, "--rekor-key", "rekor.pub")
	pa.ok(requireRekor...)
	r = verifier.run("--plaintext", "verify", "file", "app.deb")
	if r.code != 1 || !strings.Contains(r.stdout, "DENIED") ||
		!strings.Contains(r.stdout, "attestation "+id2+" does not count: the policy requires a Rekor entry, and it has none") {
		t.Fatalf("verify file app.deb, not anchored: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("denied:\n%s", r.stdout)
}

// awaitRekorDone runs attest get until the REKOR column of attestation id says done, for 30 s at most, and
// returns the Rekor log index it shows. Before that the column may only say pending.
func awaitRekorDone(t *testing.T, c *cli, digest, id string) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := c.ok("--plaintext", "get", "--digest", digest)
		col := rekorColumn(t, out, id)
		if n, ok := strings.CutPrefix(col, "done #"); ok {
			i, err := strconv.ParseInt(n, 10, 64)
			if err != nil || i < 0 {
				t.Fatalf("REKOR column %q", col)
			}
			return i
		}
		if !strings.HasPrefix(col, "pending") {
			t.Fatalf("REKOR column of %s is %q, want pending or done:\n%s", id, col, out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the anchor of %s is still %q after 30 s:\n%s", id, col, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rekorColumn returns the REKOR cell of the row of attestation id in the table attest get prints, found by
// the header's column positions (the columns are space-aligned).
func rekorColumn(t *testing.T, out, id string) string {
	t.Helper()
	lines := strings.Split(out, "\n")
	header := lines[0]
	start, end := strings.Index(header, "  REKOR  "), strings.LastIndex(header, "  LOG")
	if !strings.HasPrefix(header, "INTEGRATED") || start < 0 || end < start {
		t.Fatalf("attest get printed no table:\n%s", out)
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, " "+id+" ") && len(l) > end {
			return strings.TrimSpace(l[start+2 : end+2])
		}
	}
	t.Fatalf("attest get does not list %s:\n%s", id, out)
	return ""
}
