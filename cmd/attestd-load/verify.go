package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
)

// warmVerifies is how many decisions are made before the clock starts, so that the timed ones find attestd's
// caches warm.
const warmVerifies = 20

// chainStep is one step of the supply chain the verify load records: what it reads and writes, and the
// in-toto rules the layout gives it.
type chainStep struct {
	name                string
	materials, products []string
	expectMaterials     [][]string
	expectProducts      [][]string
}

// chain is source -> fetch -> build -> test -> package, each step's materials the products of the one
// before, so that Verify walks back from the package through all five.
func chain() []chainStep {
	from := func(pattern, step string) []string {
		return []string{"MATCH", pattern, "WITH", "PRODUCTS", "FROM", step}
	}
	disallow := []string{"DISALLOW", "*"}
	return []chainStep{
		{name: "source", products: []string{"src/main.c"},
			expectMaterials: [][]string{disallow},
			expectProducts:  [][]string{{"CREATE", "src/main.c"}, disallow}},
		{name: "fetch", materials: []string{"src/main.c"}, products: []string{"src/main.c", "vendor/deps.tar"},
			expectMaterials: [][]string{from("src/*", "source"), disallow},
			expectProducts:  [][]string{{"ALLOW", "src/main.c"}, {"CREATE", "vendor/deps.tar"}, disallow}},
		{name: "build", materials: []string{"src/main.c", "vendor/deps.tar"}, products: []string{"bin/app"},
			expectMaterials: [][]string{from("src/*", "fetch"), from("vendor/*", "fetch"), disallow},
			expectProducts:  [][]string{{"CREATE", "bin/app"}, disallow}},
		{name: "test", materials: []string{"bin/app"}, products: []string{"bin/app", "test/report.txt"},
			expectMaterials: [][]string{from("bin/app", "build"), disallow},
			expectProducts:  [][]string{{"ALLOW", "bin/app"}, {"CREATE", "test/report.txt"}, disallow}},
		{name: "package", materials: []string{"bin/app"}, products: []string{"pkg/app.tar"},
			expectMaterials: [][]string{from("bin/app", "test"), disallow},
			expectProducts:  [][]string{{"CREATE", "pkg/app.tar"}, disallow}},
	}
}

// layoutKey is a public key as an in-toto layout lists it; attestd reads any of its key types in PEM.
type layoutKey struct {
	KeyID               string            `json:"keyid"`
	KeyIDHashAlgorithms []string          `json:"keyid_hash_algorithms"`
	KeyType             string            `json:"keytype"`
	KeyVal              map[string]string `json:"keyval"`
	Scheme              string            `json:"scheme"`
}

type layoutStep struct {
	Type              string     `json:"_type"`
	Name              string     `json:"name"`
	Threshold         int        `json:"threshold"`
	PubKeys           []string   `json:"pubkeys"`
	ExpectedCommand   []string   `json:"expected_command"`
	ExpectedMaterials [][]string `json:"expected_materials"`
	ExpectedProducts  [][]string `json:"expected_products"`
}

type layout struct {
	Type    string               `json:"_type"`
	Expires string               `json:"expires"`
	Readme  string               `json:"readme"`
	Keys    map[string]layoutKey `json:"keys"`
	Steps   []layoutStep         `json:"steps"`
	Inspect []any                `json:"inspect"`
}

// prepareVerify records the chain with the run's functionary key (each submission waits for the log to
// cover it: nothing verifies without an inclusion proof), pushes a layout signed by a new owner key, binds
// the packaged file to it with a policy, warms the caches, and returns the op that verifies the package.
func prepareVerify(ctx context.Context, cfg *config, s *session, progress io.Writer) (op, error) {
	owner, err := newSigner("ed25519")
	if err != nil {
		return nil, err
	}
	if err := s.addKey(ctx, owner, true); err != nil {
		return nil, err
	}
	nonce := strings.TrimPrefix(s.project, "load-") + "-" + s.signer.KeyID()[:8]
	digest := func(name string) string {
		sum := sha256.Sum256([]byte(nonce + "/" + name))
		return hex.EncodeToString(sum[:])
	}
	artifacts := func(names []string) []attestor.Artifact {
		var out []attestor.Artifact
		for _, n := range names {
			out = append(out, attestor.Artifact{Name: n, SHA256: digest(n)})
		}
		return out
	}
	attestorConn, err := dial(ctx, cfg.server, s.tokens["attestor"])
	if err != nil {
		return nil, err
	}
	defer attestorConn.Close()
	for _, st := range chain() {
		link := &attestor.Link{Step: st.name, Command: []string{"make", st.name}, Materials: artifacts(st.materials), Products: artifacts(st.products)}
		payload, err := link.Payload()
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", st.name, err)
		}
		env, err := s.signer.Sign(ctx, attestor.PayloadType, payload)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, setupTimeout)
		_, err = attestorConn.SubmitWait(cctx, "", env)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("submit the %s link: %w", st.name, err)
		}
	}
	name := "load-" + nonce
	content, err := signedLayout(ctx, s.signer, owner)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, err := s.admin.Layouts.PushLayout(cctx, &attestdv1.PushLayoutRequest{Project: s.project, Name: name, Content: content}); err != nil {
		return nil, fmt.Errorf("push layout %s: %w", name, err)
	}
	artifact := name + "/app.tar"
	if _, err := s.admin.Policies.SetPolicy(cctx, &attestdv1.SetPolicyRequest{Project: s.project, Name: name, Kind: "file",
		Match: artifact, Layout: name}); err != nil {
		return nil, fmt.Errorf("set policy %s: %w", name, err)
	}
	if err := s.connect(ctx, cfg.server, "verifier", cfg.conns); err != nil {
		return nil, err
	}
	req := &attestdv1.VerifyRequest{Kind: "file", Name: artifact, Digest: "sha256:" + digest("pkg/app.tar")}
	if progress != nil {
		fmt.Fprintf(progress, "verify: chain recorded, layout %s pushed; %d decisions to warm the caches\n", name, warmVerifies)
	}
	for range warmVerifies {
		resp, err := s.conn(0).Verify.Verify(cctx, req)
		if err != nil {
			return nil, fmt.Errorf("verify before the load: %w", err)
		}
		if d := resp.GetDecision(); !d.GetAllowed() {
			return nil, fmt.Errorf("verify before the load: denied: %s", strings.Join(d.GetReasons(), "; "))
		}
	}
	return func(ctx context.Context, w int, _ int64) (int, string) {
		resp, err := s.conn(w).Verify.Verify(ctx, req)
		if err != nil {
			return 0, grpcCode(err)
		}
		if !resp.GetDecision().GetAllowed() {
			return 0, "DENIED"
		}
		return 0, ""
	}, nil
}

// signedLayout is the layout of chain() with fn as every step's functionary, expiring in a day, signed by
// owner in a DSSE envelope.
func signedLayout(ctx context.Context, fn, owner *attestor.Signer) ([]byte, error) {
	pub, err := attestation.ParsePublicKey(fn.PublicPEM())
	if err != nil {
		return nil, err
	}
	l := layout{Type: "layout", Expires: time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z"),
		Readme: "attestd-load verify", Inspect: []any{},
		Keys: map[string]layoutKey{pub.ID: {KeyID: pub.ID, KeyIDHashAlgorithms: []string{"sha256", "sha512"},
			KeyType: pub.KeyType, KeyVal: map[string]string{"public": strings.TrimSpace(pub.PEM)}, Scheme: pub.Scheme}}}
	for _, st := range chain() {
		l.Steps = append(l.Steps, layoutStep{Type: "step", Name: st.name, Threshold: 1, PubKeys: []string{pub.ID},
			ExpectedCommand: []string{}, ExpectedMaterials: st.expectMaterials, ExpectedProducts: st.expectProducts})
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode layout: %w", err)
	}
	return owner.Sign(ctx, attestor.PayloadType, b)
}
