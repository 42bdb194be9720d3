package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// This file holds where attest's trust in a transparency log comes from: the
// log's verifier key, given with --log-key or pinned per server, and the
// config directory that keeps the pins and the remembered checkpoints.
//
// The trust model: a key is trusted because the user gave it (--log-key, or
// once with 'attest log pin'), or, when neither was done, because the server
// named it the first time attest needed it (trust on first use, pinned with a
// loud warning: logtofu.go). A pinned key is never replaced silently: a
// different --log-key for a pinned server is an error, a server that changes
// its key is refused, and only 'attest log pin --force' replaces a pin.

// pinnedKeyFile is the name of a pinned key under <config>/logs/<server>/.
const pinnedKeyFile = "log.pub"

// configRoot is the directory of attest's state: $ATTEST_CONFIG_DIR, or
// attest/ in the user's config directory.
func (g *globals) configRoot() (string, error) {
	if g.configDir != "" {
		return g.configDir, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory for the log's key and checkpoints (set ATTEST_CONFIG_DIR): %w", err)
	}
	return filepath.Join(dir, "attest"), nil
}

// serverDirName turns a server address into one path element: lower case,
// every byte but [a-z0-9.-] replaced by "_", no leading dot
// ("127.0.0.1:7700" -> "127.0.0.1_7700").
func serverDirName(server string) string {
	b := []byte(strings.ToLower(server))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] == '.' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

// pinnedKeyPath is where the key pinned for --server lives.
func (e *env) pinnedKeyPath() (string, error) {
	root, err := e.g.configRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "logs", serverDirName(e.g.server), pinnedKeyFile), nil
}

// A logKey is a verifier key that attest has reason to trust, and why.
type logKey struct {
	key    string // "<origin>+<hash>+<base64>"
	origin string // the key's name: every checkpoint's first line
	source string // for messages: "from --log-key FILE" or "pinned in PATH"
}

// resolveLogKey returns the log key to verify with: --log-key if given, else
// the key pinned for --server; nil if there is neither. A --log-key that
// differs from the pinned key is an error: pins are replaced only by
// 'attest log pin --force'.
func (e *env) resolveLogKey() (*logKey, error) {
	var given *logKey
	if e.g.logKey != "" {
		key, err := readVerifierKey(e.g.logKey)
		if err != nil {
			return nil, usageError(e.cmdName(), "--log-key: %v", err)
		}
		given = &logKey{key: key, origin: keyName(key), source: "from --log-key " + e.g.logKey}
	}
	path, err := e.pinnedKeyPath()
	if err != nil {
		if given != nil {
			return given, nil // nothing can be pinned, so nothing contradicts it
		}
		return nil, nil
	}
	key, err := readVerifierKey(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return given, nil
	case err != nil:
		return nil, failed("the log key pinned for %s: %v (remove it, or replace it with 'attest log pin --force --log-key FILE')", e.g.server, err)
	case given != nil && given.key != key:
		return nil, &exitError{code: exitFailed,
			err: fmt.Errorf("--log-key %s holds %s, but the log key pinned for %s is %s (in %s)", e.g.logKey, given.key, e.g.server, key, path),
			hint: "A pinned key is never replaced silently. If the log's operator really changed its key (check with\n" +
				"'attestd log-key' on the server), replace the pin with 'attest log pin --force --log-key FILE'."}
	case given != nil:
		return given, nil
	}
	return &logKey{key: key, origin: keyName(key), source: "pinned in " + path}, nil
}

// readVerifierKey reads a note verifier key line from a file, as 'attestd
// log-key' prints it.
func readVerifierKey(path string) (string, error) {
	b, err := readFile(path, 4<<10)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if strings.HasPrefix(key, "PRIVATE+KEY+") {
		return "", fmt.Errorf("%s holds the log's private signing key: give the verifier key ('attestd log-key' prints it), and keep the private key on the server", path)
	}
	if _, err := note.NewVerifier(key); err != nil {
		return "", fmt.Errorf("%s is not a log verifier key (the line 'attestd log-key' prints): %v", path, err)
	}
	return key, nil
}

// keyName returns the name of a valid verifier key: the log's origin.
func keyName(key string) string {
	name, _, _ := strings.Cut(key, "+")
	return name
}

// warnNoLogKey says, once per command, that the log is not being verified.
func (e *env) warnNoLogKey() {
	if e.warnedNoKey {
		return
	}
	e.warnedNoKey = true
	fmt.Fprintf(e.stderr, `attest: WARNING: no log key for %s: the transparency log is NOT verified.
attest: WARNING: pass --log-key FILE with the log's verifier key (the line 'attestd log-key' prints
attest: WARNING: on the server; ask its operator), or pin it once with 'attest log pin --log-key FILE'.
`, e.g.server)
}
