package attestation

import (
	"math/rand/v2"
	"testing"
)

// TestPlainASCIIAgreesWithFullCheck: a name the fast path accepts is one the full check accepts, and a plain
// name that the full check accepts is taken by the fast path (so the fast path is the common one).
func TestPlainASCIIAgreesWithFullCheck(t *testing.T) {
	cases := []string{"a", "src/main.go", ".", "..", "./a", "a/.", "a/..", "a/../b", "../a", "/a", "a\\b", "a\x00",
		"a\x7f", "a\tb", ".a", "a..", "..a/b", "a/.b", "a//b", "a/", "pkg:deb/acme/x@1", "https://example.com/x",
		"é", "e\u0301", " ", "a b"}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab./\\\x00\x1f\x7f ~:@-_"
	for range 20000 {
		b := make([]byte, 1+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, name := range cases {
		full := fullNameProblem(name)
		if plainASCII(name) && full != "" {
			t.Errorf("%q: the fast path accepts it, the full check says %s", name, full)
		}
		ascii := true
		for i := 0; i < len(name); i++ {
			ascii = ascii && name[i] < 0x80
		}
		if ascii && full == "" && !plainASCII(name) {
			t.Errorf("%q: a canonical ASCII name the fast path does not take", name)
		}
	}
}

func FuzzPlainASCII(f *testing.F) {
	for _, s := range []string{"a/b", "a/../b", "/a", "a\\b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name != "" && plainASCII(name) && fullNameProblem(name) != "" {
			t.Fatalf("%q: the fast path accepts what the full check refuses: %s", name, fullNameProblem(name))
		}
	})
}
