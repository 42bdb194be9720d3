package tlog

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	signer, vkey, err := LoadOrCreateKey(dir, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != testOrigin || !strings.HasPrefix(vkey, testOrigin+"+") {
		t.Fatalf("key named %q, verifier %q", signer.Name(), vkey)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log.key: %v, %v", fi, err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, PubFile))
	if err != nil || strings.TrimSpace(string(pub)) != vkey {
		t.Fatalf("log.pub = %q, %v; want %q", pub, err, vkey)
	}
	if err := checkKeyPair(signer, vkey); err != nil {
		t.Fatal(err)
	}

	// Loading again gives the same key.
	_, again, err := LoadOrCreateKey(dir, testOrigin)
	if err != nil || again != vkey {
		t.Fatalf("reload: %q, %v; want %q", again, err, vkey)
	}
	// The origin is baked into the key.
	if _, _, err := LoadOrCreateKey(dir, "attestd.test/renamed"); err == nil || !strings.Contains(err.Error(), testOrigin) || !strings.Contains(err.Error(), "attestd.test/renamed") {
		t.Errorf("another origin: %v", err)
	}
	// A missing log.pub is rewritten from log.key; a wrong one is refused.
	os.Remove(filepath.Join(dir, PubFile))
	if _, again, err := LoadOrCreateKey(dir, testOrigin); err != nil || again != vkey {
		t.Errorf("without log.pub: %q, %v", again, err)
	}
	_, otherKey, _ := note.GenerateKey(nil, testOrigin)
	os.WriteFile(filepath.Join(dir, PubFile), []byte(otherKey+"\n"), 0o644)
	if _, _, err := LoadOrCreateKey(dir, testOrigin); err == nil {
		t.Error("a log.pub that does not match log.key was accepted")
	}
	os.WriteFile(filepath.Join(dir, PubFile), []byte(vkey+"\n"), 0o644)
	// A private key others can read is refused.
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	if _, _, err := LoadOrCreateKey(dir, testOrigin); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("log.key with mode 0644: %v", err)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o600)

	for _, bad := range []string{"", "has space", "has+plus", "tab\there", "nul\x00"} {
		if _, _, err := LoadOrCreateKey(t.TempDir(), bad); err == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
	garbage := t.TempDir()
	os.WriteFile(filepath.Join(garbage, KeyFile), []byte("PRIVATE+KEY+nonsense\n"), 0o600)
	if _, _, err := LoadOrCreateKey(garbage, testOrigin); err == nil {
		t.Error("a malformed log.key was accepted")
	}
}

// TestLoadOrCreateKeyRace: processes starting at once all end up with the same key.
func TestLoadOrCreateKeyRace(t *testing.T) {
	dir := t.TempDir()
	keys := make([]string, 16)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			_, v, err := LoadOrCreateKey(dir, testOrigin)
			if err != nil {
				t.Error(err)
			}
			keys[i] = v
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] {
			t.Fatalf("concurrent first use produced different keys: %q", keys)
		}
	}
}
