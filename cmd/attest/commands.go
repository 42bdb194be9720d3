package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// A command is one "attest ..." subcommand.
type command struct {
	name    string // as typed: "token create"
	args    string // the synopsis after the name
	summary string // one line for the command list
	help    string // what it does, in full
	example string
	run     func(e *env, args []string) error
}

// commands returns every command, in the order "attest help" lists them.
func commands() []*command {
	return []*command{
		keygenCommand(),
		projectCreateCommand(), projectListCommand(), projectGetCommand(), projectSetCommand(),
		tokenCreateCommand(), tokenListCommand(), tokenRevokeCommand(),
		keyAddCommand(), keyListCommand(), keyRevokeCommand(), keyShowCommand(),
		layoutNewCommand(), layoutSignCommand(), layoutPushCommand(), layoutListCommand(), layoutGetCommand(),
		policySetCommand(), policyListCommand(), policyDeleteCommand(),
		verifyImageCommand(), verifyFileCommand(), verifyPackageCommand(), verifyVSACommand(), decisionsCommand(),
		bundleExportCommand(),
		runCommand(),
		signCommand(),
		submitCommand(),
		getCommand(), listCommand(), provenanceCommand(), dependentsCommand(), anchorRetryCommand(),
		logPinCommand(), logCheckpointCommand(), logVerifyCommand(), logProofCommand(),
	}
}

// findCommand finds the command named by the first words of args and returns
// it with the arguments that follow its name; nil if there is none.
func findCommand(args []string) (*command, []string) {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):]
		}
	}
	return nil, args
}

// subcommands returns the names of the commands in group ("token"), if any.
func subcommands(group string) []string {
	var out []string
	for _, c := range commands() {
		if g, sub, ok := strings.Cut(c.name, " "); ok && g == group {
			out = append(out, sub)
		}
	}
	return out
}

// unknownCommand explains what was wrong with the command words in args.
func unknownCommand(args []string) error {
	if subs := subcommands(args[0]); len(subs) > 0 {
		if len(args) == 1 {
			return usageError(args[0], "%s needs a subcommand: %s", args[0], strings.Join(subs, ", "))
		}
		return usageError(args[0], "unknown command %q (%s takes %s)", args[0]+" "+args[1], args[0], strings.Join(subs, ", "))
	}
	return usageError("", "unknown command %q", args[0])
}

// cmdHelp is "attest help [COMMAND]".
func cmdHelp(e *env, args []string) error {
	if len(args) == 0 {
		printTopUsage(e.stdout)
		return nil
	}
	if args[0] == "help" && len(args) == 1 {
		printTopUsage(e.stdout)
		return nil
	}
	c, rest := findCommand(args)
	if c == nil {
		if subs := subcommands(args[0]); len(subs) > 0 && len(args) == 1 {
			fmt.Fprintf(e.stdout, "attest %s has these commands:\n", args[0])
			for _, s := range subs {
				sc, _ := findCommand([]string{args[0], s})
				fmt.Fprintf(e.stdout, "  attest %-16s %s\n", sc.name, sc.summary)
			}
			fmt.Fprintf(e.stdout, "\nRun 'attest help %s COMMAND' for a command's flags and an example.\n", args[0])
			return nil
		}
		return unknownCommand(args)
	}
	if len(rest) > 0 {
		return usageError("", "help takes one command, not %q", strings.Join(args, " "))
	}
	e.cmd = c
	return c.run(e, []string{"-h"})
}

func printTopUsage(w io.Writer) {
	fmt.Fprint(w, `attest records, signs and submits in-toto attestations to attestd, and queries them.

Usage: attest COMMAND [flags] [arguments]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  help [COMMAND]\tshow how to use attest or one of its commands\n")
	tw.Flush()
	fmt.Fprint(w, "\n"+globalFlagsHelp+`
Transparency log: every attestation has a leaf in attestd's log. attest checks
the inclusion proofs it is given (submit --wait, run --wait, get, log proof)
against checkpoints signed by the log's key, and remembers the largest
checkpoint it has verified per log: a smaller one (rollback) or one that is not
consistent with it (split view) is refused. Without --log-key or a pinned key,
nothing from the log is verified, and attest says so. State lives in
$ATTEST_CONFIG_DIR (default: the user's config directory + /attest).

Exit codes: 0 success; 1 refused by the server or failed, or a proof or
checkpoint did not verify; 2 usage error or the server could not be reached;
attest run exits with its command's exit code.

Run 'attest help COMMAND' for a command's flags and an example.
`)
}

// printUsage prints the command's usage, its own flags (taken from fs, the
// global flags left out) and its example.
func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: attest %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.help))
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !isGlobalFlag(f.Name) {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		for _, f := range own {
			arg, usage := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if arg != "" && !isBoolFlag(f) {
				line += " " + arg
			}
			fmt.Fprintf(w, "%s\n        %s", line, usage)
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\nGlobal flags: --server, --token, --plaintext, --ca-file, --json, --timeout, --log-key (see 'attest help').\n")
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(c.example), "  "))
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
