package attestation

import (
	"fmt"
	"strings"
)

// hexLengths gives, for each digest algorithm of the in-toto digest set that
// attestd knows, the lengths (in hex characters) its value may have.
var hexLengths = map[string][]int{
	"sha256":     {64},
	"sha224":     {56},
	"sha384":     {96},
	"sha512":     {128},
	"sha512_224": {56},
	"sha512_256": {64},
	"sha3_224":   {56},
	"sha3_256":   {64},
	"sha3_384":   {96},
	"sha3_512":   {128},
	"sha1":       {40},
	"md5":        {32},
	"gitCommit":  {40, 64},
	"gitTree":    {40, 64},
	"gitBlob":    {40, 64},
	"gitTag":     {40, 64},
	"dirHash":    {64},
}

// Bounds on algorithms attestd does not know.
const (
	maxAlgLen   = 32
	maxValueLen = 512
)

// ParseDigest splits a digest as users type it in queries, "ALG:VALUE" such
// as "sha256:e3b0c442...", and checks it with the rules that apply to digests
// in statements:
//
//   - for a known algorithm (sha256, sha512, sha1, gitCommit, dirHash, ...)
//     the value must be lowercase hex of exactly the algorithm's length;
//   - another algorithm name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$,
//     must not be a known name in different case ("SHA256"), and its value
//     must be 1 to 512 printable ASCII characters without spaces.
//
// Errors are *InputError with Field "digest".
func ParseDigest(s string) (alg, value string, err error) {
	alg, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", inputErr("digest", "%s is not of the form ALGORITHM:VALUE (for example sha256:<64 hex characters>)", quote(s))
	}
	if reason := checkAlg(alg); reason != "" {
		return "", "", &InputError{Field: "digest", Reason: reason}
	}
	if reason := checkDigestValue(alg, value); reason != "" {
		return "", "", &InputError{Field: "digest", Reason: alg + " value " + reason}
	}
	return alg, value, nil
}

// checkAlg returns why alg is not an acceptable algorithm name, or "".
func checkAlg(alg string) string {
	if _, ok := hexLengths[alg]; ok {
		return ""
	}
	for known := range hexLengths {
		if strings.EqualFold(alg, known) {
			return fmt.Sprintf("algorithm name %s must be written %q", quote(alg), known)
		}
	}
	ok := len(alg) >= 1 && len(alg) <= maxAlgLen && isAlnum(alg[0])
	for i := 1; ok && i < len(alg); i++ {
		c := alg[i]
		ok = isAlnum(c) || c == '_' || c == '.' || c == '-'
	}
	if !ok {
		return fmt.Sprintf("algorithm name %s is not 1 to %d letters, digits, '_', '.' or '-' starting with a letter or digit", quote(alg), maxAlgLen)
	}
	return ""
}

// checkDigestValue returns why value is not acceptable for alg, or "".
func checkDigestValue(alg, value string) string {
	if lengths, ok := hexLengths[alg]; ok {
		if !isLowerHex(value) || !lengthIn(len(value), lengths) {
			return "not lowercase hex of " + describeLengths(lengths) + " characters"
		}
		return ""
	}
	if len(value) < 1 || len(value) > maxValueLen {
		return fmt.Sprintf("must be 1 to %d characters, got %d", maxValueLen, len(value))
	}
	for i := 0; i < len(value); i++ {
		if value[i] <= ' ' || value[i] > '~' {
			return "contains a character other than printable ASCII without spaces"
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func lengthIn(n int, lengths []int) bool {
	for _, l := range lengths {
		if n == l {
			return true
		}
	}
	return false
}

func describeLengths(lengths []int) string {
	parts := make([]string, len(lengths))
	for i, l := range lengths {
		parts[i] = fmt.Sprint(l)
	}
	return strings.Join(parts, " or ")
}
