package verifier

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
	"github.com/in-toto/in-toto-golang/in_toto"
)

// A parity case: a layout and links, recorded with in-toto-golang's own types
// and signing, decided by in-toto-golang (VerifyLayoutExpiration,
// VerifyLinkSignatureThesholds, ReduceStepsMetadata, VerifyArtifacts) and by
// Verify. The artifact verified is always a product of the last link (when
// there is one), since in-toto has no notion of "the artifact".
type parityCase struct {
	name   string
	layout in_toto.Layout
	links  []link
	// exception, if set, documents why the two decisions are expected to
	// differ; the test then requires that they DO differ, so that a fix on
	// either side is noticed.
	exception string
}

type keyring struct{ owner, bob, carl, dave *functionary }

func newKeyring(t testing.TB) keyring {
	return keyring{newFunctionary(t), newFunctionary(t), newFunctionary(t), newFunctionary(t)}
}

func (k keyring) all() []*functionary { return []*functionary{k.bob, k.carl, k.dave} }

// demo is the in-toto demo supply chain (clone -> update-version -> package)
// without its inspection, which attestd refuses.
func demo(k keyring, expires time.Time) (in_toto.Layout, []link) {
	l := layoutOf(expires, k.all(),
		step("clone", 1, []*functionary{k.bob}, nil,
			[][]string{{"CREATE", "demo-project/foo.py"}, {"DISALLOW", "*"}}),
		step("update-version", 1, []*functionary{k.bob},
			[][]string{{"MATCH", "demo-project/*", "WITH", "PRODUCTS", "FROM", "clone"}, {"DISALLOW", "*"}},
			[][]string{{"MODIFY", "demo-project/foo.py"}, {"DISALLOW", "*"}}),
		step("package", 1, []*functionary{k.carl},
			[][]string{{"MATCH", "demo-project/*", "WITH", "PRODUCTS", "FROM", "update-version"}, {"DISALLOW", "*"}},
			[][]string{{"CREATE", "demo-project.tar.gz"}, {"DISALLOW", "*"}}),
	)
	links := []link{
		{"clone", k.bob, arts(), arts("demo-project/foo.py", "v1")},
		{"update-version", k.bob, arts("demo-project/foo.py", "v1"), arts("demo-project/foo.py", "v2")},
		{"package", k.carl, arts("demo-project/foo.py", "v2"), arts("demo-project.tar.gz", "tar")},
	}
	return l, links
}

func parityCorpus(k keyring) []parityCase {
	future := time.Now().Add(365 * 24 * time.Hour)
	var cs []parityCase
	add := func(name string, mutate func(l *in_toto.Layout, links *[]link), exception string) {
		l, links := demo(k, future)
		mutate(&l, &links)
		cs = append(cs, parityCase{name: "demo/" + name, layout: l, links: links, exception: exception})
	}
	none := func(*in_toto.Layout, *[]link) {}
	add("pass", none, "")
	add("tampered material of package", func(_ *in_toto.Layout, ls *[]link) { (*ls)[2].materials = arts("demo-project/foo.py", "evil") }, "")
	add("missing package link", func(_ *in_toto.Layout, ls *[]link) { *ls = (*ls)[:2] }, "")
	add("missing clone link", func(_ *in_toto.Layout, ls *[]link) { *ls = (*ls)[1:] }, "")
	add("update-version did not modify", func(_ *in_toto.Layout, ls *[]link) { (*ls)[1].products = arts("demo-project/foo.py", "v1") }, "")
	add("extra clone product", func(_ *in_toto.Layout, ls *[]link) {
		(*ls)[0].products = arts("demo-project/foo.py", "v1", "demo-project/evil.sh", "x")
	}, "")
	add("extra package product", func(_ *in_toto.Layout, ls *[]link) {
		(*ls)[2].products = arts("demo-project.tar.gz", "tar", "backdoor", "x")
	}, "")
	add("package signed by bob", func(_ *in_toto.Layout, ls *[]link) { (*ls)[2].signer = k.bob }, "")
	add("package signed by a stranger", func(_ *in_toto.Layout, ls *[]link) { (*ls)[2].signer = k.dave }, "")
	add("expired layout", func(l *in_toto.Layout, _ *[]link) {
		l.Expires = time.Now().Add(-time.Hour).UTC().Format(in_toto.ISO8601DateSchema)
	}, "")
	add("threshold 2, two agreeing keys", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[0].PubKeys, l.Steps[0].Threshold = []string{k.bob.id(), k.dave.id()}, 2
		*ls = append(*ls, link{"clone", k.dave, arts(), arts("demo-project/foo.py", "v1")})
	}, "")
	add("threshold 2, one key", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[0].PubKeys, l.Steps[0].Threshold = []string{k.bob.id(), k.dave.id()}, 2
	}, "")
	add("threshold 2, disagreeing keys", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[0].PubKeys, l.Steps[0].Threshold = []string{k.bob.id(), k.dave.id()}, 2
		*ls = append(*ls, link{"clone", k.dave, arts(), arts("demo-project/foo.py", "other")})
	}, "")
	add("threshold 1, an extra disagreeing link", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[0].PubKeys = []string{k.bob.id(), k.dave.id()}
		*ls = append(*ls, link{"clone", k.dave, arts(), arts("demo-project/foo.py", "other")})
	}, "in-toto-golang's ReduceStepsMetadata requires ALL links of a step to agree; attestd needs a group that "+
		"agrees and meets the threshold, because the candidates it gathers from its store include other runs of the step")
	add("lowercase keywords", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[1].ExpectedMaterials = [][]string{{"match", "demo-project/*", "with", "products", "from", "clone"}, {"disallow", "*"}}
	}, "")
	add("MATCH with dst prefix", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"MATCH", "*", "WITH", "PRODUCTS", "IN", "demo-project", "FROM", "update-version"}, {"DISALLOW", "*"}}
		(*ls)[2].materials = arts("foo.py", "v2")
	}, "")
	add("MATCH with src and dst prefix", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"MATCH", "*", "IN", "src", "WITH", "PRODUCTS", "IN", "demo-project", "FROM", "update-version"}, {"DISALLOW", "*"}}
		(*ls)[2].materials = arts("src/foo.py", "v2")
	}, "")
	add("MATCH src prefix, artifact outside it", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"MATCH", "demo-project/*", "IN", "src", "WITH", "PRODUCTS", "FROM", "update-version"}, {"DISALLOW", "*"}}
	}, "in-toto-golang matches an artifact that lacks the IN source prefix as if the prefix were absent (strings.TrimPrefix); "+
		"attestd, like the in-toto specification and in-toto-python, only considers artifacts under the prefix")
	add("MATCH WITH MATERIALS", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"MATCH", "demo-project/*", "WITH", "PRODUCTS", "FROM", "update-version"},
			{"MATCH", "*", "WITH", "MATERIALS", "FROM", "package"}, {"DISALLOW", "*"}}
	}, "")
	add("MATCH FROM a step with no such artifact", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"MATCH", "demo-project/*", "WITH", "PRODUCTS", "FROM", "clone"}, {"DISALLOW", "*"}}
	}, "")
	add("ALLOW everything", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"ALLOW", "*"}}
		(*ls)[2].materials = arts("anything/at/all", "x")
	}, "")
	add("REQUIRE present", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedProducts = [][]string{{"REQUIRE", "demo-project.tar.gz"}, {"CREATE", "*"}, {"DISALLOW", "*"}}
	}, "")
	add("REQUIRE missing", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedProducts = [][]string{{"REQUIRE", "SBOM.json"}, {"ALLOW", "*"}}
	}, "")
	add("REQUIRE after consumed", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedProducts = [][]string{{"ALLOW", "*"}, {"REQUIRE", "demo-project.tar.gz"}}
	}, "")
	add("DELETE", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"DELETE", "demo-project/*"}, {"DISALLOW", "*"}}
	}, "")
	add("DELETE on kept material", func(l *in_toto.Layout, ls *[]link) {
		l.Steps[2].ExpectedMaterials = [][]string{{"DELETE", "demo-project/*"}, {"DISALLOW", "*"}}
		(*ls)[2].products = arts("demo-project.tar.gz", "tar", "demo-project/foo.py", "v2")
		l.Steps[2].ExpectedProducts = [][]string{{"ALLOW", "*"}}
	}, "")
	add("CREATE of a kept file", func(l *in_toto.Layout, ls *[]link) {
		(*ls)[1].products = arts("demo-project/foo.py", "v2")
		l.Steps[1].ExpectedProducts = [][]string{{"CREATE", "demo-project/foo.py"}, {"DISALLOW", "*"}}
	}, "")
	add("MODIFY of an unchanged file", func(l *in_toto.Layout, ls *[]link) {
		(*ls)[2].products = arts("demo-project.tar.gz", "tar", "demo-project/foo.py", "v2")
		l.Steps[2].ExpectedProducts = [][]string{{"CREATE", "*.tar.gz"}, {"MODIFY", "*"}, {"DISALLOW", "*"}}
	}, "")
	add("star crosses slash", func(l *in_toto.Layout, ls *[]link) {
		(*ls)[0].products = arts("demo-project/foo.py", "v1", "demo-project/deep/dir/x.py", "x")
		l.Steps[0].ExpectedProducts = [][]string{{"CREATE", "demo-project/*.py"}, {"DISALLOW", "*"}}
	}, "")
	add("DISALLOW before ALLOW", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedProducts = [][]string{{"DISALLOW", "*.gz"}, {"ALLOW", "*"}}
	}, "")
	add("pattern with ./ prefix", func(l *in_toto.Layout, _ *[]link) {
		l.Steps[2].ExpectedProducts = [][]string{{"CREATE", "./demo-project.tar.gz"}, {"DISALLOW", "*"}}
	}, "")
	add("no rules at all", func(l *in_toto.Layout, ls *[]link) {
		for i := range l.Steps {
			l.Steps[i].ExpectedMaterials, l.Steps[i].ExpectedProducts = nil, nil
		}
		(*ls)[2].materials = arts("whatever", "x")
	}, "")

	// Pattern parity: one step, ALLOW <pattern> then DISALLOW *.
	patterns := []struct{ pat, name string }{
		{"*.py", "a/b/c.py"}, {"a/*", "a/b/c"}, {"?", "é"}, {"a?c", "a/c"}, {"[abc]x", "bx"}, {"[!abc]x", "bx"},
		{"[a-c]*", "cat"}, {"[^a]x", "^x"}, {`\*`, "*"}, {`\*`, "a"}, {"*a*b*c*", "xaxbxcx"}, {"*a*b*c", "abcab"},
		{"**", "x/y"}, {"x*", "x"}, {"*x", "ax/x"}, {"[é-ü]", "ö"}, {"a[*]b", "a*b"}, {"foo/", "foo"}, {"*.tar.gz", "v1.tar.gz"},
		{"*/*", "noslash"}, {"a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	}
	for _, p := range patterns {
		l := layoutOf(future, k.all(), step("s", 1, []*functionary{k.bob}, nil, [][]string{{"ALLOW", p.pat}, {"DISALLOW", "*"}}))
		cs = append(cs, parityCase{name: fmt.Sprintf("pattern %q vs %q", p.pat, p.name), layout: l,
			links: []link{{"s", k.bob, arts(), arts(p.name, "x")}}})
	}

	// Random chains: three steps, rules and artifacts drawn from small sets,
	// so that every rule type meets matches and near misses.
	rng := rand.New(rand.NewPCG(4, 4))
	names := []string{"a.c", "b.c", "src/a.c", "out/a.o", "app", "lib/x.so"}
	pats := []string{"*", "*.c", "src/*", "a*", "?.c", "[ab].c", "out/*", "app"}
	randRules := func(prev string) [][]string {
		var rs [][]string
		for range rng.IntN(4) {
			p := pats[rng.IntN(len(pats))]
			switch rng.IntN(7) {
			case 0:
				if prev != "" {
					dst := []string{"PRODUCTS", "MATERIALS"}[rng.IntN(2)]
					rs = append(rs, []string{"MATCH", p, "WITH", dst, "FROM", prev})
				}
			case 1:
				rs = append(rs, []string{"ALLOW", p})
			case 2:
				rs = append(rs, []string{"CREATE", p})
			case 3:
				rs = append(rs, []string{"DELETE", p})
			case 4:
				rs = append(rs, []string{"MODIFY", p})
			case 5:
				rs = append(rs, []string{"REQUIRE", names[rng.IntN(len(names))]})
			case 6:
				rs = append(rs, []string{"DISALLOW", p})
			}
		}
		if rng.IntN(2) == 0 {
			rs = append(rs, []string{"DISALLOW", "*"})
		}
		return rs
	}
	randArts := func() map[string]in_toto.HashObj {
		m := map[string]in_toto.HashObj{}
		for _, n := range names {
			if rng.IntN(3) == 0 {
				m[n] = h(fmt.Sprint(rng.IntN(2)))
			}
		}
		return m
	}
	for i := range 60 {
		stepNames := []string{"one", "two", "three"}
		var steps []in_toto.Step
		var links []link
		for j, sn := range stepNames {
			prev := ""
			if j > 0 {
				prev = stepNames[rng.IntN(j)]
			}
			steps = append(steps, step(sn, 1, []*functionary{k.bob}, randRules(prev), randRules(prev)))
			links = append(links, link{sn, k.bob, randArts(), randArts()})
		}
		links[2].products["final"] = h("final")
		cs = append(cs, parityCase{name: fmt.Sprintf("random %d", i), layout: layoutOf(future, k.all(), steps...), links: links})
	}
	return cs
}

// inTotoDecide runs in-toto-golang's verification steps, recovering from its
// panics (reported as a failure with panicked set).
func inTotoDecide(c parityCase, mbs []*in_toto.Metablock) (ok, panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, panicked, err = false, true, fmt.Errorf("panic: %v", r)
		}
	}()
	if err := in_toto.VerifyLayoutExpiration(c.layout); err != nil {
		return false, false, err
	}
	links := map[string]map[string]in_toto.Metadata{}
	for i, l := range c.links {
		if links[l.name] == nil {
			links[l.name] = map[string]in_toto.Metadata{}
		}
		links[l.name][l.signer.id()] = mbs[i]
	}
	verified, err := in_toto.VerifyLinkSignatureThesholds(c.layout, links, nil, nil)
	if err != nil {
		return false, false, err
	}
	reduced, err := in_toto.ReduceStepsMetadata(c.layout, verified)
	if err != nil {
		return false, false, err
	}
	var items []any
	for _, s := range c.layout.Steps {
		items = append(items, s)
	}
	return in_toto.VerifyArtifacts(items, reduced) == nil, false, nil
}

func ourDecide(t *testing.T, k keyring, c parityCase, mbs []*in_toto.Metablock) (bool, Decision, error) {
	raw := signedLayout(t, c.layout, k.owner)
	l, err := parseSigned(t, raw, k.owner)
	if err != nil {
		return false, Decision{}, err
	}
	var keys []*attestation.PublicKey
	for _, f := range k.all() {
		keys = append(keys, f.key)
	}
	in := Input{Layout: l, Keys: allKeys(k.all()...), Now: time.Now(), Artifact: Artifact{Name: "final", Digest: h("none")}}
	for i, mb := range mbs {
		in.Attestations = append(in.Attestations, ourAttestation(t, fmt.Sprint("att-", i), mb, keys, time.Now().Add(-time.Minute)))
	}
	lastStep := c.layout.Steps[len(c.layout.Steps)-1].Name
	for _, l := range c.links {
		if l.name != lastStep {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(l.products)) {
			in.Artifact = Artifact{Name: name, Digest: l.products[name]}
			break // any product of the last step's link will do
		}
	}
	d, err := Verify(in)
	return d.Allowed, d, err
}

func TestParity(t *testing.T) {
	k := newKeyring(t)
	corpus := parityCorpus(k)
	if len(corpus) < 50 {
		t.Fatalf("corpus has %d cases, want at least 50", len(corpus))
	}
	agree, exceptions, passes := 0, 0, 0
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			// Each side gets its own signed copies: VerifyArtifacts rewrites maps.
			var theirs, ours []*in_toto.Metablock
			for _, l := range c.links {
				theirs = append(theirs, signedLink(t, l))
				ours = append(ours, signedLink(t, l))
			}
			want, panicked, terr := inTotoDecide(c, theirs)
			got, d, err := ourDecide(t, k, c, ours)
			if err != nil && !isInputOrLimit(err) {
				t.Fatalf("our side failed oddly: %v", err)
			}
			if panicked {
				t.Logf("in-toto-golang panicked: %v", terr)
			}
			if want {
				passes++
			}
			if c.exception != "" {
				if got == want {
					t.Errorf("documented exception no longer differs (both %v): %s", got, c.exception)
				}
				exceptions++
				return
			}
			if got != want {
				t.Errorf("in-toto-golang says %v (%v), we say %v (err %v, reasons %q)", want, terr, got, err, d.Reasons)
				return
			}
			agree++
		})
	}
	t.Logf("parity: %d cases, %d agree (%d allowed by both), %d documented exceptions", len(corpus), agree, passes, exceptions)
}

func isInputOrLimit(err error) bool {
	switch err.(type) {
	case *attestation.InputError, *attestation.LimitError:
		return true
	}
	return false
}
