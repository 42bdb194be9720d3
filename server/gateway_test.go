package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/server"
)

// rest is an HTTP client of the REST/JSON gateway of an env's server.
type rest struct {
	t    *testing.T
	base string
}

// newREST serves e's server through the gateway, as attestd serve does, until the test ends.
func newREST(t *testing.T, e *env) *rest {
	t.Helper()
	gs, _ := e.srv.NewGRPCServer(server.GRPCOptions{})
	gw, err := server.NewGateway(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(gw.Listener()) }()
	t.Cleanup(gs.Stop)
	t.Cleanup(func() { gw.Close() })
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)
	return &rest{t: t, base: web.URL}
}

// do sends a request with the token (none if empty) and returns the status and body.
func (r *rest) do(method, path, token string, body []byte, header ...string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// get answers GET path as m, failing the test unless the status is 200.
func (r *rest) get(path, token string, m proto.Message) {
	r.t.Helper()
	code, b := r.do(http.MethodGet, path, token, nil)
	if code != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		r.t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// wantError checks an error answer: its HTTP status, and its JSON body's gRPC code and message fragment.
func wantError(t *testing.T, code int, body []byte, wantHTTP, wantCode int, fragment string) {
	t.Helper()
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if code != wantHTTP || e.Code != wantCode || !strings.Contains(e.Message, fragment) {
		t.Fatalf("got HTTP %d, code %d, %q; want HTTP %d, code %d, message with %q", code, e.Code, e.Message, wantHTTP, wantCode, fragment)
	}
}

// The gateway answers reads with what the gRPC calls answer, for the tokens the gRPC calls accept.
func TestRESTReads(t *testing.T) {
	e := newEnv(t, attestation.Limits{})
	shop := e.project("shop")
	other := e.project("other")
	s := newSigner(t)
	e.addKey(shop["admin"], s)
	env := envelope(attestation.PayloadType, statement("build", "app.tar"), s)
	sub, err := e.atts().Submit(as(shop["attestor"]), &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		t.Fatal(err)
	}
	id := sub.GetReceipt().GetId()
	r := newREST(t, e)

	var got attestdv1.GetResponse
	r.get("/v1/projects/shop/attestations/"+id, shop["reader"], &got)
	if !bytes.Equal(got.GetAttestation().GetEnvelope(), env) || got.GetAttestation().GetReceipt().GetStep() != "build" {
		t.Fatalf("Get over REST: %v", &got)
	}

	q := url.Values{"subjectDigest": {"sha256:" + sha("app.tar")}, "omitEnvelopes": {"true"}}
	var list attestdv1.ListResponse
	r.get("/v1/projects/shop/attestations?"+q.Encode(), shop["reader"], &list)
	if len(list.GetAttestations()) != 1 || list.GetAttestations()[0].GetReceipt().GetId() != id || list.GetAttestations()[0].GetEnvelope() != nil {
		t.Fatalf("List over REST: %v", &list)
	}
	q.Set("step", "test")
	r.get("/v1/projects/shop/attestations?"+q.Encode(), shop["reader"], &list)
	if len(list.GetAttestations()) != 0 {
		t.Fatalf("List step=test over REST: %v", &list)
	}

	var cp attestdv1.GetCheckpointResponse
	r.get("/v1/log/checkpoint", shop["reader"], &cp)
	if cp.GetOrigin() == "" || !strings.HasPrefix(cp.GetVerifierKey(), cp.GetOrigin()+"+") {
		t.Fatalf("checkpoint over REST: %v", &cp)
	}

	// Verify is a POST with a JSON body; a denial is an answer.
	code, b := r.do(http.MethodPost, "/v1/projects/shop/verify", shop["verifier"],
		[]byte(`{"kind":"file","name":"app.tar","digest":"sha256:`+sha("app.tar")+`"}`))
	var v attestdv1.VerifyResponse
	if code != http.StatusOK || protojson.Unmarshal(b, &v) != nil {
		t.Fatalf("Verify over REST: %d %s", code, b)
	}
	if v.GetDecision().GetAllowed() || !strings.Contains(strings.Join(v.GetDecision().GetReasons(), "\n"), "no policy covers") {
		t.Fatalf("Verify over REST: %v", &v)
	}

	// Tenancy and authentication hold as over gRPC.
	code, b = r.do(http.MethodGet, "/v1/projects/shop/attestations/"+id, other["reader"], nil)
	wantError(t, code, b, http.StatusNotFound, 5, "not found")
	code, b = r.do(http.MethodGet, "/v1/projects/shop/attestations/"+id, "", nil)
	wantError(t, code, b, http.StatusUnauthorized, 16, "bearer token")
	code, b = r.do(http.MethodGet, "/v1/projects/shop/attestations/"+id, "not-a-token", nil)
	wantError(t, code, b, http.StatusUnauthorized, 16, "")
	code, b = r.do(http.MethodGet, "/v1/projects/shop/decisions", shop["reader"], nil)
	wantError(t, code, b, http.StatusForbidden, 7, "")
	var projs attestdv1.ListProjectsResponse
	r.get("/v1/projects", shop["reader"], &projs)
	if len(projs.GetProjects()) != 1 || projs.GetProjects()[0].GetName() != "shop" {
		t.Fatalf("a project's token lists %v, want only its own project", &projs)
	}
}

// Bad requests are refused with the code of the gRPC call and change nothing; writes are not routed.
func TestRESTRefusals(t *testing.T) {
	e := newEnv(t, attestation.Limits{})
	shop := e.project("shop")
	r := newREST(t, e)

	code, b := r.do(http.MethodGet, "/v1/projects/shop/attestations?subjectDigest=sha256:zz", shop["reader"], nil)
	wantError(t, code, b, http.StatusBadRequest, 3, "subject_digest")
	code, b = r.do(http.MethodGet, "/v1/projects/shop/attestations?pageSize=many", shop["reader"], nil)
	wantError(t, code, b, http.StatusBadRequest, 3, "")
	code, b = r.do(http.MethodPost, "/v1/projects/shop/verify", shop["verifier"], []byte(`{"kind":"file",`))
	wantError(t, code, b, http.StatusBadRequest, 3, "")
	code, b = r.do(http.MethodPost, "/v1/projects/shop/verify", shop["verifier"], []byte(`{"kind":"vm","name":"x","digest":"sha256:`+sha("x")+`"}`))
	wantError(t, code, b, http.StatusBadRequest, 3, "kind")

	// A body over the bound is refused before it is read whole.
	big := []byte(`{"kind":"file","name":"` + strings.Repeat("a", 1<<20) + `"}`)
	code, b = r.do(http.MethodPost, "/v1/projects/shop/verify", shop["verifier"], big)
	if code < 400 || code >= 500 {
		t.Fatalf("oversized body: %d %s", code, b)
	}

	// Writes are gRPC only: Submit has no route.
	code, _ = r.do(http.MethodPost, "/v1/projects/shop/attestations", shop["attestor"], []byte(`{}`))
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed && code != http.StatusNotImplemented {
		t.Fatalf("POST attestations: %d, want no route", code)
	}
	if n := e.count("shop"); n != 0 {
		t.Fatalf("%d attestations stored after refusals", n)
	}
	code, _ = r.do(http.MethodGet, "/v1/nothing/here", shop["reader"], nil)
	if code != http.StatusNotFound {
		t.Fatalf("unknown route: %d", code)
	}
}
