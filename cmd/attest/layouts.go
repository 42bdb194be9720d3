package main

import (
	"context"
	"fmt"
	"strings"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestor"
)

// maxLayoutFile is the largest signed layout attestd accepts; a larger file is refused before it is sent.
const maxLayoutFile = 1 << 20

func layoutPushCommand() *command {
	return &command{
		name: "layout push", args: "[--project P] --name NAME FILE",
		summary: "push a signed in-toto layout as the next version of NAME",
		help: `Pushes FILE, an in-toto layout signed by a layout-owner key of the project (a
classic metablock as in-toto writes it, or a DSSE envelope), as the next
version of the layout NAME; the server numbers the versions 1, 2, ... and the
newest is the active one. Prints the version.

attestd refuses a layout that no valid owner key signed (register owner keys
with 'attest key add --owner'), an expired one, one with inspections (attestd
never runs commands), thresholds below 1, empty or malformed rules, unknown
fields, and step keys missing from "keys". Bytes that NAME had before are
refused: a superseded layout cannot become active again.`,
		example: "attest layout push --project acme --name release release.layout",
		run:     cmdLayoutPush,
	}
}

func cmdLayoutPush(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	name := fs.String("name", "", "the layout's `NAME` in the project")
	pos, err := e.parseArgs(fs, args, "FILE")
	if err != nil {
		return err
	}
	if *name == "" {
		return usageError(e.cmdName(), "--name is required")
	}
	content, err := readFile(pos[0], maxLayoutFile)
	if err != nil {
		return failed("layout push: %v", err)
	}
	req := &attestdv1.PushLayoutRequest{Project: *project, Name: *name, Content: content}
	return callAndPrint(e, "push layout "+pos[0], func(ctx context.Context, c *attestor.Client) (*attestdv1.PushLayoutResponse, error) {
		return c.Layouts.PushLayout(ctx, req)
	}, func(resp *attestdv1.PushLayoutResponse) error {
		l := resp.GetLayout()
		return e.printf("pushed layout %s version %d (id %s), signed by %s, expires %s, log index %s\n", l.GetName(),
			l.GetVersion(), l.GetId(), strings.Join(l.GetSignerKeyIds(), ", "), fmtTime(l.GetExpireTime()), layoutLogIndex(l))
	})
}

func layoutListCommand() *command {
	return &command{
		name: "layout list", args: "[--project P] [--name NAME]",
		summary: "show the history of the project's layouts",
		help: `Lists every version of the project's layouts (or of the layout NAME), by name
and newest version first; the newest version of a name is the active one.`,
		example: "attest layout list --project acme --name release",
		run:     cmdLayoutList,
	}
}

func cmdLayoutList(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	name := fs.String("name", "", "only the layout `NAME`")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	req := &attestdv1.ListLayoutsRequest{Project: *project, Name: *name}
	return callAndPrint(e, "list layouts", func(ctx context.Context, c *attestor.Client) (*attestdv1.ListLayoutsResponse, error) {
		return c.Layouts.ListLayouts(ctx, req)
	}, func(resp *attestdv1.ListLayoutsResponse) error { return printLayouts(e, resp) })
}

func printLayouts(e *env, resp *attestdv1.ListLayoutsResponse) error {
	tw := e.table("NAME", "VERSION", "ACTIVE", "ID", "PUSHED", "EXPIRES", "LOG INDEX", "SIGNED BY")
	seen := map[string]bool{}
	for _, l := range resp.GetLayouts() {
		active := "no"
		if !seen[l.GetName()] { // newest version first
			active = "yes"
			seen[l.GetName()] = true
		}
		row(tw, l.GetName(), fmt.Sprint(l.GetVersion()), active, l.GetId(), fmtTime(l.GetCreateTime()),
			fmtTime(l.GetExpireTime()), layoutLogIndex(l), strings.Join(l.GetSignerKeyIds(), ","))
	}
	return tw.Flush()
}

// layoutLogIndex is the index of the layout push's leaf, or "-" for a push from before pushes were logged.
func layoutLogIndex(l *attestdv1.Layout) string {
	if l.LogIndex == nil {
		return "-"
	}
	return fmt.Sprint(l.GetLogIndex())
}

func layoutGetCommand() *command {
	return &command{
		name: "layout get", args: "[--project P] --name NAME [--version N] [--out FILE]",
		summary: "fetch a signed layout as it was pushed",
		help: `Fetches one version of the layout NAME (default: the active one, the newest)
exactly as it was pushed, signatures included, and writes it to FILE, or to
standard output without --out. With --json, prints the layout's record with
the bytes in base64 instead.`,
		example: "attest layout get --project acme --name release --version 3 --out release.v3.layout",
		run:     cmdLayoutGet,
	}
}

func cmdLayoutGet(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	name := fs.String("name", "", "the layout `NAME`")
	version := fs.Int64("version", 0, "the `VERSION` to fetch (0: the active one)")
	out := fs.String("out", "", "write the signed layout to `FILE`")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError(e.cmdName(), "--name is required")
	}
	if *version < 0 {
		return usageError(e.cmdName(), "--version %d: want 1 or more, or 0 for the active version", *version)
	}
	req := &attestdv1.GetLayoutRequest{Project: *project, Name: *name, Version: *version}
	var resp *attestdv1.GetLayoutResponse
	err := e.call("get layout "+*name, func(ctx context.Context, c *attestor.Client) (err error) {
		resp, err = c.Layouts.GetLayout(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	l := resp.GetLayout()
	if *out != "" {
		if err := writeFile(*out, l.GetContent(), 0o644); err != nil {
			return failed("layout get: %v", err)
		}
	}
	return e.printResult(resp, func() error {
		if *out == "" {
			_, _ = e.stdout.Write(l.GetContent())
			return nil
		}
		return e.printf("wrote layout %s version %d (id %s) to %s\n", l.GetName(), l.GetVersion(), l.GetId(), *out)
	})
}
