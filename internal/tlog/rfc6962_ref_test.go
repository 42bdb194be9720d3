package tlog

// An independent RFC 6962 / RFC 9162 implementation, written from the RFC text and used only by the tests, so
// that the log's roots and proofs are checked by code that shares nothing with transparency-dev/merkle or
// Tessera: MTH, PATH and PROOF from RFC 6962 section 2.1, the verification algorithms from RFC 9162 sections
// 2.1.3.2 and 2.1.4.2.

import (
	"bytes"
	"crypto/sha256"
)

func refLeafHash(entry []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(entry)
	return h.Sum(nil)
}

func refNodeHash(left, right []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(left)
	h.Write(right)
	return h.Sum(nil)
}

// refSplit returns k, the largest power of two smaller than n (n > 1).
func refSplit(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

// refMTH is MTH(D[n]) over leaf hashes.
func refMTH(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	default:
		k := refSplit(n)
		return refNodeHash(refMTH(leaves[:k]), refMTH(leaves[k:]))
	}
}

// refPath is PATH(m, D[n]), the audit path of leaf m.
func refPath(m int, leaves [][]byte) [][]byte {
	n := len(leaves)
	if n <= 1 {
		return nil
	}
	k := refSplit(n)
	if m < k {
		return append(refPath(m, leaves[:k]), refMTH(leaves[k:]))
	}
	return append(refPath(m-k, leaves[k:]), refMTH(leaves[:k]))
}

// refProof is PROOF(m, D[n]), the consistency proof from size m.
func refProof(m int, leaves [][]byte) [][]byte {
	return refSubproof(m, leaves, true)
}

func refSubproof(m int, leaves [][]byte, b bool) [][]byte {
	n := len(leaves)
	if m == n {
		if b {
			return nil
		}
		return [][]byte{refMTH(leaves)}
	}
	k := refSplit(n)
	if m <= k {
		return append(refSubproof(m, leaves[:k], b), refMTH(leaves[k:]))
	}
	return append(refSubproof(m-k, leaves[k:], false), refMTH(leaves[:k]))
}

// refVerifyInclusion is RFC 9162 section 2.1.3.2.
func refVerifyInclusion(index, size uint64, leafHash []byte, path [][]byte, root []byte) bool {
	if index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leafHash
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = refNodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = refNodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && bytes.Equal(r, root)
}

// refVerifyConsistency is RFC 9162 section 2.1.4.2, for 0 < first < second.
func refVerifyConsistency(first, second uint64, firstHash, secondHash []byte, path [][]byte) bool {
	if first == 0 || first >= second || len(path) == 0 {
		return false
	}
	if first&(first-1) == 0 {
		path = append([][]byte{firstHash}, path...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			fr = refNodeHash(c, fr)
			sr = refNodeHash(c, sr)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			sr = refNodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	return bytes.Equal(fr, firstHash) && bytes.Equal(sr, secondHash) && sn == 0
}
