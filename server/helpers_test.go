package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/internal/tlog"
	"github.com/attestd/attestd/server"
)

const inTotoPayloadType = "application/vnd.in-toto+json"

// clock is a settable clock for tests that move time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a running attestd (in process, over real TCP, on a fresh PostgreSQL database).
type env struct {
	t     testing.TB
	conn  *grpc.ClientConn
	store store.Store
	clock *clock
	admin string // server-admin secret
	log   *tlog.Log
	srv   *server.Server
	dbURL string           // the database, for tests that change rows behind attestd's back
	vsa   *attestor.Signer // the verifier key that signs verification summaries
}

func newEnv(t testing.TB, limits attestation.Limits) *env {
	t.Helper()
	return newEnvWith(t, server.Config{Limits: limits})
}

// newEnvWith is newEnv with the server's configuration cfg (its store, log, clock and verifier key are the
// env's own).
func newEnvWith(t testing.TB, cfg server.Config) *env {
	t.Helper()
	ctx := context.Background()
	url := dbtest.New(t)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	clk := &clock{now: time.Now().UTC()}
	lg := openLog(t, t.TempDir())
	vsaPriv, _, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	vsa, err := attestor.LoadSigner(vsaPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Log, cfg.Now, cfg.VSASigner = st, lg, clk.Now, vsa
	srv := server.New(cfg)
	if _, err := srv.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	srv.LoadDuplicateFilter(ctx)
	conn := serve(t, srv)
	tok, secret, err := server.NewToken(store.RoleServerAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok.CreatedAt = clk.Now()
	if ok, err := st.Bootstrap(ctx, tok); err != nil || !ok {
		t.Fatalf("bootstrap: %v %v", ok, err)
	}
	return &env{t: t, conn: conn, store: st, clock: clk, admin: secret, log: lg, srv: srv, dbURL: url, vsa: vsa}
}

// restart replaces the env's server with a new one over the same database and log, reconciled, as a restart
// of attestd would (the old one stops serving when the test ends).
func (e *env) restart(t testing.TB) {
	t.Helper()
	srv := server.New(server.Config{Store: e.store, Log: e.log, Now: e.clock.Now, VSASigner: e.vsa})
	if _, err := srv.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.LoadDuplicateFilter(context.Background())
	e.srv, e.conn = srv, serve(t, srv)
}

// serve runs srv on a loopback port until the test ends and returns a client connection to it.
func serve(t testing.TB, srv *server.Server) *grpc.ClientConn {
	t.Helper()
	gs, _ := srv.NewGRPCServer(server.GRPCOptions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	// The receive windows of attestor.Dial, so that calls cost what they cost attestd's own clients (no ping per
	// call: TestNoPingPerCall).
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)),
		grpc.WithInitialWindowSize(4<<20), grpc.WithInitialConnWindowSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// openLog opens a real Tessera log in dir with fast checkpoints.
func openLog(t testing.TB, dir string) *tlog.Log {
	t.Helper()
	return openLogWith(t, dir, 10*time.Millisecond, 100*time.Millisecond)
}

func openLogWith(t testing.TB, dir string, batchAge, checkpointInterval time.Duration) *tlog.Log {
	t.Helper()
	return openLogBatched(t, dir, 0, batchAge, checkpointInterval)
}

// openLogBatched is openLogWith with a batch size too (0: attestd's default).
func openLogBatched(t testing.TB, dir string, batchSize uint, batchAge, checkpointInterval time.Duration) *tlog.Log {
	t.Helper()
	signer, vkey, err := tlog.LoadOrCreateKey(dir, "attestd.test/log")
	if err != nil {
		t.Fatal(err)
	}
	lg, err := tlog.Open(context.Background(), tlog.Config{Dir: filepath.Join(dir, "log"), Signer: signer, VerifierKey: vkey,
		BatchMaxSize: batchSize, BatchMaxAge: batchAge, CheckpointInterval: checkpointInterval, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lg.Close(context.Background()) })
	return lg
}

func as(secret string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+secret)
}

func (e *env) projects() attestdv1.ProjectServiceClient {
	return attestdv1.NewProjectServiceClient(e.conn)
}
func (e *env) tokens() attestdv1.TokenServiceClient { return attestdv1.NewTokenServiceClient(e.conn) }
func (e *env) keys() attestdv1.KeyServiceClient     { return attestdv1.NewKeyServiceClient(e.conn) }
func (e *env) atts() attestdv1.AttestationServiceClient {
	return attestdv1.NewAttestationServiceClient(e.conn)
}

// project creates a project and returns a token of each role for it (attestor limited to steps if given).
func (e *env) project(name string, steps ...string) map[string]string {
	e.t.Helper()
	if _, err := e.projects().CreateProject(as(e.admin), &attestdv1.CreateProjectRequest{Name: name}); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, role := range []string{"admin", "attestor", "reader", "verifier"} {
		req := &attestdv1.CreateTokenRequest{Project: name, Role: role}
		if role == "attestor" {
			req.Steps = steps
		}
		resp, err := e.tokens().CreateToken(as(e.admin), req)
		if err != nil {
			e.t.Fatal(err)
		}
		out[role] = resp.GetSecret()
	}
	return out
}

// signer is an ed25519 functionary key.
type signer struct {
	priv ed25519.PrivateKey
	pem  string
	id   string
}

func newSigner(t testing.TB) *signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	k, err := attestation.ParsePublicKey([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	return &signer{priv: priv, pem: p, id: k.ID}
}

func (e *env) addKey(adminSecret string, s *signer) {
	e.t.Helper()
	if _, err := e.keys().AddKey(as(adminSecret), &attestdv1.AddKeyRequest{PublicKeyPem: s.pem}); err != nil {
		e.t.Fatal(err)
	}
}

// statement returns a link v0.3 statement for step with one subject per name (digest sha256 of the name).
func statement(step string, names ...string) []byte {
	subjects := make([]string, 0, len(names))
	for _, n := range names {
		subjects = append(subjects, fmt.Sprintf(`{"name":%q,"digest":{"sha256":%q}}`, n, sha(n)))
	}
	return []byte(fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[%s],`+
		`"predicateType":"https://in-toto.io/attestation/link/v0.3",`+
		`"predicate":{"name":%q,"command":["make"],"materials":[{"name":"src.c","digest":{"sha256":%q}}]}}`,
		strings.Join(subjects, ","), step, sha("src.c")))
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

type rawSig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// envelope signs payload's PAE with each signer and returns the DSSE JSON.
func envelope(payloadType string, payload []byte, signers ...*signer) []byte {
	var sigs []rawSig
	for _, s := range signers {
		sig := ed25519.Sign(s.priv, dsse.PAE(payloadType, payload))
		sigs = append(sigs, rawSig{KeyID: s.id, Sig: base64.StdEncoding.EncodeToString(sig)})
	}
	return envelopeWith(payloadType, payload, sigs)
}

func envelopeWith(payloadType string, payload []byte, sigs []rawSig) []byte {
	b, err := json.Marshal(map[string]any{
		"payloadType": payloadType,
		"payload":     base64.StdEncoding.EncodeToString(payload),
		"signatures":  sigs,
	})
	if err != nil {
		panic(err)
	}
	return b
}

func (s *signer) sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// wantCode fails unless err has the code and a message containing every fragment.
func wantCode(t *testing.T, err error, code codes.Code, fragments ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v (%q), want %v", st.Code(), st.Message(), code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Fatalf("message %q does not mention %q", st.Message(), f)
		}
	}
}

// count returns how many attestations the project holds (through the store: independent of List).
func (e *env) count(projectName string) int {
	e.t.Helper()
	p, err := e.store.ProjectByName(context.Background(), projectName)
	if err != nil {
		e.t.Fatal(err)
	}
	atts, err := e.store.ListAttestations(context.Background(), p.ID, store.Filter{Limit: store.MaxPageSize})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(atts)
}
