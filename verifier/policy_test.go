package verifier

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/attestd/attestd/attestation"
)

func TestCheckPolicyPattern(t *testing.T) {
	ok := []struct{ kind, pattern string }{
		{KindImage, "registry.example.com/team/*"},
		{KindImage, "registry.example.com/team/app"},
		{KindImage, "localhost:5000/app"},
		{KindImage, "index.docker.io/library/*"},
		{KindImage, "*"},
		{KindImage, "registry.example.com/team/app-[0-9]*"},
		{KindFile, "etc/*.conf"},
		{KindFile, "dist/app-?.tar.gz"},
		{KindFile, "*"},
		{KindPackage, "pkg:deb/acme/*"},
		{KindPackage, "pkg:*"},
		{KindPackage, "libssl*"},
		{KindPackage, "@acme/widget"},
	}
	for _, tc := range ok {
		if _, err := CheckPolicyPattern(tc.kind, tc.pattern); err != nil {
			t.Errorf("CheckPolicyPattern(%s, %q): %v", tc.kind, tc.pattern, err)
		}
	}
	bad := []struct {
		name, kind, pattern, field, want string
	}{
		{"unknown kind", "binary", "x", "kind", "want image, file, package"},
		{"empty kind", "", "x", "kind", "want"},
		{"empty pattern", KindFile, "", "match", "empty"},
		{"malformed class", KindFile, "a/[", "match", "malformed pattern"},
		{"empty class", KindImage, "a/[]", "match", "malformed pattern"},
		{"backslash", KindFile, `a\*`, "match", "backslash"},
		{"absolute path", KindFile, "/etc/*", "match", "absolute"},
		{"dot-dot", KindFile, "a/../b", "match", `".."`},
		{"dot", KindFile, "./b", "match", `"."`},
		{"control", KindPackage, "a\x00", "match", "control"},
		{"not NFC", KindFile, "cafe\u0301", "match", "NFC"},
		{"invalid UTF-8", KindFile, "a\xff", "match", "UTF-8"},
		{"image tag", KindImage, "registry.example.com/team/app:latest", "match", "tag"},
		{"image tag glob", KindImage, "registry.example.com/team/*:*", "match", "tag"},
		{"image short tag", KindImage, "nginx:latest", "match", "tag"},
		{"image digest", KindImage, "registry.example.com/app@sha256:abcd", "match", "digest"},
		{"image url", KindImage, "https://registry.example.com/app", "match", "empty path segment"},
		{"image trailing slash", KindImage, "registry.example.com/team/", "match", "empty path segment"},
		{"image upper case", KindImage, "registry.example.com/Team/*", "match", "lower case"},
		{"purl without type", KindPackage, "pkg:", "match", "package type"},
	}
	for _, tc := range bad {
		_, err := CheckPolicyPattern(tc.kind, tc.pattern)
		var in *attestation.InputError
		if !errors.As(err, &in) || in.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CheckPolicyPattern(%q, %q) = %v, want an InputError on %s saying %q", tc.name, tc.kind, tc.pattern, err, tc.field, tc.want)
		}
	}
	_, err := CheckPolicyPattern(KindFile, strings.Repeat("a", MaxPatternBytes+1))
	var lim *attestation.LimitError
	if !errors.As(err, &lim) || lim.Limit != LimitPatternBytes {
		t.Errorf("pattern too long: err = %v, want a LimitError on %s", err, LimitPatternBytes)
	}
}

func TestSelectPolicy(t *testing.T) {
	policies := []Policy{
		{Name: "team", Kind: KindImage, Match: "registry.example.com/team/*", Layout: "team"},
		{Name: "app", Kind: KindImage, Match: "registry.example.com/team/app-*", Layout: "app"},
		{Name: "exact", Kind: KindImage, Match: "registry.example.com/team/app-web", Layout: "exact"},
		{Name: "any-registry", Kind: KindImage, Match: "*/team/app-web", Layout: "any"},
		// Equal prefixes: the first name wins.
		{Name: "b-tie", Kind: KindImage, Match: "other.example.com/x?", Layout: "b"},
		{Name: "a-tie", Kind: KindImage, Match: "other.example.com/x*", Layout: "a"},
		{Name: "conf", Kind: KindFile, Match: "etc/*.conf", Layout: "conf"},
		{Name: "all-files", Kind: KindFile, Match: "*", Layout: "files"},
		{Name: "debs", Kind: KindPackage, Match: "pkg:deb/acme/*", Layout: "debs"},
		{Name: "openssl", Kind: KindPackage, Match: "pkg:deb/acme/openssl*", Layout: "ssl"},
		{Name: "broken", Kind: KindPackage, Match: "pkg:deb/acme/openssl[", Layout: "never"},
		{Name: "plain", Kind: KindPackage, Match: "left-pad", Layout: "npm"},
	}
	cases := []struct {
		kind, name, want string // want: the policy's name, "" for none
	}{
		{KindImage, "registry.example.com/team/api", "team"},
		{KindImage, "registry.example.com/team/app-api", "app"},
		{KindImage, "registry.example.com/team/app-web", "exact"},
		{KindImage, "mirror.example.com/team/app-web", "any-registry"},
		{KindImage, "registry.example.com/other/api", ""},
		{KindImage, "registry.example.com/team", ""}, // '*' needs the slash before it
		{KindImage, "other.example.com/x1", "a-tie"},
		{KindImage, "other.example.com/x12", "a-tie"},
		{KindFile, "etc/app.conf", "conf"},
		{KindFile, "etc/app.yaml", "all-files"},
		{KindFile, "registry.example.com/team/api", "all-files"}, // kinds do not mix
		{KindPackage, "pkg:deb/acme/openssl@3.0", "openssl"},
		{KindPackage, "pkg:deb/acme/curl@8", "debs"},
		{KindPackage, "left-pad", "plain"},
		{KindPackage, "left-pad2", ""},
		{KindPackage, "pkg:npm/acme/x", ""},
		{"binary", "anything", ""},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		for shuffle := range 5 { // the answer does not depend on the order of the slice
			ps := append([]Policy(nil), policies...)
			if shuffle > 0 {
				rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
			}
			got, ok := SelectPolicy(ps, tc.kind, tc.name)
			if tc.want == "" {
				if ok || got != (Policy{}) {
					t.Errorf("SelectPolicy(%s, %q) = %+v, %v; want no policy", tc.kind, tc.name, got, ok)
				}
				continue
			}
			if !ok || got.Name != tc.want {
				t.Errorf("SelectPolicy(%s, %q) = %+v, %v; want %q", tc.kind, tc.name, got, ok, tc.want)
			}
		}
	}
	if _, ok := SelectPolicy(nil, KindImage, "registry.example.com/team/api"); ok {
		t.Error("SelectPolicy with no policies found one")
	}

	// One PolicySet, built once, answers every case from several goroutines at once (as Verify's project
	// snapshot is used).
	set := NewPolicySet(policies)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, tc := range cases {
				if got, ok := set.Select(tc.kind, tc.name); got.Name != tc.want || ok != (tc.want != "") {
					t.Errorf("PolicySet.Select(%s, %q) = %+v, %v; want %q", tc.kind, tc.name, got, ok, tc.want)
				}
			}
		})
	}
	wg.Wait()
}

// TestSelectPolicyEscapes: a pattern with escapes (possible in a slice built by hand) still selects by its
// literal prefix.
func TestSelectPolicyEscapes(t *testing.T) {
	ps := []Policy{
		{Name: "star", Kind: KindFile, Match: `a\*b*`, Layout: "x"},
		{Name: "any", Kind: KindFile, Match: `a*`, Layout: "y"},
	}
	if got, ok := SelectPolicy(ps, KindFile, "a*bc"); !ok || got.Name != "star" {
		t.Errorf("SelectPolicy(a*bc) = %+v, %v; want star", got, ok)
	}
	if got, ok := SelectPolicy(ps, KindFile, "axbc"); !ok || got.Name != "any" {
		t.Errorf("SelectPolicy(axbc) = %+v, %v; want any", got, ok)
	}
}
