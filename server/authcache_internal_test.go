package server

import (
	"testing"
	"time"
)

// TestAuthCacheEpoch: an answer read before a clear is not kept (it may predate the change that cleared);
// entries expire after the TTL; the cache stays within its bound; a zero TTL keeps nothing.
func TestAuthCacheEpoch(t *testing.T) {
	c := newAuthCache(time.Hour)
	h := [32]byte{1}
	p := principal{}
	p.token.ID = "t1"
	_, ok, epoch := c.lookup(h)
	if ok {
		t.Fatal("empty cache found a token")
	}
	c.clear() // a change lands while the token is being read
	c.keep(h, p, epoch)
	if _, ok, _ := c.lookup(h); ok {
		t.Error("an answer read before a clear was kept")
	}
	_, _, epoch = c.lookup(h)
	c.keep(h, p, epoch)
	if got, ok, _ := c.lookup(h); !ok || got.token.ID != "t1" {
		t.Errorf("lookup after keep: %v %v", got.token.ID, ok)
	}

	for i := range maxAuthCacheEntries + 10 {
		_, _, epoch := c.lookup([32]byte{2, byte(i), byte(i >> 8)})
		c.keep([32]byte{2, byte(i), byte(i >> 8)}, p, epoch)
		if len(c.entries) > maxAuthCacheEntries {
			t.Fatalf("%d entries, bound %d", len(c.entries), maxAuthCacheEntries)
		}
	}

	short := newAuthCache(time.Millisecond)
	_, _, epoch = short.lookup(h)
	short.keep(h, p, epoch)
	time.Sleep(5 * time.Millisecond)
	if _, ok, _ := short.lookup(h); ok {
		t.Error("an entry outlived its TTL")
	}

	off := newAuthCache(0)
	_, _, epoch = off.lookup(h)
	off.keep(h, p, epoch)
	if _, ok, _ := off.lookup(h); ok {
		t.Error("a zero TTL kept a token")
	}
}
