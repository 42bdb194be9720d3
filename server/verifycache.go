package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/verifier"
)

// Sizes of Verify's caches, bounding their memory. An entry of judged is a parsed statement (about 40 KiB for
// one with 100 materials and 100 products), a kept gathering holds the digests it asked for (tens of KiB for
// a chain of 100-artifact steps): each stays under about 100 MiB at the sizes below even when every entry is
// that large. A decision needs only its few candidates, so a few thousand statements keep hundreds of
// artifacts' decisions warm.
const (
	judgedCacheSize   = 2048
	includedCacheSize = 100000
	layoutCacheSize   = 256
	keyCacheSize      = 4096
	decisionCacheSize = 4096
	snapshotCacheSize = 4096
	gatherCacheSize   = 1024
)

// verifyCache keeps what Verify computes from immutable inputs, so that a second decision over the same
// attestations costs database reads and the engine, not parsing, signature checks and proofs:
//
//   - judged: what an envelope says and which keys signed it, keyed by the attestation id (the sha256 of the
//     envelope, checked when it is first read) and the fingerprint of the functionary keys it was checked
//     against. Signature validity does not change for a given key; the key's validity in time is the
//     engine's to judge on every decision.
//   - included: that the leaf of (project, id, log index) was proved against a checkpoint of some size. The
//     log only grows and each checkpoint is checked consistent with the one before (tlog), so a leaf proved
//     in a tree of size n is in every later one. Any change of the row's project, id or index is a miss.
//   - layouts: parsed layouts by the sha256 of their signed bytes.
//   - keys: parsed public keys by their PEM.
//   - snapshots: each project's policies, keys and active layouts, as of its generation (store.Project).
//   - gathers: the candidates gathered for an artifact under a layout, reused while no attestation settled
//     since touches a digest or a step the gathering asked for (keptGathering).
//   - decisions: whole decisions, by everything they depend on (decisionKey), a kept gathering among them.
//
// Every cached value is shared between requests and must not be modified.
type verifyCache struct {
	judged    *lru.Cache[judgedKey, judgedEntry]
	included  *lru.Cache[includedKey, uint64]
	layouts   *lru.Cache[string, *verifier.Layout]
	keys      *lru.Cache[string, *attestation.PublicKey]
	decisions *lru.Cache[decisionKey, decisionEntry]
	snapshots *lru.Cache[int64, *projectSnapshot]
	gathers   *lru.Cache[gatherKey, gatherEntry]
	// rekorChecks: the outcome of the offline check of a Rekor entry ("" when it verifies), see rekorCheckKey.
	rekorChecks *lru.Cache[rekorCheckKey, string]

	gatherSeq atomic.Uint64 // the last id given to a kept gathering
}

// decisionKey is everything a decision depends on but the clock: the artifact, the policy that covers it, the
// layout (its bytes and its leaf), the project's keys with their validity, and the kept gathering of its
// candidates, which stands for the attestations: it is carried forward only while no attestation settled
// since could change it. A decision is kept only when every candidate was covered by the checkpoint it was
// proved against: the log only grows, so a later checkpoint covers them too and judges them alike. The clock
// matters only through the layout's expiry, which the caller checks before using a kept decision. Under a
// policy requiring Rekor, the project's Rekor key is part of it too: the entries are verified against it.
type decisionKey struct {
	project                  int64
	kind, name, digest       string
	policy, layout, layoutID string
	layoutIndex              uint64
	keys                     string
	rekorKey                 [32]byte // the sha256 of the project's Rekor key, under a policy requiring Rekor
	gathering                uint64
}

// decisionEntry is a cached decision and why candidates did not count.
type decisionEntry struct {
	d         verifier.Decision
	notLogged []string
}

type judgedKey struct{ id, keys string }

// judgedEntry is a candidate as read from its envelope (IntegratedAt left for the row to set), or, if it does
// not count whatever the decision, the reason why.
type judgedEntry struct {
	att    verifier.Attestation
	reason string
}

type includedKey struct {
	project, id string
	index       uint64
}

func newVerifyCache() *verifyCache {
	return &verifyCache{
		judged:    mustLRU[judgedKey, judgedEntry](judgedCacheSize),
		included:  mustLRU[includedKey, uint64](includedCacheSize),
		layouts:   mustLRU[string, *verifier.Layout](layoutCacheSize),
		keys:      mustLRU[string, *attestation.PublicKey](keyCacheSize),
		decisions: mustLRU[decisionKey, decisionEntry](decisionCacheSize),
		snapshots: mustLRU[int64, *projectSnapshot](snapshotCacheSize),
		gathers:   mustLRU[gatherKey, gatherEntry](gatherCacheSize),

		rekorChecks: mustLRU[rekorCheckKey, string](judgedCacheSize),
	}
}

// mustLRU returns a cache of size entries; lru.New fails only for a size below 1, which the constants rule out.
func mustLRU[K comparable, V any](size int) *lru.Cache[K, V] {
	c, err := lru.New[K, V](size)
	if err != nil {
		panic(err)
	}
	return c
}

// keySetFingerprint names a set of functionary keys by their ids (each the hash of a public key).
func keySetFingerprint(pubs []*attestation.PublicKey) string {
	ids := make([]string, 0, len(pubs))
	for _, p := range pubs {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range slices.Compact(ids) {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// decisionKey returns the key of the decision about alg:value whose candidates are the kept gathering named
// gathering, and false when the decision may not be kept: the gathering was not kept (0), or the layout has no
// leaf.
func decisionKeyOf(proj store.Project, in verifier.Input, alg, value string, pol verifier.Policy, requireRekor bool,
	stored store.Layout, keysPrint string, gathering uint64) (decisionKey, bool) {
	if gathering == 0 || stored.LogIndex == nil {
		return decisionKey{}, false
	}
	k := decisionKey{
		project: proj.ID, kind: pol.Kind, name: in.Artifact.Name, digest: alg + ":" + value,
		policy: fmt.Sprintf("%s\x00%s\x00%t", pol.Name, pol.Match, requireRekor), layout: pol.Layout, layoutID: stored.ID, layoutIndex: *stored.LogIndex,
		keys: keysPrint, gathering: gathering,
	}
	if requireRekor {
		k.rekorKey = sha256.Sum256(proj.RekorPublicKey)
	}
	return k, true
}

// keysFingerprint names the project's keys with everything a decision reads of them.
func keysFingerprint(keys []store.Key) string {
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%t\x00%d\x00%s\x00%s\x00", k.KeyID, k.Owner, k.CreatedAt.UnixNano(), optTime(k.ExpiresAt), optTime(k.RevokedAt))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// projectSnapshot is what Verify reads of a project besides attestations, as of one generation: the policies,
// the keys, and the active version of each layout asked for (read when first asked for). The store bumps the
// generation in the same transaction as any change of these rows, and every call reads it with its token, so
// a snapshot of the generation a call read is as fresh as reading the rows in that call would be.
type projectSnapshot struct {
	generation int64
	policies   []store.Policy
	keys       []store.Key

	// Derived from the rows above when the snapshot is read, so that a call does not redo it.
	selector    *verifier.PolicySet // the policies with their patterns compiled
	keysPrint   string              // keysFingerprint(keys)
	functionary []verifier.Key      // functionaryKeys(keys)

	mu      sync.Mutex
	layouts map[string]store.Layout // by name; a missing layout is not kept
}

// snapshot returns the snapshot of proj at proj.Generation, reading it if need be.
func (s *Server) snapshot(ctx context.Context, proj store.Project) (*projectSnapshot, error) {
	if snap, ok := s.cache.snapshots.Get(proj.ID); ok && snap.generation == proj.Generation {
		return snap, nil
	}
	snap := &projectSnapshot{generation: proj.Generation, layouts: map[string]store.Layout{}}
	var keysErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		snap.keys, keysErr = s.store.ListKeys(ctx, proj.ID)
	}()
	pols, err := s.store.ListPolicies(ctx, proj.ID, "")
	<-done
	if err != nil {
		return nil, err
	}
	if keysErr != nil {
		return nil, fmt.Errorf("load keys of project %q: %w", proj.Name, keysErr)
	}
	snap.policies = pols
	vps := make([]verifier.Policy, 0, len(pols))
	for _, pol := range pols {
		vps = append(vps, verifier.Policy{Name: pol.Name, Kind: pol.Kind, Match: pol.Match, Layout: pol.Layout})
	}
	snap.selector = verifier.NewPolicySet(vps)
	snap.keysPrint, snap.functionary = keysFingerprint(snap.keys), functionaryKeys(snap.keys)
	s.cache.snapshots.Add(proj.ID, snap)
	return snap, nil
}

// activeLayout returns the active version of the layout name, reading it once per snapshot.
func (s *Server) activeLayout(ctx context.Context, snap *projectSnapshot, projectID int64, name string) (store.Layout, error) {
	snap.mu.Lock()
	l, ok := snap.layouts[name]
	snap.mu.Unlock()
	if ok {
		return l, nil
	}
	l, err := s.store.GetLayout(ctx, projectID, name, 0)
	if err != nil {
		return store.Layout{}, err
	}
	snap.mu.Lock()
	snap.layouts[name] = l
	snap.mu.Unlock()
	return l, nil
}
