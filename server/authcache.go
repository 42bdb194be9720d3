package server

import (
	"sync"
	"time"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// maxAuthCacheEntries bounds the tokens an authCache holds; past it the cache starts over. Only tokens that
// authenticated are kept, so unknown secrets cannot fill it.
const maxAuthCacheEntries = 4096

// authCache keeps, for a short time, what the database said of a bearer token that authenticated: its token
// row and its project (with the project's generation, which keys, layouts and policies follow). It saves the
// token query of every request from the same CI runner.
//
// Any change this process makes through the API, other than the calls known to change no token, key,
// layout, policy or project (authChangeFree), empties it before the call returns, so this process never acts
// on what it has itself changed. Another replica's changes, or writes made to the database directly, are
// seen within the TTL (the --auth-cache-ttl flag; zero: no cache).
type authCache struct {
	ttl time.Duration

	mu      sync.Mutex
	epoch   uint64 // counts clears: an answer read before a clear is not kept
	entries map[[32]byte]authEntry
}

type authEntry struct {
	p     principal
	until time.Time // monotonic
}

func newAuthCache(ttl time.Duration) *authCache {
	return &authCache{ttl: ttl, entries: make(map[[32]byte]authEntry)}
}

// lookup returns the principal kept for the token hash h, and the epoch to pass to keep if there is none.
func (c *authCache) lookup(h [32]byte) (principal, bool, uint64) {
	if c == nil || c.ttl <= 0 {
		return principal{}, false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[h]
	if ok && time.Now().Before(e.until) {
		return e.p, true, c.epoch
	}
	if ok {
		delete(c.entries, h)
	}
	return principal{}, false, c.epoch
}

// keep remembers p for h unless the cache was cleared since lookup returned epoch: then p may predate the
// change that cleared it.
func (c *authCache) keep(h [32]byte, p principal, epoch uint64) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if len(c.entries) >= maxAuthCacheEntries {
		clear(c.entries)
	}
	c.entries[h] = authEntry{p: p, until: time.Now().Add(c.ttl)}
}

// clear forgets every token.
func (c *authCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.entries)
}

// authChangeFree are the methods that change no token, key, layout, policy or project: the hot paths of CI
// runners, deployers and readers. After any other method the auth cache is emptied (also when the method
// failed: it may have changed something before it failed), so that a method added later is safe by default.
var authChangeFree = map[string]bool{
	attestdv1.AttestationService_Submit_FullMethodName:      true,
	attestdv1.AttestationService_Get_FullMethodName:         true,
	attestdv1.AttestationService_List_FullMethodName:        true,
	attestdv1.AttestationService_Provenance_FullMethodName:  true,
	attestdv1.AttestationService_Dependents_FullMethodName:  true,
	attestdv1.VerifyService_Verify_FullMethodName:           true,
	attestdv1.VerifyService_ListDecisions_FullMethodName:    true,
	attestdv1.VerifyService_ExportBundle_FullMethodName:     true,
	attestdv1.LogService_GetCheckpoint_FullMethodName:       true,
	attestdv1.LogService_GetInclusionProof_FullMethodName:   true,
	attestdv1.LogService_GetConsistencyProof_FullMethodName: true,
	attestdv1.LogService_GetEntry_FullMethodName:            true,
}
