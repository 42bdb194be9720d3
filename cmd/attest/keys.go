package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
)

// maxKeyFile bounds a key file read from disk; real ones are a few KiB.
const maxKeyFile = 1 << 20

func keygenCommand() *command {
	return &command{
		name: "keygen", args: "--out FILE [--type ed25519|ecdsa-p256|ecdsa-p384] [--force]",
		summary: "make a signing key pair; prints its key id",
		help: `Makes a key pair for signing attestations: the private key in FILE (PKCS#8 PEM,
mode 0600) and the public key in FILE.pub (PKIX PEM), readable by in-toto tools
too. Prints the key id, as attestd and in-toto compute it. Existing files are
not overwritten unless --force is given.

Register the public key with 'attest key add --pub FILE.pub'.`,
		example: "attest keygen --out build.key --type ecdsa-p256",
		run:     cmdKeygen,
	}
}

func cmdKeygen(e *env, args []string) error {
	fs := e.newFlagSet()
	out := fs.String("out", "", "write the private key to `FILE` and the public key to FILE.pub")
	kind := fs.String("type", attestor.KeyEd25519, "key `TYPE`: "+strings.Join(attestor.KeyKinds(), ", "))
	force := fs.Bool("force", false, "overwrite existing key files")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError(e.cmdName(), "--out is required")
	}
	if !slices.Contains(attestor.KeyKinds(), *kind) {
		return usageError(e.cmdName(), "unknown --type %q (want one of %s)", *kind, strings.Join(attestor.KeyKinds(), ", "))
	}
	pubFile := *out + ".pub"
	if !*force {
		for _, f := range []string{*out, pubFile} {
			if _, err := os.Lstat(f); err == nil {
				return failed("keygen: %s exists; use --force to overwrite it", f)
			}
		}
	}
	priv, pub, err := attestor.GenerateKey(*kind)
	if err != nil {
		return failed("keygen: %v", err)
	}
	signer, err := attestor.LoadSigner(priv)
	if err != nil {
		return failed("keygen: %v", err)
	}
	if err := writeNewFile(*out, priv, 0o600, *force); err != nil {
		return failed("keygen: %v", err)
	}
	if err := writeNewFile(pubFile, pub, 0o644, *force); err != nil {
		return failed("keygen: %v", err)
	}
	if e.g.json {
		return e.printJSON(map[string]string{"keyId": signer.KeyID(), "type": *kind, "privateKeyFile": *out, "publicKeyFile": pubFile})
	}
	fmt.Fprintln(e.stdout, signer.KeyID())
	return nil
}

func keyAddCommand() *command {
	return &command{
		name: "key add", args: "[--project P] --pub FILE [--owner] [--expires RFC3339] [--description D]",
		summary: "register a functionary's or a layout owner's public key",
		help: `Registers a public key (PKIX PEM: Ed25519, ECDSA P-256/P-384, or RSA of 2048
bits or more) whose signatures the project accepts. Prints the key id. A
securesystemslib JSON public key, as python in-toto's in-toto-keygen writes
for ed25519 and ecdsa keys, is converted to PEM first.
Signatures by the key are refused from --expires on.

A functionary key signs attestations. With --owner the key is a layout-owner
key instead: it signs the project's layouts (attest layout push), and its
signatures on attestations do not count.`,
		example: `attest key add --project acme --pub build.key.pub --expires 2027-06-30T00:00:00Z --description "CI build"`,
		run:     cmdKeyAdd,
	}
}

func cmdKeyAdd(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	pubFile := fs.String("pub", "", "the public key `FILE` (PEM, or securesystemslib JSON)")
	expires := fs.String("expires", "", "refuse signatures by this key from `TIME` (RFC 3339) on")
	description := fs.String("description", "", "a `DESCRIPTION` for people")
	owner := fs.Bool("owner", false, "register a layout-owner key (signs layouts, not attestations)")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *pubFile == "" {
		return usageError(e.cmdName(), "--pub is required")
	}
	req := &attestdv1.AddKeyRequest{Project: *project, Description: *description, Owner: *owner}
	if *expires != "" {
		t, err := time.Parse(time.RFC3339, *expires)
		if err != nil {
			return usageError(e.cmdName(), "--expires %q is not an RFC 3339 time such as 2027-06-30T00:00:00Z", *expires)
		}
		req.ExpireTime = timestamppb.New(t)
	}
	raw, err := readFile(*pubFile, maxKeyFile)
	if err != nil {
		return failed("key add: %v", err)
	}
	pemBytes, sslibID, err := publicKeyPEM(raw)
	if err != nil {
		return failed("key add: %s: %v", *pubFile, err)
	}
	local, err := attestation.ParsePublicKey(pemBytes)
	if err != nil {
		return failed("key add: %s: %v", *pubFile, err)
	}
	req.PublicKeyPem = string(pemBytes)
	var resp *attestdv1.AddKeyResponse
	err = e.call("add key "+*pubFile, func(ctx context.Context, c *attestor.Client) (err error) {
		resp, err = c.Keys.AddKey(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	if id := resp.GetKey().GetKeyId(); id != local.ID {
		fmt.Fprintf(e.stderr, "attest: warning: the server registered key id %s, but in-toto computes %s for this key\n", id, local.ID)
	}
	if id := resp.GetKey().GetKeyId(); sslibID != "" && id != sslibID {
		fmt.Fprintf(e.stderr, "attest: note: attestd registered key id %s for %s; python in-toto's id for it, %s, "+
			"is accepted as another name of the same key in layouts and signatures\n", id, *pubFile, sslibID)
	}
	return e.printResult(resp, func() error { return e.printf("%s\n", resp.GetKey().GetKeyId()) })
}

func keyListCommand() *command {
	return &command{
		name: "key list", args: "[--project P]",
		summary: "list registered keys",
		help:    "Lists the project's functionary and layout-owner keys (OWNER yes), revoked and\nexpired ones included.",
		example: "attest key list --project acme",
		run: projectRPC("list keys", nil, func(ctx context.Context, c *attestor.Client, project string, _ []string) (*attestdv1.ListKeysResponse, error) {
			return c.Keys.ListKeys(ctx, &attestdv1.ListKeysRequest{Project: project})
		}, printKeys),
	}
}

func printKeys(e *env, resp *attestdv1.ListKeysResponse) error {
	tw := e.table("KEY ID", "SCHEME", "OWNER", "CREATED", "EXPIRES", "REVOKED", "DESCRIPTION")
	for _, k := range resp.GetKeys() {
		owner := "no"
		if k.GetOwner() {
			owner = "yes"
		}
		row(tw, k.GetKeyId(), k.GetScheme(), owner, fmtTime(k.GetCreateTime()), fmtTime(k.GetExpireTime()),
			fmtTime(k.GetRevokeTime()), k.GetDescription())
	}
	return tw.Flush()
}

func keyRevokeCommand() *command {
	return &command{
		name: "key revoke", args: "[--project P] KEYID",
		summary: "revoke a key",
		help:    "Revokes a functionary key: attestations it signs from now on are refused.",
		example: "attest key revoke --project acme 5d4c3b2a...",
		run: projectRPC("revoke key", []string{"KEYID"}, func(ctx context.Context, c *attestor.Client, project string, pos []string) (*attestdv1.RevokeKeyResponse, error) {
			return c.Keys.RevokeKey(ctx, &attestdv1.RevokeKeyRequest{Project: project, KeyId: pos[0]})
		}, func(e *env, resp *attestdv1.RevokeKeyResponse) error {
			return e.printf("revoked key %s\n", resp.GetKey().GetKeyId())
		}),
	}
}

// loadSigner reads a private key file for attest run and attest sign.
func loadSigner(path string) (*attestor.Signer, error) {
	if path == "" {
		return nil, errors.New("no key file")
	}
	b, err := readFile(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	s, err := attestor.LoadSigner(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
