package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestVerifierKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"verifier-key", "--data-dir", dir}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("printed %q", out.String())
	}
	fi, err := os.Stat(filepath.Join(dir, verifierKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("verifier.key: %v %v", fi, err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, verifierPubFile))
	if err != nil || string(pub) != out.String() {
		t.Fatalf("verifier.pub %q, printed %q (%v)", pub, out.String(), err)
	}

	// Started again, or by several at once: the same key.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := loadOrCreateVerifierKey(dir)
			if err != nil || string(s.PublicPEM()) != string(pub) {
				t.Errorf("again: %v", err)
			}
		})
	}
	wg.Wait()
	// A race on a fresh directory ends with one key.
	fresh := filepath.Join(t.TempDir(), "fresh")
	keys := make([]string, 4)
	for i := range keys {
		wg.Go(func() {
			s, err := loadOrCreateVerifierKey(fresh)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = s.KeyID()
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] {
			t.Fatalf("racing starts made different keys: %v", keys)
		}
	}

	// A missing verifier.pub is rewritten; a wrong one is refused; so is a key readable by others.
	os.Remove(filepath.Join(dir, verifierPubFile))
	if _, err := loadOrCreateVerifierKey(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, verifierPubFile), []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAUi6iHkkujwdfBOc+D6KSHpeuUzAIzSmkVC6xN9mvEZs=\n-----END PUBLIC KEY-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateVerifierKey(dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched verifier.pub: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, verifierKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateVerifierKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 0600") {
		t.Fatalf("key readable by others: %v", err)
	}
}
