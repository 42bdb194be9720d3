package verifier

import (
	"strings"
	"testing"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"MATCH * IN a WITH PRODUCTS IN b FROM s", "ALLOW *", "REQUIRE x", "DISALLOW [!a-z]?", "match x with materials from y", "CREATE \\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(strings.Fields(s))
		if err == nil && r.Pattern != nil {
			r.Pattern.Match(s, nil)
		}
	})
}

func FuzzMatchPattern(f *testing.F) {
	f.Add("*a*b?[!c-d]\\*", "xaybz*")
	f.Add("[é-ü]*", "ö/x")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p, err := CompilePattern(pattern)
		if err != nil {
			return
		}
		work := 0
		p.Match(name, &work)
		if max := (len(name) + 1) * (len(p.toks) + 2); work > max {
			t.Fatalf("work %d over %d", work, max)
		}
	})
}

func FuzzParseLayout(f *testing.F) {
	f.Add([]byte(`{"_type":"layout","expires":"2030-01-01T00:00:00Z","keys":{},"steps":[{"_type":"step","name":"a","threshold":1,"pubkeys":[],"expected_products":[["ALLOW","*"]]}]}`))
	f.Add([]byte(`{"_type":"layout","inspect":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseLayout(b)
	})
}
