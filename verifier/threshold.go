package verifier

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attestd/attestd/attestation"
)

// group is a set of attestations of one step that agree on materials and
// products (in-toto reduces a step's links to one only when they agree).
type group struct {
	content string          // hash of the materials and products
	link    *Attestation    // one member, for its artifacts
	members map[string]bool // attestation ids
	prints  map[string]bool // fingerprints of the distinct keys that count
	latest  time.Time       // newest integration time among members
}

func (g *group) ids() []string { return slices.Sorted(maps.Keys(g.members)) }

func (g *group) hasProduct(digest map[string]string) bool {
	for _, d := range g.link.Products {
		if digestMatches(digest, d) {
			return true
		}
	}
	return false
}

// window is the validity of one key; several Key entries with one id are
// all applied.
type window []Key

// windowOf returns the validity of k: the entries of keys under any of k's
// ids (attestation.PublicKey.IDs), all applied, so that a key the caller
// lists under another of its ids is still the same key.
func windowOf(keys map[string]window, k *attestation.PublicKey) window {
	var w window
	for _, id := range k.IDs() {
		w = append(w, keys[id]...)
	}
	return w
}

func keyWindows(keys []Key) map[string]window {
	w := map[string]window{}
	for _, k := range keys {
		w[k.ID] = append(w[k.ID], k)
	}
	return w
}

// problem says why the key is not valid at t, or "".
func (w window) problem(id string, t time.Time) string {
	if len(w) == 0 {
		return fmt.Sprintf("key %s is not a registered key of the project", shortID(id))
	}
	var out []string
	for _, k := range w {
		switch {
		case !k.RevokedAt.IsZero() && !t.Before(k.RevokedAt):
			out = append(out, fmt.Sprintf("key %s was revoked before the attestation was logged", shortID(id)))
		case !k.Expires.IsZero() && !t.Before(k.Expires):
			out = append(out, fmt.Sprintf("key %s expired before the attestation was logged", shortID(id)))
		case !k.NotBefore.IsZero() && t.Before(k.NotBefore):
			out = append(out, fmt.Sprintf("key %s was not yet valid when the attestation was logged", shortID(id)))
		}
	}
	if len(out) == 0 {
		return ""
	}
	slices.Sort(out)
	return out[0]
}

// stepGroups returns the groups of attestations of step s that meet its
// threshold, best first, and, when there is none, the reasons why.
func stepGroups(l *Layout, s *Step, atts []*Attestation, keys map[string]window) ([]*group, []string) {
	if len(atts) == 0 {
		return nil, []string{fmt.Sprintf("step %s has no attestation", quote(s.Name))}
	}
	// Every id of every key of the step, to its key: a signer counts by
	// whichever of its key's ids the caller gives (ParseLayout makes PubKeys
	// canonical ids, and attestation.VerifySignatures returns those).
	authorized := map[string]*attestation.PublicKey{}
	for _, id := range s.PubKeys {
		if k := l.Keys[id]; k != nil {
			for _, alias := range k.IDs() {
				authorized[alias] = k
			}
		}
	}
	var notes []string
	type counted struct {
		a      *Attestation
		prints map[string]bool
	}
	var counting []counted
	byContent := map[string]*group{}
	for _, a := range atts {
		note := func(format string, args ...any) {
			notes = append(notes, fmt.Sprintf("step %s: attestation %s: ", quote(s.Name), quote(a.ID))+fmt.Sprintf(format, args...))
		}
		if !predicateAllowed(s, a.PredicateType) {
			note("predicate type %s is not one this step accepts (%s); it does not count", quote(a.PredicateType), strings.Join(acceptedTypes(s), ", "))
			continue
		}
		if a.IntegratedAt.IsZero() {
			note("it was not integrated in the log; it does not count")
			continue
		}
		if bad := checkNames(a); bad != "" {
			note("non-canonical artifact name (%s); it does not count", bad)
			continue
		}
		prints := map[string]bool{}
		for _, id := range a.Signers {
			k := authorized[id]
			if k == nil {
				continue
			}
			if p := windowOf(keys, k).problem(k.ID, a.IntegratedAt); p != "" {
				note("%s", p)
				continue
			}
			prints[k.Fingerprint()] = true
		}
		if len(prints) == 0 {
			note("not signed by a valid key of the step; it does not count")
			continue
		}
		counting = append(counting, counted{a, prints})
	}
	for _, c := range counting {
		a, prints := c.a, c.prints
		content := "" // one counting attestation: no need to hash its content
		if len(counting) > 1 {
			content = contentHash(a)
		}
		g := byContent[content]
		if g == nil {
			g = &group{content: content, link: a, members: map[string]bool{}, prints: map[string]bool{}}
			byContent[content] = g
		}
		g.members[a.ID] = true
		maps.Copy(g.prints, prints)
		if a.IntegratedAt.After(g.latest) {
			g.latest = a.IntegratedAt
		}
		if a.ID < g.link.ID { // the representative must not depend on order
			g.link = a
		}
	}
	all := slices.Collect(maps.Values(byContent))
	slices.SortFunc(all, func(a, b *group) int {
		if c := len(b.prints) - len(a.prints); c != 0 {
			return c
		}
		if c := b.latest.Compare(a.latest); c != 0 {
			return c
		}
		return strings.Compare(a.content, b.content)
	})
	var met []*group
	allPrints := map[string]bool{}
	for _, g := range all {
		maps.Copy(allPrints, g.prints)
		if len(g.prints) >= s.Threshold {
			met = append(met, g)
		}
	}
	if len(met) > 0 {
		return met, nil
	}
	best := 0
	if len(all) > 0 {
		best = len(all[0].prints)
	}
	reason := fmt.Sprintf("step %s: threshold %d needs %d distinct keys, found %d", quote(s.Name), s.Threshold, s.Threshold, best)
	if len(allPrints) > best {
		reason += fmt.Sprintf(" that agree on materials and products (%d keys signed attestations that disagree)", len(allPrints))
	}
	return nil, append(notes, reason)
}

func acceptedTypes(s *Step) []string {
	if len(s.PredicateTypes) > 0 {
		return s.PredicateTypes
	}
	return []string{attestation.PredicateLinkV03, "a classic in-toto link"}
}

func predicateAllowed(s *Step, typ string) bool {
	if len(s.PredicateTypes) == 0 {
		return typ == attestation.PredicateLinkV03 || typ == ""
	}
	return slices.Contains(s.PredicateTypes, typ)
}

// contentHash identifies an attestation's materials and products: sha256
// over the sorted names and digests, each length-prefixed.
func contentHash(a *Attestation) string {
	h := sha256.New()
	var n [8]byte
	write := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, m := range []map[string]map[string]string{a.Materials, a.Products} {
		write(strconv.Itoa(len(m)))
		for _, name := range slices.Sorted(maps.Keys(m)) {
			write(name)
			d := m[name]
			write(strconv.Itoa(len(d)))
			for _, alg := range slices.Sorted(maps.Keys(d)) {
				write(alg)
				write(d[alg])
			}
		}
	}
	return string(h.Sum(nil))
}
