package attestation

import (
	"math/rand/v2"
	"testing"
)

// plainRunRef is plainRun a byte at a time, rounded down to whole words as plainRun stops.
func plainRunRef(s string, rawControl bool) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if c == '"' || c == '\\' || (c < 0x20 && !rawControl) {
			break
		}
		n++
	}
	return n &^ 7
}

// TestPlainRun: the word-at-a-time scan stops at the word holding the first quote, backslash or (unless allowed)
// control character, wherever it sits in the word, next to bytes of every value, including UTF-8's high bytes.
func TestPlainRun(t *testing.T) {
	specials := []byte{'"', '\\', 0x00, 0x1f, '\n'}
	near := []byte{'!', '#', '[', ']', 0x20, 0x7f, 0x80, 0xa2, 0xdc, 0xff, 'a', '0'}
	for _, raw := range []bool{false, true} {
		for n := 0; n <= 40; n++ {
			for at := 0; at <= n; at++ {
				for _, sp := range specials {
					b := make([]byte, n)
					for i := range b {
						b[i] = near[(i*7+at)%len(near)]
					}
					if at < n {
						b[at] = sp
					}
					s := string(b)
					if got, want := plainRun(s, raw), plainRunRef(s, raw); got != want {
						t.Fatalf("plainRun(%q, raw=%v) = %d, want %d", s, raw, got, want)
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(70))
		for i := range b {
			b[i] = byte(r.IntN(256))
			if r.IntN(4) > 0 {
				b[i] = near[r.IntN(len(near))]
			}
		}
		s := string(b)
		for _, raw := range []bool{false, true} {
			if got, want := plainRun(s, raw), plainRunRef(s, raw); got != want {
				t.Fatalf("plainRun(%q, raw=%v) = %d, want %d", s, raw, got, want)
			}
		}
	}
}
