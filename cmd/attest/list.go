package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
)

// maxListPage is the largest page List returns (the server caps page_size there).
const maxListPage = 1000

func listCommand() *command {
	return &command{
		name: "list",
		args: "[--project P] [--subject ALG:HEX] [--material ALG:HEX] [--step S] [--predicate-type T] " +
			"[--signer KEY_ID] [--submitter TOKEN_ID] [--since TIME] [--until TIME] [--limit N] [--page-token T] [--envelopes]",
		summary: "list attestations by any filter, newest first, a page at a time",
		help: `Lists the project's attestations that match every given filter, newest
first, one page at a time: a subject or material digest, the step, the
predicate type, a signer's key id, the submitter's token id (the ID column
of 'attest token list'), and the integrated time in [--since, --until).
Filters match exactly; none is a pattern.

TIME is RFC 3339 (2026-11-26T10:00:00Z) or a duration meaning that long
ago (24h, 90m). When more attestations follow the page, attest says so on
stderr with the --page-token that continues the listing. Nothing is
verified against the transparency log: 'attest get' does that for one
digest.

With --json, prints the API's ListResponse (protojson), nextPageToken
included; --envelopes puts the envelopes in it.`,
		example: "attest list --submitter 88fd4b8e1ad94721 --since 24h --step build",
		run:     cmdList,
	}
}

func cmdList(e *env, args []string) error {
	fs := e.newFlagSet()
	project := projectFlag(fs)
	subject := fs.String("subject", "", "only attestations with a subject of `DIGEST` (ALG:HEX)")
	material := fs.String("material", "", "only attestations with a material of `DIGEST` (ALG:HEX)")
	step := fs.String("step", "", "only attestations of `STEP`")
	predicate := fs.String("predicate-type", "", "only attestations of predicate `TYPE`")
	signer := fs.String("signer", "", "only attestations signed by `KEY_ID`")
	submitter := fs.String("submitter", "", "only attestations submitted with the token `TOKEN_ID`")
	since := fs.String("since", "", "only attestations integrated at or after `TIME` (RFC 3339, or a duration ago)")
	until := fs.String("until", "", "only attestations integrated before `TIME` (RFC 3339, or a duration ago)")
	limit := fs.Int("limit", 100, "at most `N` attestations in the page (at most 1000)")
	pageToken := fs.String("page-token", "", "continue a listing from the `TOKEN` that the previous page gave")
	envelopes := fs.Bool("envelopes", false, "with --json, include the envelopes")
	if _, err := e.parseArgs(fs, args); err != nil {
		return err
	}
	req := &attestdv1.ListRequest{Project: *project, SubjectDigest: *subject, MaterialDigest: *material,
		Step: *step, PredicateType: *predicate, SignerKeyId: *signer, Submitter: *submitter,
		PageToken: *pageToken, OmitEnvelopes: !(*envelopes && e.g.json)}
	for _, d := range []struct{ flag, value string }{{"subject", *subject}, {"material", *material}} {
		if d.value == "" {
			continue
		}
		if _, _, err := attestation.ParseDigest(d.value); err != nil {
			return usageError(e.cmdName(), "--%s: %v", d.flag, err)
		}
	}
	if *limit < 1 || *limit > maxListPage {
		return usageError(e.cmdName(), "--limit must be from 1 to %d", maxListPage)
	}
	req.PageSize = int32(*limit)
	now := time.Now()
	var err error
	if req.Since, err = timeFlag(*since, now); err != nil {
		return usageError(e.cmdName(), "--since: %v", err)
	}
	if req.Until, err = timeFlag(*until, now); err != nil {
		return usageError(e.cmdName(), "--until: %v", err)
	}
	return callAndPrint(e, "list attestations", func(ctx context.Context, c *attestor.Client) (*attestdv1.ListResponse, error) {
		return c.Attestations.List(ctx, req)
	}, func(resp *attestdv1.ListResponse) error {
		if len(resp.GetAttestations()) == 0 {
			fmt.Fprintln(e.stderr, "attest: no attestations match")
		} else if err := e.printList(resp.GetAttestations()); err != nil {
			return err
		}
		if t := resp.GetNextPageToken(); t != "" {
			fmt.Fprintf(e.stderr, "attest: more may follow: add --page-token %s\n", t)
		}
		return nil
	})
}

// printList prints the table of a page of attestations.
func (e *env) printList(all []*attestdv1.Attestation) error {
	tw := e.table("INTEGRATED", "STEP", "TYPE", "SIGNERS", "SUBMITTER", "ID", "LOG INDEX")
	for _, a := range all {
		r := a.GetReceipt()
		kind := r.GetPredicateType()
		if kind == "" {
			kind = a.GetStatementType()
		}
		var signers []string
		for _, id := range a.GetSignerKeyIds() {
			signers = append(signers, shortID(id))
		}
		row(tw, fmtTime(r.GetIntegratedTime()), r.GetStep(), kind, strings.Join(signers, ","), a.GetSubmitter(),
			r.GetId(), strconv.FormatUint(r.GetLogIndex(), 10))
	}
	return tw.Flush()
}

// timeFlag parses a time flag: RFC 3339, or a positive duration meaning that long before now. "" is no time.
func timeFlag(v string, now time.Time) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return timestamppb.New(t), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T10:00:00Z) nor a positive duration (24h)", v)
	}
	return timestamppb.New(now.Add(-d)), nil
}

// shortID is the first 12 characters of an id or key id, as tables show them.
func shortID(id string) string { return id[:min(12, len(id))] }
