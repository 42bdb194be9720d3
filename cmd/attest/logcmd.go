package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/tlog"
)

// This file holds "attest log ...": pinning the log's key, and reading and
// checking the log's checkpoint.

func logPinCommand() *command {
	return &command{
		name: "log pin", args: "--log-key FILE [--force]",
		summary: "trust a transparency log key for this server from now on",
		help: `Pins the transparency log's verifier key for --server, so that later
commands verify the log without --log-key. FILE holds the line that 'attestd
log-key' prints on the server: get it from the log's operator over a channel
you trust, not from the server it is meant to check.

Before pinning, attest checks that the server's current checkpoint is signed
by the key, and remembers that checkpoint (or checks it against the one
remembered for the log).

A pinned key is never replaced silently: a different --log-key for the server
is an error in every command, and pinning another key takes --force (only when
the operator has really changed the log's key). Pins are kept in
$ATTEST_CONFIG_DIR/logs/SERVER/log.pub (default: attest/ in the user's config
directory).`,
		example: "attest log pin --log-key attestd-log.pub --server attestd.example.com:7700",
		run:     cmdLogPin,
	}
}

func cmdLogPin(e *env, args []string) error {
	fs := e.newFlagSet()
	force := fs.Bool("force", false, "replace a different key pinned before for this server")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if e.g.logKey == "" {
		return usageError(e.cmdName(), "--log-key FILE is required (the line 'attestd log-key' prints)")
	}
	key, err := readVerifierKey(e.g.logKey)
	if err != nil {
		return usageError(e.cmdName(), "--log-key: %v", err)
	}
	path, err := e.pinnedKeyPath()
	if err != nil {
		return failed("log pin: %v", err)
	}
	old, err := readVerifierKey(path)
	already := err == nil && old == key
	switch {
	case already, *force, errors.Is(err, os.ErrNotExist):
	case err != nil:
		return failed("log pin: the key pinned for %s: %v (replace it with --force)", e.g.server, err)
	default:
		return &exitError{code: exitFailed,
			err:  fmt.Errorf("log pin: %s is already pinned for %s (in %s), not %s", old, e.g.server, path, key),
			hint: "A pinned key is never replaced silently. If the log's operator really changed its key, run again with --force."}
	}

	c, err := e.client()
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := e.newLogVerifier(c, &logKey{key: key, origin: keyName(key), source: "from --log-key " + e.g.logKey})
	if err != nil {
		return err
	}
	cp, _, err := v.currentCheckpoint()
	if err != nil {
		return labelled("log pin: not pinned", err)
	}
	if !already {
		if err := pinKey(path, key, *force); err != nil {
			return failed("log pin: %v", err)
		}
	}
	if e.g.json {
		return e.printJSON(map[string]any{"server": e.g.server, "key": key, "path": path, "origin": cp.Origin, "treeSize": cp.Size, "alreadyPinned": already})
	}
	if already {
		fmt.Fprintf(e.stdout, "log key %s was already pinned for %s (%s); checkpoint of size %d verified\n", key, e.g.server, path, cp.Size)
		return nil
	}
	fmt.Fprintf(e.stdout, "pinned log key %s for %s in %s; checkpoint of size %d verified\n", key, e.g.server, path, cp.Size)
	return nil
}

// pinKey writes the pin: a new file, or with force a replacement, never half
// a key.
func pinKey(path, key string, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if force {
		return writeFile(path, []byte(key+"\n"), 0o644)
	}
	return writeNewFile(path, []byte(key+"\n"), 0o644, false)
}

func logCheckpointCommand() *command {
	return &command{
		name: "log checkpoint", args: "",
		summary: "print the transparency log's latest checkpoint",
		help: `Prints the log's latest signed checkpoint: its origin, tree size and root
hash (hex). When the log key is known (--log-key, or pinned), the checkpoint is
verified with it and checked against the largest one remembered for the log,
like every checkpoint attest sees; a rollback or split view is refused (exit
1). Without a key, attest warns and prints what the server says. --json adds
the signed checkpoint itself.`,
		example: "attest log checkpoint --json",
		run:     cmdLogCheckpoint,
	}
}

func cmdLogCheckpoint(e *env, args []string) error {
	if _, err := e.parseArgs(e.newFlagSet(), args); err != nil {
		return err
	}
	key, c, err := e.logClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var cp tlog.Checkpoint
	var raw []byte
	if key == nil {
		e.warnNoLogKey()
		ctx, cancel := e.rpcContext()
		resp, err := c.Log.GetCheckpoint(ctx, &attestdv1.GetCheckpointRequest{})
		cancel()
		if err != nil {
			return e.rpcError("get checkpoint", err)
		}
		cp, raw = tlog.Checkpoint{Origin: resp.GetOrigin(), Size: resp.GetTreeSize(), Hash: resp.GetRootHash()}, resp.GetCheckpoint()
	} else {
		v, err := e.newLogVerifier(c, key)
		if err != nil {
			return err
		}
		if cp, raw, err = v.currentCheckpoint(); err != nil {
			return labelled("log checkpoint", err)
		}
	}
	if e.g.json {
		return e.printJSON(map[string]any{"origin": cp.Origin, "treeSize": cp.Size, "rootHash": fmt.Sprintf("%x", cp.Hash),
			"verified": key != nil, "checkpoint": string(raw)})
	}
	verified := "NO (no log key)"
	if key != nil {
		verified = "yes (log key " + key.source + "; consistent with the checkpoints remembered for the log)"
	}
	fmt.Fprintf(e.stdout, "origin:    %s\ntree size: %d\nroot hash: %x\nverified:  %s\n", cp.Origin, cp.Size, cp.Hash, verified)
	return nil
}

func logVerifyCommand() *command {
	return &command{
		name: "log verify", args: "",
		summary: "check that the log still extends the checkpoint remembered for it",
		help: `Fetches the log's latest checkpoint, verifies its signature with the log key,
and checks that it is consistent with the largest checkpoint remembered for
the log on this machine (a consistency proof from the server): prints
"consistent: N -> M" and remembers the new one. The first time, there is
nothing to compare with: the checkpoint is remembered as the reference.

A checkpoint smaller than the remembered one (rollback), or one that the
remembered tree is not a prefix of (split view), is refused loudly, with both
sizes and roots, and the evidence is saved under $ATTEST_CONFIG_DIR/evidence.

Needs the log key (--log-key, or pinned with 'attest log pin'). Exit codes: 0
consistent, 1 refused or not verified, 2 no log key, a usage error, or the
server could not be reached.`,
		example: "attest log verify --log-key attestd-log.pub",
		run:     cmdLogVerify,
	}
}

func cmdLogVerify(e *env, args []string) error {
	if _, err := e.parseArgs(e.newFlagSet(), args); err != nil {
		return err
	}
	key, c, err := e.logClient()
	if err != nil {
		return err
	}
	defer c.Close()
	if key == nil {
		return usageError(e.cmdName(), "no log key for %s: pass --log-key FILE (the line 'attestd log-key' prints) or pin it with 'attest log pin'", e.g.server)
	}
	v, err := e.newLogVerifier(c, key)
	if err != nil {
		return err
	}
	_, prev, err := v.store.Latest(key.key)
	first := errors.Is(err, os.ErrNotExist)
	if err != nil && !first {
		return failed("log verify: %v", err)
	}
	cp, _, err := v.currentCheckpoint()
	if err != nil {
		return labelled("log verify", err)
	}
	if e.g.json {
		out := map[string]any{"origin": cp.Origin, "to": cp.Size, "rootHash": fmt.Sprintf("%x", cp.Hash), "consistent": true}
		if !first {
			out["from"] = prev.Size
		}
		return e.printJSON(out)
	}
	if first {
		fmt.Fprintf(e.stdout, "first checkpoint of log %s remembered: size %d, root %x (nothing to compare with yet)\n", cp.Origin, cp.Size, cp.Hash)
		return nil
	}
	fmt.Fprintf(e.stdout, "consistent: %d -> %d (log %s, root %x)\n", prev.Size, cp.Size, cp.Origin, cp.Hash)
	return nil
}

// currentCheckpoint fetches the log's latest checkpoint, verifies it with the
// log key and passes it through the store, retrying a rollback once as
// verifyLeaf does. It returns the checkpoint and its signed bytes.
func (v *logVerifier) currentCheckpoint() (tlog.Checkpoint, []byte, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := v.e.rpcContext()
		resp, err := v.c.Log.GetCheckpoint(ctx, &attestdv1.GetCheckpointRequest{})
		cancel()
		if err != nil {
			return tlog.Checkpoint{}, nil, v.e.rpcError("get checkpoint", err)
		}
		raw := resp.GetCheckpoint()
		cp, err := tlog.VerifyCheckpoint(raw, v.key.key)
		if err != nil {
			return tlog.Checkpoint{}, nil, &proofError{fmt.Errorf("the server's checkpoint is not signed by the log key %s: %w", v.key.source, err)}
		}
		if resp.GetOrigin() != cp.Origin || resp.GetTreeSize() != cp.Size || !bytes.Equal(resp.GetRootHash(), cp.Hash) {
			return tlog.Checkpoint{}, nil, proofErrorf("the server describes its checkpoint as %q size %d root %x, but the signed checkpoint says %q size %d root %x",
				resp.GetOrigin(), resp.GetTreeSize(), resp.GetRootHash(), cp.Origin, cp.Size, cp.Hash)
		}
		err = v.accept(raw)
		if errors.Is(err, tlog.ErrRollback) && attempt == 0 {
			continue
		}
		return cp, raw, v.refusal(err)
	}
}

// labelled prefixes a verification failure with what was being done; other
// errors (refusals, the server's) say it themselves.
func labelled(what string, err error) error {
	var pe *proofError
	if errors.As(err, &pe) {
		return failed("%s: FAILED: %v", what, pe)
	}
	return err
}
