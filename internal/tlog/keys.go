package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Names of the key files in the key directory.
const (
	KeyFile = "log.key" // note signer key "PRIVATE+KEY+<origin>+<hash>+<base64>", mode 0600
	PubFile = "log.pub" // note verifier key "<origin>+<hash>+<base64>", what `attestd log-key` prints
)

// LoadOrCreateKey returns the log's Ed25519 note signer and its verifier key line, read from <dir>/log.key and
// <dir>/log.pub. On first use it creates both with note.GenerateKey for origin (log.key with mode 0600; the
// creation is atomic, so two processes starting at once end up with the same key).
//
// The origin is part of the key (it is the key's name and every checkpoint's first line): a stored key with
// another name is an error, as is a log.key readable by group or others, or a log.pub that does not match
// log.key. A missing log.pub is rewritten from log.key.
func LoadOrCreateKey(dir, origin string) (note.Signer, string, error) {
	if !validOrigin(origin) {
		return nil, "", fmt.Errorf("log origin %q: must be non-empty, without spaces or '+'", origin)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("log key directory: %w", err)
	}
	keyPath := filepath.Join(dir, KeyFile)
	if _, err := os.Lstat(keyPath); errors.Is(err, fs.ErrNotExist) {
		skey, _, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return nil, "", fmt.Errorf("generate log key: %w", err)
		}
		// Another process may win the race; then its key is the one we load below.
		if err := createExclusive(keyPath, []byte(skey+"\n"), 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, "", fmt.Errorf("create %s: %w", keyPath, err)
		}
	}
	signer, vkey, err := loadKey(keyPath, origin)
	if err != nil {
		return nil, "", err
	}
	if err := checkOrWritePub(filepath.Join(dir, PubFile), vkey); err != nil {
		return nil, "", err
	}
	return signer, vkey, nil
}

func loadKey(keyPath, origin string) (note.Signer, string, error) {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, "", fmt.Errorf("log key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("log key %s is not a regular file", keyPath)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, "", fmt.Errorf("log key %s has mode %04o: it must not be accessible to group or others (chmod 0600)", keyPath, perm)
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, "", fmt.Errorf("log key: %w", err)
	}
	skey := strings.TrimSpace(string(raw))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("log key %s: %w", keyPath, err)
	}
	if signer.Name() != origin {
		return nil, "", fmt.Errorf("log key %s is for origin %q, not %q: the origin is baked into the key and into every checkpoint of the log, so either keep origin %q or start a new log (new key directory and log directory)",
			keyPath, signer.Name(), origin, signer.Name())
	}
	vkey, err := verifierKeyFor(skey)
	if err != nil {
		return nil, "", fmt.Errorf("log key %s: %w", keyPath, err)
	}
	if err := checkKeyPair(signer, vkey); err != nil {
		return nil, "", fmt.Errorf("log key %s: %w", keyPath, err)
	}
	return signer, vkey, nil
}

// verifierKeyFor derives the verifier key line from a note signer key "PRIVATE+KEY+<name>+<hash>+<base64>",
// whose base64 part is the algorithm byte (1: Ed25519) followed by the 32-byte seed.
func verifierKeyFor(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return "", errors.New("malformed signer key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return "", errors.New("signer key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// checkKeyPair signs a probe with signer and verifies it with vkey, so that a Log never publishes checkpoints
// that its own verifier key rejects.
func checkKeyPair(signer note.Signer, vkey string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("verifier key: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: "attestd key check\n"}, signer)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		return fmt.Errorf("signer and verifier key %q do not match: %w", vkey, err)
	}
	return nil
}

// verifierFor returns the verifier of signer's checkpoints: the verifier key vkey, checked against signer; or,
// with no vkey, a verifier that signs again and compares. Note keys are Ed25519, whose signatures are
// deterministic (RFC 8032), so that verifier accepts exactly the signatures this signer makes and nothing else;
// a non-deterministic signer fails closed (every checkpoint is refused, so Open fails).
func verifierFor(signer note.Signer, vkey string) (note.Verifier, error) {
	if vkey == "" {
		return resignVerifier{signer}, nil
	}
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	if err := checkKeyPair(signer, strings.TrimSpace(vkey)); err != nil {
		return nil, err
	}
	return v, nil
}

type resignVerifier struct{ s note.Signer }

func (v resignVerifier) Name() string    { return v.s.Name() }
func (v resignVerifier) KeyHash() uint32 { return v.s.KeyHash() }
func (v resignVerifier) Verify(msg, sig []byte) bool {
	again, err := v.s.Sign(msg)
	return err == nil && len(sig) > 0 && subtle.ConstantTimeCompare(again, sig) == 1
}

func checkOrWritePub(pubPath, vkey string) error {
	raw, err := os.ReadFile(pubPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createExclusive(pubPath, []byte(vkey+"\n"), 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", pubPath, err)
		}
		return checkOrWritePub(pubPath, vkey)
	case err != nil:
		return fmt.Errorf("log verifier key: %w", err)
	case strings.TrimSpace(string(raw)) != vkey:
		return fmt.Errorf("%s (%q) does not match the key in %s (%q): restore the right pair", pubPath, strings.TrimSpace(string(raw)), KeyFile, vkey)
	}
	return nil
}

// createExclusive writes data to a new file at path, atomically: a temporary file is written and synced, then
// hard-linked into place, which fails with fs.ErrExist if path exists. The directory is synced afterwards.
func createExclusive(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeSyncClose(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func writeSyncClose(f *os.File, data []byte, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// validOrigin reports whether origin can name a note key (and so a log): non-empty, valid UTF-8, without
// spaces, control characters or '+'. note.GenerateKey does not check this itself.
func validOrigin(origin string) bool {
	return origin != "" && utf8.ValidString(origin) && !strings.Contains(origin, "+") &&
		strings.IndexFunc(origin, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}
