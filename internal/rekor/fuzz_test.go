package rekor

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
)

// FuzzParseEntry: no input makes ParseEntry panic, every error is
// ErrMalformedEntry, and what it accepts survives Marshal and ParseEntry
// unchanged (so a stored entry reads back as it was written) and does not
// make VerifyEntry panic. Run it with
//
//	go test ./internal/rekor -run '^$' -fuzz FuzzParseEntry -fuzztime 30s
func FuzzParseEntry(f *testing.F) {
	log := newFakeLog(f)
	env, key := signedEnvelope(f)
	real, err := log.add(f, env, key).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	golden, err := goldenEntry().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	noProof := goldenEntry()
	noProof.InclusionProof = nil
	b, err := noProof.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add(golden)
	f.Add(b)
	f.Add([]byte(`{"uuid":"` + string(bytes.Repeat([]byte("a"), 64)) + `","logIndex":0}`))
	f.Add([]byte(`{"inclusionProof":{"hashes":[null]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("error %v is not ErrMalformedEntry", err)
			}
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("ParseEntry accepted what Marshal refuses: %v", err)
		}
		again, err := ParseEntry(out)
		if err != nil {
			t.Fatalf("ParseEntry refuses what Marshal wrote: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, again)
		}
		if out2, _ := again.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", out, out2)
		}
		// Arbitrary, parsed entries must not make verification panic.
		_ = VerifyEntry(context.Background(), e, env, log.pubPEM)
	})
}
