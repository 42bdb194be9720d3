package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/internal/tlog"
)

// trustOnFirstUse is what happens when a command would verify the log but has no key for the server: it takes
// the verifier key the server names in GetCheckpoint, checks that the server's checkpoint verifies with it,
// pins it for the server and says so loudly. A key taken from the server proves nothing on its own; pinning it
// makes every later answer prove it comes from the same log, and the warning asks the user to compare it with
// the operator's ('attestd log-key'). It returns nil (and the caller warns that nothing is verified) when the
// server names no key or has no log.
func (e *env) trustOnFirstUse(c *attestor.Client) (*logKey, error) {
	ctx, cancel := e.rpcContext()
	resp, err := c.Log.GetCheckpoint(ctx, &attestdv1.GetCheckpointRequest{})
	cancel()
	if status.Code(err) == codes.Unimplemented {
		return nil, nil // a server without a log
	}
	if err != nil {
		return nil, e.rpcError("get the log's key", err)
	}
	key := resp.GetVerifierKey()
	if key == "" {
		return nil, nil
	}
	if _, err := note.NewVerifier(key); err != nil {
		return nil, failed("the server's log key %q is not a verifier key: %v", key, err)
	}
	if _, err := tlog.VerifyCheckpoint(resp.GetCheckpoint(), key); err != nil {
		return nil, failed("the server's checkpoint does not verify with the key it names: %v", err)
	}
	path, err := e.pinnedKeyPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, failed("pin the log key: %v", err)
	}
	// O_EXCL: a pin written meanwhile by another attest wins, and is then checked like any pin.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if os.IsExist(err) {
			return e.resolveLogKey()
		}
		return nil, failed("pin the log key: %v", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return nil, failed("pin the log key: %v", err)
	}
	if err := f.Close(); err != nil {
		return nil, failed("pin the log key: %v", err)
	}
	fmt.Fprintf(e.stderr, `attest: WARNING: no log key was given for %s: pinned the key the server names (trust on first use):
attest: WARNING:   %s
attest: WARNING: compare it with 'attestd log-key' on the server. Every later answer must verify with it;
attest: WARNING: it is kept in %s.
`, e.g.server, key, path)
	return &logKey{key: key, origin: keyName(key), source: "pinned on first use in " + path}, nil
}
