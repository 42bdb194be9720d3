package store_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/attestd/attestd/internal/store"
)

func TestAnchorErrorText(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct{ name, msg, want string }{
		{"empty", "", ""},
		{"short", "rekor: 503", "rekor: 503"},
		{"at the bound", x(store.MaxAnchorError), x(store.MaxAnchorError)},
		{"over the bound", x(store.MaxAnchorError + 1), x(store.MaxAnchorError)},
		{"two bytes across the bound", x(store.MaxAnchorError-1) + "é", x(store.MaxAnchorError - 1)},
		{"three bytes ending at the bound", x(store.MaxAnchorError-3) + "€" + "y", x(store.MaxAnchorError-3) + "€"},
		{"four bytes across the bound", x(store.MaxAnchorError-2) + "🙂", x(store.MaxAnchorError - 2)},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"NUL bytes", "a\x00b\x00", "ab"},
		{"replacement over the bound", x(store.MaxAnchorError-1) + "\xff", x(store.MaxAnchorError - 1)},
	} {
		got := store.AnchorErrorText(tc.msg)
		if got != tc.want {
			t.Errorf("%s: AnchorErrorText = %d bytes %.16q…, want %d bytes", tc.name, len(got), got, len(tc.want))
		}
		if len(got) > store.MaxAnchorError || !utf8.ValidString(got) || store.AnchorErrorText(got) != got {
			t.Errorf("%s: %q is not fit to store as it is", tc.name, got)
		}
	}
}
