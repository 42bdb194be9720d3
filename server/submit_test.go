package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
)

func testLimits() attestation.Limits {
	l := attestation.DefaultLimits()
	l.MaxEnvelopeBytes = 256 << 10
	l.MaxSubjects = 100
	l.MaxJSONDepth = 16
	return l
}

func TestSubmitAndQuery(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)

	env := envelope(inTotoPayloadType, statement("build", "out.txt"), s)
	resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(env)
	r := resp.GetReceipt()
	if r.GetId() != hex.EncodeToString(sum[:]) || r.GetStep() != "build" || !r.GetCreated() || r.GetProject() != "alpha" {
		t.Fatalf("receipt %v", r)
	}

	// The same bytes again: the original receipt, nothing new stored.
	again, err := e.atts().Submit(as(tok["admin"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetReceipt().GetCreated() || again.GetReceipt().GetId() != r.GetId() ||
		!again.GetReceipt().GetIntegratedTime().AsTime().Equal(r.GetIntegratedTime().AsTime()) {
		t.Fatalf("resubmission receipt %v, want the original %v", again.GetReceipt(), r)
	}
	if n := e.count("alpha"); n != 1 {
		t.Fatalf("%d attestations stored, want 1", n)
	}

	got, err := e.atts().Get(as(tok["reader"]), &attestdv1.GetRequest{Id: r.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.GetAttestation().GetEnvelope()) != string(env) {
		t.Fatal("envelope not returned byte for byte")
	}
	if ids := got.GetAttestation().GetSignerKeyIds(); len(ids) != 1 || ids[0] != s.id {
		t.Fatalf("signers %v, want [%s]", ids, s.id)
	}

	list, err := e.atts().List(as(tok["verifier"]), &attestdv1.ListRequest{SubjectDigest: "sha256:" + sha("out.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetAttestations()) != 1 || list.GetAttestations()[0].GetReceipt().GetId() != r.GetId() {
		t.Fatalf("list by subject: %v", list.GetAttestations())
	}
	list, err = e.atts().List(as(tok["reader"]), &attestdv1.ListRequest{MaterialDigest: "sha256:" + sha("src.c"), Step: "build"})
	if err != nil || len(list.GetAttestations()) != 1 {
		t.Fatalf("list by material: %v %v", list.GetAttestations(), err)
	}
	list, err = e.atts().List(as(tok["reader"]), &attestdv1.ListRequest{SubjectDigest: "sha256:" + sha("src.c")})
	if err != nil || len(list.GetAttestations()) != 0 {
		t.Fatalf("a material is not a subject: %v %v", list.GetAttestations(), err)
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	var ids []string
	for i := range 7 {
		env := envelope(inTotoPayloadType, statement(fmt.Sprintf("step%d", i), "shared.bin"), s)
		resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{resp.GetReceipt().GetId()}, ids...)
	}
	var seen []string
	req := &attestdv1.ListRequest{SubjectDigest: "sha256:" + sha("shared.bin"), PageSize: 3, OmitEnvelopes: true}
	for range 10 {
		resp, err := e.atts().List(as(tok["reader"]), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range resp.GetAttestations() {
			if len(a.GetEnvelope()) != 0 {
				t.Fatal("omit_envelopes ignored")
			}
			seen = append(seen, a.GetReceipt().GetId())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("pages gave %v, want newest first %v", seen, ids)
	}
	_, err := e.atts().List(as(tok["reader"]), &attestdv1.ListRequest{PageToken: "not-a-token"})
	wantCode(t, err, codes.InvalidArgument, "page_token")
}

func TestSubmitRejects(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha", "build")
	good := newSigner(t)
	e.addKey(tok["admin"], good)
	stranger := newSigner(t)
	revoked := newSigner(t)
	e.addKey(tok["admin"], revoked)
	if _, err := e.keys().RevokeKey(as(tok["admin"]), &attestdv1.RevokeKeyRequest{KeyId: revoked.id}); err != nil {
		t.Fatal(err)
	}
	expiring := newSigner(t)
	if _, err := e.keys().AddKey(as(tok["admin"]), &attestdv1.AddKeyRequest{PublicKeyPem: expiring.pem,
		ExpireTime: timestamppb.New(e.clock.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)

	stmt := statement("build", "out.txt")
	withSubject := func(subject string) []byte {
		return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + subject + `],` +
			`"predicateType":"https://in-toto.io/attestation/link/v0.3","predicate":{"name":"build"}}`)
	}
	digest := func(alg, v string) []byte {
		return withSubject(fmt.Sprintf(`{"name":"out.txt","digest":{%q:%q}}`, alg, v))
	}
	named := func(name string) []byte {
		quoted, _ := json.Marshal(name)
		return withSubject(fmt.Sprintf(`{"name":%s,"digest":{"sha256":%q}}`, quoted, sha("x")))
	}
	manySubjects := make([]string, 101)
	for i := range manySubjects {
		manySubjects[i] = fmt.Sprintf(`{"name":"f%d","digest":{"sha256":%q}}`, i, sha("x"))
	}
	deep := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + sha("a") +
		`"}}],"predicateType":"https://example.com/deep","predicate":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`)
	b64 := base64.StdEncoding.EncodeToString

	cases := []struct {
		name     string
		token    string
		envelope []byte
		code     codes.Code
		say      []string
	}{
		{"not JSON", "attestor", []byte("hello"), codes.InvalidArgument, nil},
		{"duplicate keys", "attestor", []byte(`{"payloadType":"` + inTotoPayloadType + `","payloadType":"x","payload":"` + b64(stmt) + `","signatures":[{"sig":"` + b64(good.sign([]byte("x"))) + `"}]}`), codes.InvalidArgument, []string{"duplicate"}},
		{"unknown payloadType", "attestor", envelope("application/json", stmt, good), codes.InvalidArgument, []string{"payloadType"}},
		{"signature over the raw payload", "attestor", envelopeWith(inTotoPayloadType, stmt, []rawSig{{KeyID: good.id, Sig: b64(good.sign(stmt))}}), codes.PermissionDenied, nil},
		{"signature over the base64 payload", "attestor", envelopeWith(inTotoPayloadType, stmt, []rawSig{{KeyID: good.id, Sig: b64(good.sign([]byte(b64(stmt))))}}), codes.PermissionDenied, nil},
		{"no signatures", "attestor", envelopeWith(inTotoPayloadType, stmt, []rawSig{}), codes.InvalidArgument, []string{"signature"}},
		{"empty signature", "attestor", envelopeWith(inTotoPayloadType, stmt, []rawSig{{KeyID: good.id, Sig: ""}}), codes.InvalidArgument, []string{"sig"}},
		{"truncated signature", "attestor", envelopeWith(inTotoPayloadType, stmt, []rawSig{{KeyID: good.id, Sig: b64(good.sign(stmt)[:40])}}), codes.InvalidArgument, []string{"64"}},
		{"unregistered key", "attestor", envelope(inTotoPayloadType, stmt, stranger), codes.PermissionDenied, []string{"registered"}},
		{"revoked key", "attestor", envelope(inTotoPayloadType, stmt, revoked), codes.PermissionDenied, []string{revoked.id, "revoked"}},
		{"expired key", "attestor", envelope(inTotoPayloadType, stmt, expiring), codes.PermissionDenied, []string{expiring.id, "expired"}},
		{"no subjects", "attestor", envelope(inTotoPayloadType, withSubject(""), good), codes.InvalidArgument, []string{"subject"}},
		{"unsigned payload is not parsed", "attestor", envelope(inTotoPayloadType, withSubject(""), stranger), codes.PermissionDenied, []string{"registered"}},
		{"uppercase digest", "attestor", envelope(inTotoPayloadType, digest("sha256", strings.ToUpper(sha("x"))), good), codes.InvalidArgument, []string{"sha256"}},
		{"short digest", "attestor", envelope(inTotoPayloadType, digest("sha256", sha("x")[:60]), good), codes.InvalidArgument, []string{"sha256"}},
		{"prefixed digest", "attestor", envelope(inTotoPayloadType, digest("sha256", "sha256:"+sha("x")), good), codes.InvalidArgument, []string{"sha256"}},
		{"name with ..", "attestor", envelope(inTotoPayloadType, named("a/../b"), good), codes.InvalidArgument, []string{"name"}},
		{"absolute name", "attestor", envelope(inTotoPayloadType, named("/etc/passwd"), good), codes.InvalidArgument, []string{"name"}},
		{"backslash name", "attestor", envelope(inTotoPayloadType, named(`a\b`), good), codes.InvalidArgument, []string{"name"}},
		{"NUL in name", "attestor", envelope(inTotoPayloadType, named("a\x00b"), good), codes.InvalidArgument, []string{"name"}},
		{"over the size limit", "attestor", envelope(inTotoPayloadType, withSubject(`{"name":"big","digest":{"sha256":"`+sha("x")+`"},"annotations":{"pad":"`+strings.Repeat("x", 200<<10)+`"}}`), good), codes.ResourceExhausted, []string{"max-envelope-bytes"}},
		{"too many subjects", "attestor", envelope(inTotoPayloadType, withSubject(strings.Join(manySubjects, ",")), good), codes.ResourceExhausted, []string{"max-subjects"}},
		{"too deep", "attestor", envelope(inTotoPayloadType, deep, good), codes.ResourceExhausted, []string{"max-json-depth"}},
		{"step not allowed for the token", "attestor", envelope(inTotoPayloadType, statement("deploy", "out.txt"), good), codes.PermissionDenied, []string{"deploy"}},
		{"reader submits", "reader", envelope(inTotoPayloadType, stmt, good), codes.PermissionDenied, []string{"reader"}},
		{"verifier submits", "verifier", envelope(inTotoPayloadType, stmt, good), codes.PermissionDenied, []string{"verifier"}},
		{"unknown token", "", envelope(inTotoPayloadType, stmt, good), codes.Unauthenticated, []string{"unknown token"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secret := tok[c.token]
			if c.token == "" {
				secret = "attd_not-a-real-token"
			}
			_, err := e.atts().Submit(as(secret), &attestdv1.SubmitRequest{Envelope: c.envelope})
			wantCode(t, err, c.code, c.say...)
			if n := e.count("alpha"); n != 0 {
				t.Fatalf("%d attestations stored after a refused submission", n)
			}
		})
	}
	// The good envelope does go through with the same token: the refusals above were about the input.
	if _, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: envelope(inTotoPayloadType, stmt, good)}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentIdenticalSubmissions(t *testing.T) {
	e := newEnv(t, testLimits())
	tok := e.project("alpha")
	s := newSigner(t)
	e.addKey(tok["admin"], s)
	env := envelope(inTotoPayloadType, statement("build", "out.txt"), s)
	var wg sync.WaitGroup
	created := make(chan bool, 10)
	ids := make(chan string, 10)
	for range 10 {
		wg.Go(func() {
			resp, err := e.atts().Submit(as(tok["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
			if err != nil {
				t.Error(err)
				return
			}
			created <- resp.GetReceipt().GetCreated()
			ids <- resp.GetReceipt().GetId()
		})
	}
	wg.Wait()
	close(created)
	close(ids)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d submissions reported created, want exactly 1", n)
	}
	first := <-ids
	for id := range ids {
		if id != first {
			t.Fatalf("ids differ: %s %s", id, first)
		}
	}
	if c := e.count("alpha"); c != 1 {
		t.Fatalf("%d rows, want 1", c)
	}
}
