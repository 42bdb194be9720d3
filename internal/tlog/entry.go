package tlog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"
)

// entryDomain opens every entry preimage; it names the format and its version.
const entryDomain = "attestd/log-entry/v1\x00"

// EntryFor returns the log entry of an attestation: 32 bytes that commit to the project, the attestation id and
// the SHA-256 of the envelope without revealing them (the log is public; project names are not).
//
// The entry is exactly
//
//	SHA-256("attestd/log-entry/v1" || 0x00 || project || 0x00 || attestationID || 0x00 || envelopeSHA256Hex)
//
// where project and attestationID are their UTF-8 bytes as stored by attestd and envelopeSHA256Hex is the
// 64-character lowercase hexadecimal SHA-256 of the envelope bytes exactly as submitted. Anyone holding the
// envelope and knowing the project and the attestation id recomputes the entry, and from it the leaf hash
// (LeafHash) that the inclusion proof proves.
//
// The 0x00 separators make the preimage unambiguous only because none of the fields contains a NUL byte:
// EntryFor panics if project or attestationID contains one, or if envelopeSHA256Hex is not 64 lowercase hex
// digits. Those are programmer errors (attestd validates names and computes the hash itself); a silently
// ambiguous or non-canonical commitment would be worse.
func EntryFor(project, attestationID, envelopeSHA256Hex string) []byte {
	if strings.IndexByte(project, 0) >= 0 || strings.IndexByte(attestationID, 0) >= 0 {
		panic(fmt.Sprintf("tlog.EntryFor: NUL byte in project %q or attestation id %q", project, attestationID))
	}
	if !isLowerHex(envelopeSHA256Hex, 2*sha256.Size) {
		panic(fmt.Sprintf("tlog.EntryFor: envelope hash %q is not 64 lowercase hex digits", envelopeSHA256Hex))
	}
	h := sha256.New()
	h.Write([]byte(entryDomain))
	h.Write([]byte(project))
	h.Write([]byte{0})
	h.Write([]byte(attestationID))
	h.Write([]byte{0})
	h.Write([]byte(envelopeSHA256Hex))
	return h.Sum(nil)
}

// LeafHash returns the RFC 6962 Merkle leaf hash of an entry, SHA-256(0x00 || entry). Inclusion proofs prove
// leaf hashes; the 0x00 prefix (0x01 for interior nodes) keeps a leaf from ever being taken for a node.
func LeafHash(entry []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(entry)
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// EntryForEnvelope is EntryFor with the SHA-256 of the envelope bytes computed here: the entry of a stored
// attestation, as Submit, the start-up reconciliation and the audit recompute it.
func EntryForEnvelope(project, attestationID string, envelope []byte) []byte {
	sum := sha256.Sum256(envelope)
	return EntryFor(project, attestationID, hex.EncodeToString(sum[:]))
}

// layoutEntryDomain opens every layout entry preimage. It differs from entryDomain, so no layout entry can
// equal an attestation's.
const layoutEntryDomain = "attestd/layout-entry/v1\x00"

// EntryForLayout returns the log entry of a pushed layout: 32 bytes that commit to the project, the layout's
// name and the SHA-256 of the signed layout bytes as pushed:
//
//	SHA-256("attestd/layout-entry/v1" || 0x00 || project || 0x00 || name || 0x00 || contentSHA256Hex)
//
// A name never has the same bytes twice (a superseded layout cannot be pushed again), so each push has its own
// entry; the order of the leaves is the order of the versions. Like EntryFor it panics on a NUL byte in
// project or name, which attestd's name checks rule out.
func EntryForLayout(project, name string, content []byte) []byte {
	if strings.IndexByte(project, 0) >= 0 || strings.IndexByte(name, 0) >= 0 {
		panic(fmt.Sprintf("tlog.EntryForLayout: NUL byte in project %q or layout name %q", project, name))
	}
	sum := sha256.Sum256(content)
	h := sha256.New()
	h.Write([]byte(layoutEntryDomain))
	h.Write([]byte(project))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(hex.EncodeToString(sum[:])))
	return h.Sum(nil)
}
