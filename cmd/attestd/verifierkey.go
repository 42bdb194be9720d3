package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/attestd/attestd/attestor"
)

// Names of attestd's verifier key files in the data directory: the Ed25519 key that signs verification
// summaries (VSAs).
const (
	verifierKeyFile = "verifier.key" // PKCS#8 PEM, mode 0600
	verifierPubFile = "verifier.pub" // PKIX PEM, what `attestd verifier-key` prints
)

// loadOrCreateVerifierKey returns the signer of verification summaries, read from <dir>/verifier.key. On first
// use it creates an Ed25519 key there (mode 0600, atomically: two processes starting at once end up with the
// same key) and writes its public key to <dir>/verifier.pub. A key file readable by group or others is an
// error, as is a verifier.pub that does not match verifier.key; a missing verifier.pub is rewritten.
func loadOrCreateVerifierKey(dir string) (*attestor.Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("verifier key directory: %w", err)
	}
	keyPath := filepath.Join(dir, verifierKeyFile)
	if _, err := os.Lstat(keyPath); errors.Is(err, fs.ErrNotExist) {
		priv, _, err := attestor.GenerateKey(attestor.KeyEd25519)
		if err != nil {
			return nil, fmt.Errorf("generate verifier key: %w", err)
		}
		// Another process may win the race; then its key is the one loaded below.
		if err := createExclusive(keyPath, priv, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", keyPath, err)
		}
	}
	fi, err := os.Lstat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("verifier key %s is not a regular file", keyPath)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("verifier key %s has mode %04o: it must not be accessible to group or others (chmod 0600)", keyPath, perm)
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	signer, err := attestor.LoadSigner(raw)
	if err != nil {
		return nil, fmt.Errorf("verifier key %s: %w", keyPath, err)
	}
	pubPath := filepath.Join(dir, verifierPubFile)
	pub, err := os.ReadFile(pubPath)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createExclusive(pubPath, signer.PublicPEM(), 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", pubPath, err)
		}
		pub, err = os.ReadFile(pubPath)
	}
	if err != nil {
		return nil, fmt.Errorf("verifier public key: %w", err)
	}
	if !bytes.Equal(bytes.TrimSpace(pub), bytes.TrimSpace(signer.PublicPEM())) {
		return nil, fmt.Errorf("%s does not match the key in %s: restore the right pair", pubPath, verifierKeyFile)
	}
	return signer, nil
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
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
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

// runVerifierKey prints attestd's verifier public key (PEM), creating the key pair on first use, so that
// operators can hand it to deploy gates (attest verify vsa --verifier-key).
func runVerifierKey(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig("verifier-key", args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd verifier-key:", err)
		return 2
	}
	signer, err := loadOrCreateVerifierKey(cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "attestd verifier-key:", err)
		return 1
	}
	_, _ = stdout.Write(signer.PublicPEM())
	return 0
}
