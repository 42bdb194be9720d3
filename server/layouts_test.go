package server_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
)

// intotoKey is a test key as in-toto-golang loads it (the private key, to sign layouts; the public key, to
// embed in them) and as attestd registers it.
type intotoKey struct {
	*signer
	priv in_toto.Key
	pub  in_toto.Key
}

func newIntotoKey(t *testing.T) *intotoKey {
	t.Helper()
	s := newSigner(t)
	der, err := x509.MarshalPKCS8PrivateKey(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	k := &intotoKey{signer: s}
	if err := k.priv.LoadKeyReaderDefaults(bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	if err := k.pub.LoadKeyReaderDefaults(strings.NewReader(s.pem)); err != nil {
		t.Fatal(err)
	}
	if k.pub.KeyID != s.id || k.priv.KeyID != s.id {
		t.Fatalf("key ids differ: attestd %s, in-toto %s / %s", s.id, k.pub.KeyID, k.priv.KeyID)
	}
	return k
}

// testLayout is a two-step layout (build, then package) whose steps the functionary signs.
func testLayout(expires time.Time, functionary *intotoKey) in_toto.Layout {
	step := func(name string, materials, products [][]string) in_toto.Step {
		s := in_toto.Step{Type: "step", Threshold: 1, PubKeys: []string{functionary.id}, ExpectedCommand: []string{"make"}}
		s.Name, s.ExpectedMaterials, s.ExpectedProducts = name, materials, products
		return s
	}
	return in_toto.Layout{
		Type:    "layout",
		Expires: expires.UTC().Format(in_toto.ISO8601DateSchema),
		Keys:    map[string]in_toto.Key{functionary.id: functionary.pub},
		Steps: []in_toto.Step{
			step("build", [][]string{{"ALLOW", "src/*"}, {"DISALLOW", "*"}}, [][]string{{"CREATE", "app.tar"}, {"DISALLOW", "*"}}),
			step("package", [][]string{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
				[][]string{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}),
		},
	}
}

// signLayout signs signed (an in_toto.Layout, or a map for layouts in-toto's types cannot express) as a
// classic metablock with each key, as in-toto-golang writes it.
func signLayout(t *testing.T, signed any, keys ...*intotoKey) []byte {
	t.Helper()
	mb := &in_toto.Metablock{Signed: signed, Signatures: []in_toto.Signature{}}
	for _, k := range keys {
		if err := mb.Sign(k.priv); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// asMap is l as generic JSON, to edit.
func asMap(t *testing.T, l in_toto.Layout) map[string]any {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) layouts() attestdv1.LayoutServiceClient {
	return attestdv1.NewLayoutServiceClient(e.conn)
}

func (e *env) addOwner(adminSecret string, k *intotoKey) {
	e.t.Helper()
	if _, err := e.keys().AddKey(as(adminSecret), &attestdv1.AddKeyRequest{PublicKeyPem: k.pem, Owner: true}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) push(secret, name string, content []byte) (*attestdv1.Layout, error) {
	resp, err := e.layouts().PushLayout(as(secret), &attestdv1.PushLayoutRequest{Name: name, Content: content})
	return resp.GetLayout(), err
}

func (e *env) history(secret, name string) []*attestdv1.Layout {
	e.t.Helper()
	resp, err := e.layouts().ListLayouts(as(secret), &attestdv1.ListLayoutsRequest{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GetLayouts()
}

func TestLayoutPushListGet(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)

	expires := e.clock.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	first := signLayout(t, testLayout(expires, fn), owner)
	got, err := e.push(tok["admin"], "release", first)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(first)
	if got.GetVersion() != 1 || got.GetId() != hex.EncodeToString(sum[:]) || got.GetName() != "release" ||
		got.GetProject() != "alpha" || !got.GetExpireTime().AsTime().Equal(expires) ||
		len(got.GetSignerKeyIds()) != 1 || got.GetSignerKeyIds()[0] != owner.id || len(got.GetContent()) != 0 {
		t.Fatalf("pushed layout %v", got)
	}

	// A DSSE-signed layout is the next version.
	payload, _ := json.Marshal(testLayout(expires.Add(time.Hour), fn))
	second := envelope(inTotoPayloadType, payload, owner.signer)
	got2, err := e.push(tok["admin"], "release", second)
	if err != nil {
		t.Fatal(err)
	}
	if got2.GetVersion() != 2 {
		t.Fatalf("second push is version %d, want 2", got2.GetVersion())
	}

	hist := e.history(tok["reader"], "release")
	if len(hist) != 2 || hist[0].GetVersion() != 2 || hist[1].GetVersion() != 1 {
		t.Fatalf("history %v, want versions 2, 1", hist)
	}
	active, err := e.layouts().GetLayout(as(tok["verifier"]), &attestdv1.GetLayoutRequest{Name: "release"})
	if err != nil || active.GetLayout().GetVersion() != 2 || !bytes.Equal(active.GetLayout().GetContent(), second) {
		t.Fatalf("active layout %v, %v", active.GetLayout(), err)
	}
	old, err := e.layouts().GetLayout(as(tok["attestor"]), &attestdv1.GetLayoutRequest{Name: "release", Version: 1})
	if err != nil || !bytes.Equal(old.GetLayout().GetContent(), first) {
		t.Fatalf("version 1: %v, %v", old.GetLayout(), err)
	}
	_, err = e.layouts().GetLayout(as(tok["reader"]), &attestdv1.GetLayoutRequest{Name: "release", Version: 3})
	wantCode(t, err, codes.NotFound, "version 3")

	// Rollback: version 1's bytes again.
	_, err = e.push(tok["admin"], "release", first)
	wantCode(t, err, codes.FailedPrecondition, "already pushed as version 1", "cannot become active again")
	if hist := e.history(tok["reader"], ""); len(hist) != 2 {
		t.Fatalf("the replay stored something: %v", hist)
	}
	// The same bytes under another name are another layout.
	if got, err := e.push(tok["admin"], "staging", first); err != nil || got.GetVersion() != 1 {
		t.Fatalf("push under another name: %v, %v", got, err)
	}
}

// TestLayoutPushIsLogged: each accepted push appends one leaf committing to project, name and bytes, in the
// order of the versions; a refused push (a replay, an unsigned layout) appends none; the start-up
// reconciliation and the audit's walk take layout leaves for rows, not orphans.
func TestLayoutPushIsLogged(t *testing.T) {
	e := newEnv(t, testLimits())
	ctx := t.Context()
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.addKey(tok["admin"], fn.signer)
	alpha, err := e.store.ProjectByName(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	size := func() uint64 {
		t.Helper()
		n, err := e.log.IntegratedSize(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	expires := e.clock.Now().Add(24 * time.Hour)
	var pushed [][]byte
	for i := range 2 {
		raw := signLayout(t, testLayout(expires.Add(time.Duration(i)*time.Hour), fn), owner)
		before := size()
		got, err := e.push(tok["admin"], "release", raw)
		if err != nil {
			t.Fatal(err)
		}
		if got.LogIndex == nil || got.GetLogIndex() < before {
			t.Fatalf("push %d answered log index %v, want the new leaf's (log size was %d)", i+1, got.LogIndex, before)
		}
		if after := size(); after != before+1 {
			t.Fatalf("push %d: log size %d -> %d, want one leaf more", i+1, before, after)
		}
		pushed = append(pushed, raw)
	}
	var prev uint64
	for i, raw := range pushed {
		l, err := e.store.GetLayout(ctx, alpha.ID, "release", int64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if l.LogIndex == nil || (i > 0 && *l.LogIndex <= prev) {
			t.Fatalf("version %d has log index %v (previous %d): want one, increasing with the version", i+1, l.LogIndex, prev)
		}
		prev = *l.LogIndex
		if _, _, err := e.log.AwaitIntegration(ctx, *l.LogIndex); err != nil {
			t.Fatal(err)
		}
		entry, err := e.log.Entry(ctx, *l.LogIndex)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(entry, tlog.EntryForLayout("alpha", "release", raw)) {
			t.Fatalf("leaf %d is not the entry of version %d", *l.LogIndex, i+1)
		}
	}
	before := size()
	_, err = e.push(tok["admin"], "release", pushed[0])
	wantCode(t, err, codes.FailedPrecondition, "already pushed as version 1")
	unsigned, _ := json.Marshal(testLayout(expires, fn))
	_, err = e.push(tok["admin"], "release", unsigned)
	wantCode(t, err, codes.PermissionDenied, "layout is not signed")
	if after := size(); after != before {
		t.Fatalf("refused pushes grew the log from %d to %d", before, after)
	}
	// A reconciliation from the start finds every leaf's row: layout leaves are neither orphans nor mismatches.
	if err := e.store.SetLogWatermark(ctx, 0); err != nil {
		t.Fatal(err)
	}
	rep, err := e.srv.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.NewOrphans != 0 || rep.Mismatches != 0 {
		t.Fatalf("reconcile after layout pushes: %+v", rep)
	}
}

// TestLayoutTenancy: another project's layouts do not exist for a project token; pushing needs an admin.
func TestLayoutTenancy(t *testing.T) {
	e := newEnv(t, testLimits())
	alpha, beta := e.project("alpha"), e.project("beta")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(alpha["admin"], owner)
	raw := signLayout(t, testLayout(e.clock.Now().Add(time.Hour), fn), owner)
	if _, err := e.push(alpha["admin"], "release", raw); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"attestor", "reader", "verifier"} {
		_, err := e.push(alpha[role], "release", raw)
		wantCode(t, err, codes.PermissionDenied, "may not push layouts")
	}
	_, err := e.layouts().PushLayout(as(beta["admin"]), &attestdv1.PushLayoutRequest{Project: "alpha", Name: "x", Content: raw})
	wantCode(t, err, codes.NotFound, `project "alpha" not found`)
	_, err = e.layouts().GetLayout(as(beta["reader"]), &attestdv1.GetLayoutRequest{Project: "alpha", Name: "release"})
	wantCode(t, err, codes.NotFound, `project "alpha" not found`)
	_, err = e.layouts().ListLayouts(as(beta["reader"]), &attestdv1.ListLayoutsRequest{Project: "alpha"})
	wantCode(t, err, codes.NotFound, `project "alpha" not found`)
	_, err = e.layouts().GetLayout(as(beta["reader"]), &attestdv1.GetLayoutRequest{Name: "release"})
	wantCode(t, err, codes.NotFound, `layout "release" not found in project "beta"`)
	if hist := e.history(beta["reader"], ""); len(hist) != 0 {
		t.Fatalf("beta sees %v", hist)
	}
	// beta's owner key does not sign for alpha, nor alpha's for beta.
	_, err = e.push(beta["admin"], "release", raw)
	wantCode(t, err, codes.PermissionDenied, `not signed by a layout-owner key of project "beta"`)
	// A server admin names the project.
	resp, err := e.layouts().ListLayouts(as(e.admin), &attestdv1.ListLayoutsRequest{Project: "alpha"})
	if err != nil || len(resp.GetLayouts()) != 1 {
		t.Fatalf("server admin's list: %v, %v", resp.GetLayouts(), err)
	}
}

// TestLayoutRefusals: every layout attestd cannot enforce is refused at push, with the right code and a message
// naming the problem, and stores nothing.
func TestLayoutRefusals(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn, revoked := newIntotoKey(t), newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	e.addOwner(tok["admin"], revoked)
	if _, err := e.keys().RevokeKey(as(tok["admin"]), &attestdv1.RevokeKeyRequest{KeyId: revoked.id}); err != nil {
		t.Fatal(err)
	}
	e.addKey(tok["admin"], fn.signer)
	now := e.clock.Now()
	good := testLayout(now.Add(24*time.Hour), fn)
	edited := func(f func(m map[string]any)) []byte {
		m := asMap(t, good)
		f(m)
		return signLayout(t, m, owner)
	}
	stepAt := func(m map[string]any, i int) map[string]any { return m["steps"].([]any)[i].(map[string]any) }
	withLayout := func(f func(l *in_toto.Layout)) []byte {
		l := testLayout(now.Add(24*time.Hour), fn)
		f(&l)
		return signLayout(t, l, owner)
	}
	unsigned, _ := json.Marshal(map[string]any{"signed": good, "signatures": []any{}})
	noSignatures, _ := json.Marshal(map[string]any{"signed": good})
	bare, _ := json.Marshal(good)
	cases := []struct {
		name      string
		content   []byte
		code      codes.Code
		fragments []string
	}{
		// A layout with no signature at all is refused as signed by nobody trusted, not as malformed.
		{"unsigned", unsigned, codes.PermissionDenied, []string{"layout is not signed", "attest layout sign"}},
		{"unsigned, no signatures member", noSignatures, codes.PermissionDenied, []string{"layout is not signed"}},
		{"bare layout", bare, codes.PermissionDenied, []string{"layout is not signed"}},
		{"signed by a functionary key", signLayout(t, good, fn), codes.PermissionDenied, []string{"not signed by a layout-owner key"}},
		{"signed by a revoked owner key", signLayout(t, good, revoked), codes.PermissionDenied, []string{"not signed by a layout-owner key"}},
		{"signed by an unknown key", signLayout(t, good, newIntotoKey(t)), codes.PermissionDenied, []string{"not signed by a layout-owner key"}},
		{"expired", withLayout(func(l *in_toto.Layout) {
			l.Expires = now.Add(-time.Hour).UTC().Format(in_toto.ISO8601DateSchema)
		}), codes.InvalidArgument, []string{"expired at " + now.Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")}},
		{"inspections", withLayout(func(l *in_toto.Layout) {
			insp := in_toto.Inspection{Type: "inspection", Run: []string{"tar", "xf", "app.tar"}}
			insp.Name = "untar"
			l.Inspect = []in_toto.Inspection{insp}
		}), codes.InvalidArgument, []string{"inspect", "never runs commands"}},
		{"threshold 0", withLayout(func(l *in_toto.Layout) { l.Steps[1].Threshold = 0 }), codes.InvalidArgument, []string{"steps[1].threshold"}},
		{"empty rule", withLayout(func(l *in_toto.Layout) { l.Steps[0].ExpectedProducts = [][]string{{}} }), codes.InvalidArgument, []string{"steps[0].expected_products[0]"}},
		{"malformed rule", withLayout(func(l *in_toto.Layout) {
			l.Steps[1].ExpectedMaterials = [][]string{{"MATCH", "app.tar", "WITH", "BYPRODUCTS", "FROM", "build"}}
		}), codes.InvalidArgument, []string{"steps[1].expected_materials[0]"}},
		{"unknown rule keyword", withLayout(func(l *in_toto.Layout) { l.Steps[0].ExpectedMaterials = [][]string{{"PERMIT", "*"}} }),
			codes.InvalidArgument, []string{"steps[0].expected_materials[0]"}},
		{"unknown layout field", edited(func(m map[string]any) { m["signatures_required"] = 2 }), codes.InvalidArgument, []string{"signatures_required"}},
		{"unknown step field", edited(func(m map[string]any) { stepAt(m, 0)["run"] = []any{"make"} }), codes.InvalidArgument, []string{"steps[0].run"}},
		{"step pubkey missing from keys", withLayout(func(l *in_toto.Layout) { l.Steps[0].PubKeys = []string{owner.id} }),
			codes.InvalidArgument, []string{"steps[0].pubkeys[0]"}},
		{"no keys at all", withLayout(func(l *in_toto.Layout) { l.Keys = map[string]in_toto.Key{} }), codes.InvalidArgument, []string{"pubkeys"}},
		{"too large", bytes.Repeat([]byte(" "), 1<<20+1), codes.ResourceExhausted, []string{"max-layout-push-bytes"}},
		{"empty", nil, codes.InvalidArgument, []string{"empty"}},
		{"not JSON", []byte("layout"), codes.InvalidArgument, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.push(tok["admin"], "release", c.content)
			wantCode(t, err, c.code, c.fragments...)
		})
	}
	if hist := e.history(tok["reader"], ""); len(hist) != 0 {
		t.Fatalf("refused pushes stored %v", hist)
	}
	// Names are checked too.
	_, err := e.push(tok["admin"], "../release", signLayout(t, good, owner))
	wantCode(t, err, codes.InvalidArgument, "layout name")
	// The good layout passes: the refusals were for their reasons.
	if _, err := e.push(tok["admin"], "release", signLayout(t, good, owner)); err != nil {
		t.Fatal(err)
	}
}

// TestLayoutNoOwnerKey: a project without a valid owner key can push no layout, and says how to fix it.
func TestLayoutNoOwnerKey(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addKey(tok["admin"], owner.signer) // registered, but as a functionary key
	_, err := e.push(tok["admin"], "release", signLayout(t, testLayout(e.clock.Now().Add(time.Hour), fn), owner))
	wantCode(t, err, codes.PermissionDenied, `not signed by a layout-owner key of project "alpha"`, "--owner")

	// An owner key that expired no longer signs.
	exp := newIntotoKey(t)
	if _, err := e.keys().AddKey(as(tok["admin"]), &attestdv1.AddKeyRequest{PublicKeyPem: exp.pem, Owner: true,
		ExpireTime: timestamppb.New(e.clock.Now().Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	raw := signLayout(t, testLayout(e.clock.Now().Add(time.Hour), fn), exp)
	if _, err := e.push(tok["admin"], "release", raw); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	_, err = e.push(tok["admin"], "release", signLayout(t, testLayout(e.clock.Now().Add(2*time.Hour), fn), exp))
	wantCode(t, err, codes.PermissionDenied, "not signed by a layout-owner key")
}

// TestOwnerKeysDoNotSignAttestations: an owner key is listed as one, and its signatures on attestations do not
// count; a functionary key's still do.
func TestOwnerKeysDoNotSignAttestations(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	owner, fn := newIntotoKey(t), newIntotoKey(t)
	e.addOwner(tok["admin"], owner)
	_, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, statement("build", "a"), owner.signer)})
	wantCode(t, err, codes.PermissionDenied, "layout-owner", owner.id)

	e.addKey(tok["admin"], fn.signer)
	_, err = e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, statement("build", "b"), owner.signer)})
	wantCode(t, err, codes.PermissionDenied, "layout-owner")
	// Signed by both: only the functionary counts.
	resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, statement("build", "c"), owner.signer, fn.signer)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.atts().Get(as(tok["reader"]), &attestdv1.GetRequest{Id: resp.GetReceipt().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if ids := got.GetAttestation().GetSignerKeyIds(); len(ids) != 1 || ids[0] != fn.id {
		t.Fatalf("signers %v, want only the functionary %s", ids, fn.id)
	}
	if n := e.count("alpha"); n != 1 {
		t.Fatalf("%d attestations stored, want 1", n)
	}
	keys, err := e.keys().ListKeys(as(tok["reader"]), &attestdv1.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.GetKeys() {
		if k.GetOwner() != (k.GetKeyId() == owner.id) {
			t.Errorf("key %s owner=%v", k.GetKeyId(), k.GetOwner())
		}
	}
}
