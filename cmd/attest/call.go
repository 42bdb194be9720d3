package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/attestd/attestd/attestor"
)

// This file holds what the commands that talk to attestd share: their
// arguments, the call itself and the printing of its answer, so that each
// command states only what is its own.

// projectFlag defines --project, which every command scoped to a project takes.
func projectFlag(fs *flag.FlagSet) *string {
	return fs.String("project", "", "the `PROJECT` (default: the token's own)")
}

// parseArgs parses args with fs, flags anywhere, and checks that exactly the
// named positional arguments were given; it returns them.
func (e *env) parseArgs(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := e.parse(fs, args, true)
	if err != nil {
		return nil, err
	}
	if err := e.positional(pos, names...); err != nil {
		return nil, err
	}
	return pos, nil
}

// positional checks that exactly the named positional arguments were given.
func (e *env) positional(args []string, names ...string) error {
	if len(args) == len(names) {
		return nil
	}
	if len(args) < len(names) {
		return usageError(e.cmdName(), "missing %s", strings.Join(names[len(args):], " "))
	}
	return usageError(e.cmdName(), "unexpected argument %q", args[len(names)])
}

// call connects, runs f with a context bounded by --timeout and turns its
// error into "<what>: <CODE>: <message>".
func (e *env) call(what string, f func(ctx context.Context, c *attestor.Client) error) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := e.rpcContext()
	defer cancel()
	if err := f(ctx, c); err != nil {
		return e.rpcError(what, err)
	}
	return nil
}

// callAndPrint makes the one call f through e.call and prints its answer:
// protojson with --json, else what text prints.
func callAndPrint[R proto.Message](e *env, what string, f func(context.Context, *attestor.Client) (R, error), text func(R) error) error {
	var resp R
	err := e.call(what, func(ctx context.Context, c *attestor.Client) (err error) {
		resp, err = f(ctx, c)
		return err
	})
	if err != nil {
		return err
	}
	return e.printResult(resp, func() error { return text(resp) })
}

// projectRPC is the run of a command scoped to a project that makes one
// call: it takes --project and the named positional arguments, calls f with
// them, and prints the answer as callAndPrint does. The call is named in
// errors by what followed by the positional arguments ("revoke key ID").
func projectRPC[R proto.Message](what string, names []string,
	f func(ctx context.Context, c *attestor.Client, project string, pos []string) (R, error),
	text func(e *env, resp R) error) func(*env, []string) error {
	return func(e *env, args []string) error {
		fs := e.newFlagSet()
		project := projectFlag(fs)
		pos, err := e.parseArgs(fs, args, names...)
		if err != nil {
			return err
		}
		return callAndPrint(e, strings.Join(append([]string{what}, pos...), " "), func(ctx context.Context, c *attestor.Client) (R, error) {
			return f(ctx, c, *project, pos)
		}, func(resp R) error { return text(e, resp) })
	}
}

// printResult prints an API message as protojson with --json, else runs text.
func (e *env) printResult(m proto.Message, text func() error) error {
	if e.g.json {
		return e.printProto(m)
	}
	return text()
}

// printf prints text output. Like the rest of attest's text output, a failed
// write is not an error.
func (e *env) printf(format string, args ...any) error {
	fmt.Fprintf(e.stdout, format, args...)
	return nil
}

// logClient returns the log key to verify with (nil if there is none) and a
// connection, in that order, so that a bad --log-key is reported first. Close
// the client.
func (e *env) logClient() (*logKey, *attestor.Client, error) {
	key, err := e.resolveLogKey()
	if err != nil {
		return nil, nil, err
	}
	c, err := e.client()
	if err != nil {
		return nil, nil, err
	}
	if key == nil {
		if key, err = e.trustOnFirstUse(c); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return key, c, nil
}

// submitClient connects for submitting and, when waiting for the log with a
// key, returns the verifier that checks the receipts (nil otherwise). Close
// the client.
func (e *env) submitClient(key *logKey, wait bool) (*attestor.Client, *logVerifier, error) {
	c, err := e.client()
	if err != nil {
		return nil, nil, err
	}
	if !wait {
		return c, nil, nil
	}
	if key == nil {
		if key, err = e.trustOnFirstUse(c); err != nil || key == nil {
			if err != nil {
				c.Close()
			}
			return c, nil, err
		}
	}
	v, err := e.newLogVerifier(c, key)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, v, nil
}
