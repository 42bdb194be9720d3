// Package dumptest builds attestd installations full of data, for the tests of copying them (package dump,
// attestd backup, restore and migrate-data): a database written through store.Store, and a transparency log
// whose leaves are the rows' entries, appended before each row as attestd appends them. Every kind of row is
// there, with what a copy could lose: revoked tokens and keys, attestor steps, owner keys with expiry,
// several versions of a layout, a policy replaced after it was created (and made to require Rekor),
// decisions of several projects, attestations with artifacts and signers, Rekor settings set on one project
// and cleared on another, anchors in every state (and attestations without one), an orphan leaf, the
// bootstrap.
//
// It is for tests only; it never checks what it wrote (the tests do).
package dumptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// Origin is the log origin of the installations built here.
const Origin = "attestd.test/log"

// Installation is what Populate built.
type Installation struct {
	DataDir string // log.key, log.pub and the log in log/
	LogDir  string
	// Secrets are the bearer secrets of the tokens, by token id; the database holds their sha256.
	Secrets map[string]string
	// Attestations and Layouts are the rows as written (project ids of the source database).
	Attestations []store.Attestation
	Layouts      []store.Layout
	// Anchors are the anchors as Populate left them, of every project, by project and attestation id.
	Anchors     []store.Anchor
	LogSize     uint64 // leaves in the log, the orphan included
	OrphanIndex uint64 // the leaf without a row
}

// RekorURL is the Rekor server of project shop: a closed port, so that an attestd that serves the
// installation and tries the pending anchors fails at once.
const RekorURL = "http://127.0.0.1:9/rekor"

// Token ids of the installation.
const (
	BootstrapToken = "t-boot"
	ShopReader     = "t-shop-reader"
)

// base is the time of the rows: fixed, with microseconds, in the past.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// KeyID is a key id named by label.
func KeyID(label string) string { return hexSum([]byte("key " + label)) }

// Populate writes an installation into st, which must be empty, and a new log in <dataDir>/log.
func Populate(t testing.TB, st store.Store, dataDir string) Installation {
	t.Helper()
	ctx := context.Background()
	signer, vkey, err := tlog.LoadOrCreateKey(dataDir, Origin)
	if err != nil {
		t.Fatal(err)
	}
	in := Installation{DataDir: dataDir, LogDir: filepath.Join(dataDir, "log"), Secrets: map[string]string{}}
	lg, err := tlog.Open(ctx, tlog.Config{Dir: in.LogDir, Signer: signer, VerifierKey: vkey,
		BatchMaxAge: 5 * time.Millisecond, CheckpointInterval: tlog.MinCheckpointInterval,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b := &builder{t: t, ctx: ctx, st: st, lg: lg, in: &in}
	b.populate()
	if _, _, err := lg.AwaitIntegration(ctx, in.LogSize-1); err != nil {
		t.Fatal(err)
	}
	if err := lg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return in
}

type builder struct {
	t   testing.TB
	ctx context.Context
	st  store.Store
	lg  *tlog.Log
	in  *Installation
}

func (b *builder) check(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

func (b *builder) appendLeaf(entry []byte) uint64 {
	b.t.Helper()
	i, err := b.lg.Append(b.ctx, entry)
	b.check(err)
	b.in.LogSize = max(b.in.LogSize, i+1)
	return i
}

func (b *builder) token(id string, projectID int64, role string, created time.Time, mod func(*store.Token)) store.Token {
	secret := "attd_secret_" + id
	sum := sha256.Sum256([]byte(secret))
	tok := store.Token{ID: id, Hash: sum[:], ProjectID: projectID, Role: role, Description: "token " + id, CreatedAt: created}
	if mod != nil {
		mod(&tok)
	}
	b.in.Secrets[id] = secret
	return tok
}

func (b *builder) populate() {
	st, ctx := b.st, b.ctx
	boot := b.token(BootstrapToken, 0, store.RoleServerAdmin, at(0), nil)
	ok, err := st.Bootstrap(ctx, boot)
	b.check(err)
	if !ok {
		b.t.Fatal("the store was bootstrapped already")
	}
	b.check(st.CreateToken(ctx, b.token("t-admin2", 0, store.RoleServerAdmin, at(time.Second), nil)))

	shop, err := st.CreateProjectAt(ctx, "shop", at(time.Minute))
	b.check(err)
	tools, err := st.CreateProjectAt(ctx, "tools", at(2*time.Minute))
	b.check(err)
	_, err = st.CreateProjectAt(ctx, "empty", at(3*time.Minute))
	b.check(err)

	revoked := at(time.Hour)
	for _, tok := range []store.Token{
		b.token("t-shop-admin", shop.ID, store.RoleAdmin, at(4*time.Minute), nil),
		b.token("t-shop-ci", shop.ID, store.RoleAttestor, at(5*time.Minute), func(t *store.Token) { t.Steps = []string{"build", "test"} }),
		b.token(ShopReader, shop.ID, store.RoleReader, at(6*time.Minute), nil),
		b.token("t-shop-old", shop.ID, store.RoleVerifier, at(7*time.Minute), func(t *store.Token) { t.RevokedAt = &revoked }),
		b.token("t-tools-admin", tools.ID, store.RoleAdmin, at(8*time.Minute), func(t *store.Token) { t.Description = "" }),
	} {
		b.check(st.CreateToken(ctx, tok))
	}
	expires := at(365 * 24 * time.Hour)
	for _, k := range []store.Key{
		{ProjectID: shop.ID, KeyID: KeyID("alice"), KeyType: "ed25519", Scheme: "ed25519", PublicPEM: "pem alice", Description: "alice", CreatedAt: at(10 * time.Minute)},
		{ProjectID: shop.ID, KeyID: KeyID("bob"), KeyType: "ecdsa", Scheme: "ecdsa-sha2-nistp256", PublicPEM: "pem bob", CreatedAt: at(11 * time.Minute), RevokedAt: &revoked},
		{ProjectID: shop.ID, KeyID: KeyID("owner"), KeyType: "ed25519", Scheme: "ed25519", PublicPEM: "pem owner", CreatedAt: at(12 * time.Minute), ExpiresAt: &expires, Owner: true},
		{ProjectID: tools.ID, KeyID: KeyID("alice"), KeyType: "ed25519", Scheme: "ed25519", PublicPEM: "pem alice", CreatedAt: at(13 * time.Minute)},
	} {
		b.check(st.AddKey(ctx, k))
	}

	// Leaves of attestations and layouts interleave in the log, as pushes and submissions do. tools anchors
	// its first two rounds of attestations, shop all but its first.
	_, err = st.SetProjectRekor(ctx, tools.ID, "https://rekor.tools.example", nil)
	b.check(err)
	n := 0
	for round := range 3 {
		switch round {
		case 1:
			_, err = st.SetProjectRekor(ctx, shop.ID, RekorURL, rekorKey(b.t))
		case 2:
			_, err = st.SetProjectRekor(ctx, tools.ID, "", nil)
		}
		b.check(err)
		for v := range 2 {
			b.layout(shop, fmt.Sprintf("release-%d", v), fmt.Sprintf("layout %d round %d", v, round), at(time.Duration(20+round)*time.Minute))
		}
		for range 9 {
			p := shop
			if n%3 == 2 {
				p = tools
			}
			b.attestation(p, n)
			n++
		}
	}
	b.layout(tools, "deploy", "tools deploy layout", at(30*time.Minute))

	images := store.Policy{ProjectID: shop.ID, Name: "images", Kind: "image", Match: "registry.example/shop/*", Layout: "release-0", SetterID: "t-shop-admin", UpdatedAt: at(40 * time.Minute)}
	_, err = st.SetPolicy(ctx, images, store.MaxPoliciesPerProject)
	b.check(err)
	images.Layout, images.SetterID, images.UpdatedAt, images.RequireRekor = "release-1", "t-boot", at(41*time.Minute), true
	_, err = st.SetPolicy(ctx, images, store.MaxPoliciesPerProject)
	b.check(err)
	_, err = st.SetPolicy(ctx, store.Policy{ProjectID: tools.ID, Name: "configs", Kind: "file", Match: "deploy/*.yaml", Layout: "deploy", UpdatedAt: at(42 * time.Minute)}, store.MaxPoliciesPerProject)
	b.check(err)

	for i := range 5 {
		p := shop
		if i == 3 {
			p = tools
		}
		d := store.Decision{ProjectID: p.ID, RequesterID: "t-shop-reader", Kind: "image", Name: fmt.Sprintf("registry.example/shop/app:%d", i),
			Digest: "sha256:" + hexSum([]byte{byte(i)}), Policy: "images", Layout: "release-1", LayoutVersion: 3,
			Allowed: i%2 == 0, DecidedAt: at(time.Duration(50+i) * time.Minute)}
		if !d.Allowed {
			d.Reasons = []string{"step \"build\" has no attestation", "the layout expired"}
		}
		_, err := st.AddDecision(ctx, d)
		b.check(err)
	}

	// A leaf whose row never committed: an orphan.
	entry := tlog.EntryForEnvelope("shop", hexSum([]byte("lost")), []byte("lost"))
	b.in.OrphanIndex = b.appendLeaf(entry)
	b.check(st.AddOrphanLeaves(ctx, []store.OrphanLeaf{{LogIndex: b.in.OrphanIndex, Entry: entry, FoundAt: at(time.Hour)}}))
	// One more attestation after the orphan, so that the orphan is not the last leaf.
	b.attestation(shop, n)
	b.anchors(shop, tools)
	b.check(st.SetLogWatermark(ctx, b.in.LogSize))
}

// rekorKey is a Rekor server's public key, PEM encoded.
func rekorKey(t testing.TB) []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// anchors moves shop's anchors on, as the anchoring worker would: the first done at once, the second retried
// twice and still pending, the third refused for good, the fourth done after a retry; the others stay
// pending, untried. It keeps every project's anchors in b.in.Anchors.
func (b *builder) anchors(projects ...store.Project) {
	b.t.Helper()
	shop := projects[0]
	ids := map[int64][]string{}
	for _, a := range b.in.Attestations {
		ids[a.ProjectID] = append(ids[a.ProjectID], a.ID)
	}
	anchors, err := b.st.GetAnchors(b.ctx, shop.ID, ids[shop.ID])
	b.check(err)
	if len(anchors) < 6 {
		b.t.Fatalf("shop has %d anchors, want at least 6", len(anchors))
	}
	id := func(i int) string { return anchors[i].AttestationID }
	b.check(b.st.CompleteAnchor(b.ctx, shop.ID, id(0), []byte(`{"uuid":"0","body":"e30=","logIndex":7}`)))
	for _, msg := range []string{"rekor: 503 Service Unavailable", "dial tcp: connection refused"} {
		b.check(b.st.RecordAnchorAttempt(b.ctx, shop.ID, id(1), at(2*time.Hour), msg, false))
	}
	b.check(b.st.RecordAnchorAttempt(b.ctx, shop.ID, id(2), at(time.Hour), "rekor: 400 entry rejected", true))
	b.check(b.st.RecordAnchorAttempt(b.ctx, shop.ID, id(3), at(time.Hour), "timeout", false))
	b.check(b.st.CompleteAnchor(b.ctx, shop.ID, id(3), []byte(`{"uuid":"3"}`)))
	for _, p := range projects {
		anchors, err := b.st.GetAnchors(b.ctx, p.ID, ids[p.ID])
		b.check(err)
		b.in.Anchors = append(b.in.Anchors, anchors...)
	}
}

func (b *builder) layout(p store.Project, name, content string, created time.Time) {
	b.t.Helper()
	l := store.Layout{ProjectID: p.ID, Name: name, ID: hexSum([]byte(content)), Content: []byte(content),
		SignerKeyIDs: []string{KeyID("owner")}, ExpiresAt: at(90 * 24 * time.Hour), PusherID: "t-shop-admin", CreatedAt: created}
	i := b.appendLeaf(tlog.EntryForLayout(p.Name, name, l.Content))
	l.LogIndex = &i
	stored, err := b.st.AddLayout(b.ctx, l)
	b.check(err)
	b.in.Layouts = append(b.in.Layouts, stored)
}

func (b *builder) attestation(p store.Project, n int) {
	b.t.Helper()
	env := fmt.Appendf(nil, `{"payloadType":"application/vnd.in-toto+json","payload":"eyJuIjol%d","signatures":[]}`, n)
	a := store.Attestation{ProjectID: p.ID, ID: hexSum(env), Envelope: env, PayloadType: "application/vnd.in-toto+json",
		StatementType: "https://in-toto.io/Statement/v1", PredicateType: "https://in-toto.io/attestation/link/v0.3",
		Step: []string{"build", "test", ""}[n%3], SubmitterID: "t-shop-ci", CreatedAt: at(time.Duration(60+n) * time.Second),
		Subjects: []store.Artifact{
			{Name: fmt.Sprintf("out/app-%d", n), Algorithm: "sha256", Digest: hexSum(fmt.Appendf(nil, "out %d", n))},
			{Name: fmt.Sprintf("out/app-%d", n), Algorithm: "sha512", Digest: hexSum(fmt.Appendf(nil, "out512 %d", n)) + hexSum(nil)},
		},
		Materials:    []store.Artifact{{Name: "src/main.c", Algorithm: "sha256", Digest: hexSum(fmt.Appendf(nil, "in %d", n/2))}},
		SignerKeyIDs: []string{KeyID("alice")},
	}
	if n%4 == 0 {
		a.Materials = nil
		a.SignerKeyIDs = append(a.SignerKeyIDs, KeyID("bob"))
	}
	i := b.appendLeaf(tlog.EntryForEnvelope(p.Name, a.ID, a.Envelope))
	a.LogIndex = &i
	stored, created, err := b.st.InsertAttestation(b.ctx, a)
	b.check(err)
	if !created {
		b.t.Fatalf("attestation %d existed", n)
	}
	b.in.Attestations = append(b.in.Attestations, stored)
}
