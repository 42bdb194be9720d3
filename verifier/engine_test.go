package verifier

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/attestation"
	"github.com/in-toto/in-toto-golang/in_toto"
)

var (
	t0     = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	logged = t0.Add(-time.Hour)
)

// demoInput is the demo chain as an Input our engine reads directly.
func demoInput(t *testing.T, k keyring) Input {
	l, links := demo(k, t0.Add(24*time.Hour))
	in := Input{Layout: mustLayout(t, l), Keys: allKeys(k.all()...), Now: t0,
		Artifact: Artifact{Name: "demo-project.tar.gz", Digest: h("tar")}}
	for i, ln := range links {
		in.Attestations = append(in.Attestations, att(fmt.Sprint("att-", i), ln))
	}
	return in
}

func att(id string, l link) Attestation {
	a := Attestation{ID: id, Step: l.name, Signers: []string{l.signer.id()}, PredicateType: attestation.PredicateLinkV03,
		IntegratedAt: logged, Materials: map[string]map[string]string{}, Products: map[string]map[string]string{}}
	for n, d := range l.materials {
		a.Materials[n] = d
	}
	for n, d := range l.products {
		a.Products[n] = d
	}
	return a
}

func TestVerifyThreats(t *testing.T) {
	k := newKeyring(t)
	threshold2 := func(in *Input) {
		in.Layout.Steps[0].PubKeys = []string{k.bob.id(), k.dave.id()}
		in.Layout.Steps[0].Threshold = 2
	}
	cases := []struct {
		name   string
		mutate func(in *Input)
		reason string // a substring of one reason; "" means allowed
	}{
		{"demo passes", func(*Input) {}, ""},
		{"artifact digest differs from the final product", func(in *Input) { in.Artifact.Digest = h("other") },
			`the artifact "demo-project.tar.gz" has sha256:`},
		{"old provenance for a new digest", func(in *Input) { in.Artifact = Artifact{Name: "demo-project.tar.gz", Digest: h("tar-v2")} },
			`but the product "demo-project.tar.gz" of the last step "package" has`},
		{"missing step", func(in *Input) { in.Attestations = in.Attestations[:2] }, `step "package" has no attestation`},
		{"threshold 2 by the same key twice", func(in *Input) {
			threshold2(in)
			dup := in.Attestations[0]
			dup.ID = "att-dup"
			in.Attestations = append(in.Attestations, dup)
		}, `threshold 2 needs 2 distinct keys, found 1`},
		{"threshold 2 by one attestation listing the signer twice", func(in *Input) {
			threshold2(in)
			in.Attestations[0].Signers = []string{k.bob.id(), k.bob.id()}
		}, `threshold 2 needs 2 distinct keys, found 1`},
		{"threshold 2 met by two keys", func(in *Input) {
			threshold2(in)
			other := in.Attestations[0]
			other.ID, other.Signers = "att-dave", []string{k.dave.id()}
			in.Attestations = append(in.Attestations, other)
		}, ""},
		{"threshold attestations disagree", func(in *Input) {
			threshold2(in)
			other := in.Attestations[0]
			other.ID, other.Signers = "att-dave", []string{k.dave.id()}
			other.Products = map[string]map[string]string{"demo-project/foo.py": h("evil")}
			in.Attestations = append(in.Attestations, other)
		}, `that agree on materials and products`},
		{"materials of B differ from products of A", func(in *Input) {
			in.Attestations[2].Materials = map[string]map[string]string{"demo-project/foo.py": h("tampered")}
		}, `product "demo-project/foo.py" of "update-version" does not match material "demo-project/foo.py" of "package"`},
		{"key expired before integration", func(in *Input) {
			in.Keys = []Key{{ID: k.bob.id()}, {ID: k.carl.id(), Expires: logged.Add(-time.Minute)}}
		}, `expired before the attestation was logged`},
		{"key revoked before integration", func(in *Input) {
			in.Keys = []Key{{ID: k.bob.id()}, {ID: k.carl.id(), RevokedAt: logged}}
		}, `was revoked before the attestation was logged`},
		{"key revoked after integration still counts", func(in *Input) {
			in.Keys = []Key{{ID: k.bob.id()}, {ID: k.carl.id(), RevokedAt: logged.Add(time.Second)}}
		}, ""},
		{"key not yet valid", func(in *Input) {
			in.Keys = []Key{{ID: k.bob.id()}, {ID: k.carl.id(), NotBefore: logged.Add(time.Second)}}
		}, `was not yet valid`},
		{"key not registered", func(in *Input) { in.Keys = allKeys(k.bob) }, `is not a registered key of the project`},
		{"signed by a key of another step", func(in *Input) { in.Attestations[2].Signers = []string{k.bob.id()} },
			`not signed by a valid key of the step`},
		{"expired layout", func(in *Input) { in.Now = in.Layout.Expires }, `the layout expired on`},
		{"predicate type not the link", func(in *Input) { in.Attestations[1].PredicateType = "https://slsa.dev/provenance/v1" },
			`predicate type "https://slsa.dev/provenance/v1" is not one this step accepts`},
		{"classic link counts", func(in *Input) { in.Attestations[1].PredicateType = "" }, ""},
		{"step asks for provenance", func(in *Input) {
			in.Layout.Steps[1].PredicateTypes = []string{attestation.PredicateSLSAProvenanceV1}
		}, `is not one this step accepts`},
		{"not logged", func(in *Input) { in.Attestations[0].IntegratedAt = time.Time{} }, `not integrated in the log`},
		{"non-canonical name cannot pass DISALLOW", func(in *Input) {
			in.Attestations[0].Products["demo-project/../evil"] = h("x")
		}, `non-canonical artifact name`},
		{"an older run of a step does not confuse the choice", func(in *Input) {
			old := in.Attestations[2]
			old.ID, old.IntegratedAt = "att-old", logged.Add(-48*time.Hour)
			old.Products = map[string]map[string]string{"demo-project.tar.gz": h("old-tar")}
			in.Attestations = append(in.Attestations, old)
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := demoInput(t, k)
			c.mutate(&in)
			d, err := Verify(in)
			if err != nil {
				t.Fatal(err)
			}
			if c.reason == "" {
				if !d.Allowed {
					t.Fatalf("denied: %q", d.Reasons)
				}
				return
			}
			if d.Allowed {
				t.Fatalf("allowed, want a denial with %q", c.reason)
			}
			if !strings.Contains(strings.Join(d.Reasons, "\n"), c.reason) {
				t.Fatalf("reasons %q do not mention %q", d.Reasons, c.reason)
			}
		})
	}
}

func TestVerifyUsedAndOrderIndependent(t *testing.T) {
	k := newKeyring(t)
	in := demoInput(t, k)
	// Noise: extra attestations that must not change anything.
	extra := in.Attestations[0]
	extra.ID, extra.Signers = "noise-1", []string{k.dave.id()}
	in.Attestations = append(in.Attestations, extra)
	in.Attestations[2].Materials = map[string]map[string]string{"demo-project/foo.py": h("tampered")}
	want, err := Verify(in)
	if err != nil {
		t.Fatal(err)
	}
	if want.Allowed || len(want.Reasons) == 0 || want.Steps[0].Used[0] != "att-0" {
		t.Fatalf("unexpected decision %+v", want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := in
		shuffled.Attestations = append([]Attestation(nil), in.Attestations...)
		rng.Shuffle(len(shuffled.Attestations), func(a, b int) {
			shuffled.Attestations[a], shuffled.Attestations[b] = shuffled.Attestations[b], shuffled.Attestations[a]
		})
		shuffled.Keys = append([]Key(nil), in.Keys...)
		rng.Shuffle(len(shuffled.Keys), func(a, b int) { shuffled.Keys[a], shuffled.Keys[b] = shuffled.Keys[b], shuffled.Keys[a] })
		got, err := Verify(shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("run %d: decision changed:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func TestVerifyBounds(t *testing.T) {
	k := newKeyring(t)
	// 1,000 steps, each matching the previous one's products: bounded and fast.
	var steps []in_toto.Step
	var links []link
	for i := range MaxSteps {
		var mats [][]string
		if i > 0 {
			mats = [][]string{{"MATCH", "*", "WITH", "PRODUCTS", "FROM", fmt.Sprint("s", i-1)}, {"DISALLOW", "*"}}
		}
		steps = append(steps, step(fmt.Sprint("s", i), 1, []*functionary{k.bob}, mats, nil))
		ln := link{fmt.Sprint("s", i), k.bob, arts(), arts("out", "x")}
		if i > 0 {
			ln.materials = arts("out", "x")
		}
		links = append(links, ln)
	}
	l := mustLayout(t, layoutOf(t0.Add(time.Hour), k.all(), steps...))
	in := Input{Layout: l, Keys: allKeys(k.all()...), Now: t0, Artifact: Artifact{Digest: h("x")}}
	for i, ln := range links {
		in.Attestations = append(in.Attestations, att(fmt.Sprint(i), ln))
	}
	start := time.Now()
	d, err := Verify(in)
	if err != nil || !d.Allowed {
		t.Fatalf("1,000 steps: %v %q", err, d.Reasons)
	}
	t.Logf("1,000-step layout verified in %v", time.Since(start))

	// 1,001 steps: refused at parse.
	steps = append(steps, step("one-too-many", 1, []*functionary{k.bob}, nil, nil))
	b, _ := json.Marshal(layoutOf(t0, k.all(), steps...))
	var le *attestation.LimitError
	if _, err := ParseLayout(b); !errors.As(err, &le) || le.Limit != LimitSteps {
		t.Fatalf("1,001 steps: %v", err)
	}

	// Too many artifacts in one attestation: a limit error, no decision.
	big := in.Attestations[0]
	big.Products = map[string]map[string]string{}
	for i := range MaxArtifacts + 1 {
		big.Products[fmt.Sprint("f", i)] = h("x")
	}
	in.Attestations = append(in.Attestations, big)
	if _, err := Verify(in); !errors.As(err, &le) || le.Limit != LimitArtifacts {
		t.Fatalf("too many artifacts: %v", err)
	}
}

func TestPathologicalPatternBounded(t *testing.T) {
	pat := strings.Repeat("*a", 512) + "b" // 1,025 bytes: over the bound
	if _, err := CompilePattern(pat); err == nil {
		t.Fatal("pattern over MaxPatternBytes accepted")
	}
	pat = strings.Repeat("*a", 511) + "b"
	p, err := CompilePattern(pat)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("a", 4096)
	work := 0
	start := time.Now()
	if p.Match(name, &work) {
		t.Fatal("matched")
	}
	if max := (len(name) + 1) * (len(pat) + 1); work > max {
		t.Fatalf("work %d over the O(n*m) bound %d", work, max)
	}
	t.Logf("worst-case pattern: %d steps in %v", work, time.Since(start))
}
