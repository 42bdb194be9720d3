package dumptest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Compare fails t unless dst holds what src holds, read through the stores' own methods (not through package
// dump): the same projects (with their Rekor settings), tokens, keys, layout versions, policies, decisions
// (in order), attestations (by log index, envelopes verbatim) and their anchors, orphan leaves, bootstrap
// token and watermark. Ids that a database assigns (project ids, decision ids, seqs) and generations may
// differ.
func Compare(t testing.TB, src, dst store.Store) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs:\n got %+v\nwant %+v", what, got, want)
		}
	}
	srcProjects, err := src.ListProjects(ctx)
	must(err)
	dstProjects, err := dst.ListProjects(ctx)
	must(err)
	same("projects", projectsOf(dstProjects), projectsOf(srcProjects))
	dstIDs := map[string]int64{}
	for _, p := range dstProjects {
		dstIDs[p.Name] = p.ID
	}

	srcBoot, errS := src.BootstrapTokenID(ctx)
	dstBoot, errD := dst.BootstrapTokenID(ctx)
	if srcBoot != dstBoot || errors.Is(errS, store.ErrNotFound) != errors.Is(errD, store.ErrNotFound) {
		t.Errorf("bootstrap token %q (%v), want %q (%v)", dstBoot, errD, srcBoot, errS)
	}
	pairs := [][2]int64{{0, 0}}
	for _, p := range srcProjects {
		pairs = append(pairs, [2]int64{p.ID, dstIDs[p.Name]})
	}
	for _, pair := range pairs {
		s, d := pair[0], pair[1]
		st, err := src.ListTokens(ctx, s)
		must(err)
		dt, err := dst.ListTokens(ctx, d)
		must(err)
		same(fmt.Sprintf("tokens of project %d", s), normTokens(dt), normTokens(st))
		for _, tok := range st {
			got, err := dst.TokenByHash(ctx, tok.Hash)
			if err != nil || got.ID != tok.ID {
				t.Errorf("TokenByHash of token %s in the target: %s, %v", tok.ID, got.ID, err)
			}
		}
		if s == 0 {
			continue
		}
		sk, err := src.ListKeys(ctx, s)
		must(err)
		dk, err := dst.ListKeys(ctx, d)
		must(err)
		same(fmt.Sprintf("keys of project %d", s), normKeys(dk), normKeys(sk))
		sp, err := src.ListPolicies(ctx, s, "")
		must(err)
		dp, err := dst.ListPolicies(ctx, d, "")
		must(err)
		same(fmt.Sprintf("policies of project %d", s), normPolicies(dp), normPolicies(sp))
		sl, err := src.ListLayouts(ctx, s, "")
		must(err)
		dl, err := dst.ListLayouts(ctx, d, "")
		must(err)
		same(fmt.Sprintf("layouts of project %d", s), normLayouts(dl), normLayouts(sl))
		for _, l := range sl {
			want, err := src.GetLayout(ctx, s, l.Name, l.Version)
			must(err)
			got, err := dst.GetLayout(ctx, d, l.Name, l.Version)
			must(err)
			same(fmt.Sprintf("layout %s version %d", l.Name, l.Version), normLayouts([]store.Layout{got}), normLayouts([]store.Layout{want}))
		}
		sd, err := src.ListDecisions(ctx, s, 0, store.MaxPageSize)
		must(err)
		dd, err := dst.ListDecisions(ctx, d, 0, store.MaxPageSize)
		must(err)
		same(fmt.Sprintf("decisions of project %d", s), normDecisions(dd), normDecisions(sd))
	}

	names := map[int64]string{}
	for _, p := range srcProjects {
		names[p.ID] = p.Name
	}
	sa, err := allAttestations(ctx, src)
	must(err)
	da, err := allAttestations(ctx, dst)
	must(err)
	same("attestations", normAttestations(da, dstNames(dstProjects)), normAttestations(sa, names))
	for _, a := range sa {
		got, err := dst.GetAttestation(ctx, dstIDs[names[a.ProjectID]], a.ID)
		if err != nil || !reflect.DeepEqual(got.Envelope, a.Envelope) {
			t.Errorf("GetAttestation %s in the target: %v", a.ID, err)
		}
	}
	ids := map[int64][]string{}
	for _, a := range sa {
		ids[a.ProjectID] = append(ids[a.ProjectID], a.ID)
	}
	for _, p := range srcProjects {
		s, d := p.ID, dstIDs[p.Name]
		sn, err := anchorsOf(ctx, src, s, ids[s])
		must(err)
		dn, err := anchorsOf(ctx, dst, d, ids[s])
		must(err)
		same(fmt.Sprintf("anchors of project %q", p.Name), normAnchors(dn), normAnchors(sn))
		sc, err := src.CountAnchors(ctx, s)
		must(err)
		dc, err := dst.CountAnchors(ctx, d)
		must(err)
		same(fmt.Sprintf("anchor counts of project %q", p.Name), dc, sc)
	}
	so, err := src.ListOrphanLeaves(ctx)
	must(err)
	do, err := dst.ListOrphanLeaves(ctx)
	must(err)
	same("orphan leaves", normOrphans(do), normOrphans(so))
	sw, err := src.LogWatermark(ctx)
	must(err)
	dw, err := dst.LogWatermark(ctx)
	must(err)
	same("watermark", dw, sw)
}

// anchorsOf returns the project's anchors of the attestations ids, a bounded call at a time.
func anchorsOf(ctx context.Context, st store.Store, projectID int64, ids []string) ([]store.Anchor, error) {
	var out []store.Anchor
	for chunk := range slices.Chunk(ids, store.MaxGetAttestations) {
		page, err := st.GetAnchors(ctx, projectID, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
	}
	return out, nil
}

func allAttestations(ctx context.Context, st store.Store) ([]store.Attestation, error) {
	var out []store.Attestation
	var from uint64
	for {
		page, err := st.ScanByLogIndex(ctx, from, store.MaxPageSize)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < store.MaxPageSize {
			return out, nil
		}
		from = *page[len(page)-1].LogIndex + 1
	}
}

// TokenHash is the hash the database keeps of a secret.
func TokenHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func dstNames(ps []store.Project) map[int64]string {
	out := map[int64]string{}
	for _, p := range ps {
		out[p.ID] = p.Name
	}
	return out
}

// namedProject is a project without the ids and generation that a database assigns.
type namedProject struct {
	Name           string
	At             time.Time
	RekorURL       string
	RekorPublicKey []byte
}

func projectsOf(ps []store.Project) []namedProject {
	out := []namedProject{}
	for _, p := range ps {
		key := p.RekorPublicKey
		if len(key) == 0 {
			key = nil
		}
		out = append(out, namedProject{p.Name, p.CreatedAt.UTC(), p.RekorURL, key})
	}
	return out
}

func normAnchors(list []store.Anchor) []store.Anchor {
	out := []store.Anchor{}
	for _, a := range list {
		a.ProjectID = 0
		a.NextAttemptAt, a.CreatedAt, a.UpdatedAt = a.NextAttemptAt.UTC(), a.CreatedAt.UTC(), a.UpdatedAt.UTC()
		if len(a.Entry) == 0 {
			a.Entry = nil
		}
		out = append(out, a)
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func normTokens(list []store.Token) []store.Token {
	out := []store.Token{}
	for _, t := range list {
		t.ProjectID = 0
		t.CreatedAt, t.RevokedAt = t.CreatedAt.UTC(), utcPtr(t.RevokedAt)
		if len(t.Steps) == 0 {
			t.Steps = nil
		}
		out = append(out, t)
	}
	return out
}

func normKeys(list []store.Key) []store.Key {
	out := []store.Key{}
	for _, k := range list {
		k.ProjectID = 0
		k.CreatedAt, k.ExpiresAt, k.RevokedAt = k.CreatedAt.UTC(), utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
		out = append(out, k)
	}
	return out
}

func normPolicies(list []store.Policy) []store.Policy {
	out := []store.Policy{}
	for _, p := range list {
		p.ProjectID = 0
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		out = append(out, p)
	}
	return out
}

func normLayouts(list []store.Layout) []store.Layout {
	out := []store.Layout{}
	for _, l := range list {
		l.ProjectID = 0
		l.CreatedAt, l.ExpiresAt = l.CreatedAt.UTC(), l.ExpiresAt.UTC()
		if len(l.SignerKeyIDs) == 0 {
			l.SignerKeyIDs = nil
		}
		out = append(out, l)
	}
	return out
}

func normDecisions(list []store.Decision) []store.Decision {
	out := []store.Decision{}
	for _, d := range list {
		d.ID, d.ProjectID = 0, 0
		d.DecidedAt = d.DecidedAt.UTC()
		if len(d.Reasons) == 0 {
			d.Reasons = nil
		}
		out = append(out, d)
	}
	return out
}

// namedAttestation is an attestation with its project's name instead of the database's ids.
type namedAttestation struct {
	Project string
	store.Attestation
}

func normAttestations(list []store.Attestation, names map[int64]string) []namedAttestation {
	out := []namedAttestation{}
	for _, a := range list {
		p := names[a.ProjectID]
		a.ProjectID, a.Seq = 0, 0
		a.CreatedAt = a.CreatedAt.UTC()
		if len(a.Subjects) == 0 {
			a.Subjects = nil
		}
		if len(a.Materials) == 0 {
			a.Materials = nil
		}
		if len(a.SignerKeyIDs) == 0 {
			a.SignerKeyIDs = nil
		}
		out = append(out, namedAttestation{p, a})
	}
	return out
}

func normOrphans(list []store.OrphanLeaf) []store.OrphanLeaf {
	out := []store.OrphanLeaf{}
	for _, o := range list {
		o.FoundAt = o.FoundAt.UTC()
		out = append(out, o)
	}
	return out
}
