package attestation

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CheckName checks that name is a canonical artifact name, the form in which
// attestd stores, indexes and matches names. Refusing other spellings, rather
// than cleaning them up, keeps one artifact from having two names that rules
// would treat differently (in-toto-golang CVE-2021-41087: "dir/../foo" got
// past a DISALLOW rule for "foo").
//
// A canonical name is non-empty valid UTF-8 in Unicode normalization form
// NFC, at most lim.MaxNameBytes bytes long, contains no control character
// (NUL included) and no backslash, does not start with "/", and has no "." or
// ".." segment between slashes. URIs and package URLs such as
// "https://example.com/x" or "pkg:deb/acme/x@1" are names too.
//
// A name too long is a *LimitError, anything else an *InputError with Field
// "name".
func CheckName(name string, lim Limits) error {
	return checkName("name", name, lim.withDefaults())
}

// checkName is CheckName with the field to report and limits already defaulted.
func checkName(field, name string, lim Limits) error {
	if len(name) > lim.MaxNameBytes { // the test first: the field's bytes are only named in the error
		return checkLimit(LimitNameBytes, field+" bytes", len(name), lim.MaxNameBytes)
	}
	if reason := nameProblem(name); reason != "" {
		return &InputError{Field: field, Reason: fmt.Sprintf("%s %s", quote(name), reason)}
	}
	return nil
}

// nameProblem returns why name is not canonical, or "".
func nameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	if plainASCII(name) {
		return "" // no control character, no backslash, no "." or ".." segment, not absolute; ASCII is NFC
	}
	return fullNameProblem(name)
}

// fullNameProblem is nameProblem without the fast path for plain ASCII names.
func fullNameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	if !utf8.ValidString(name) {
		return "is not valid UTF-8"
	}
	if r, ok := firstControl(name); ok {
		return fmt.Sprintf("contains the control character U+%04X", r)
	}
	if strings.Contains(name, `\`) {
		return "contains a backslash; use / to separate path segments"
	}
	if strings.HasPrefix(name, "/") {
		return "is an absolute path; names are relative to the build directory"
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("contains a %q path segment", seg)
		}
	}
	if !norm.NFC.IsNormalString(name) {
		return "is not in Unicode normalization form NFC"
	}
	return ""
}

// plainASCII reports, in one pass and without allocating, whether name is printable ASCII without a backslash,
// does not start with "/", and has no "." or ".." segment: a canonical name, whatever nameProblem's other checks
// would say, so they can be skipped (this is the common case, and names are checked on every Verify).
func plainASCII(name string) bool {
	if name[0] == '/' {
		return false
	}
	segStart := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) {
			c := name[i]
			if c < 0x20 || c >= 0x7f || c == '\\' {
				return false
			}
			if c != '/' {
				continue
			}
		}
		if seg := name[segStart:i]; seg == "." || seg == ".." {
			return false
		}
		segStart = i + 1
	}
	return true
}

// firstControl returns the first control character (Unicode category Cc:
// U+0000-U+001F, U+007F-U+009F) in s.
func firstControl(s string) (rune, bool) {
	for _, r := range s {
		if unicode.IsControl(r) {
			return r, true
		}
	}
	return 0, false
}

// checkText checks a free-form string that is indexed or shown to people
// (a URI, a step name, a predicate type): non-empty, no control character, at
// most lim.MaxNameBytes bytes.
func checkText(field, s string, lim Limits) error {
	if err := checkLimit(LimitNameBytes, field+" bytes", len(s), lim.MaxNameBytes); err != nil {
		return err
	}
	if s == "" {
		return inputErr(field, "is empty")
	}
	if r, ok := firstControl(s); ok {
		return inputErr(field, "%s contains the control character U+%04X", quote(s), r)
	}
	return nil
}
