package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	vsapb "github.com/in-toto/attestation/go/predicates/vsa/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/attestd/attestd/attestation"
)

// vsaPredicateType is the predicate type of a verification summary (SLSA VSA v1).
const vsaPredicateType = "https://slsa.dev/verification_summary/v1"

// maxVSABytes bounds the VSA file attest verify vsa reads.
const maxVSABytes = 4 << 20

func vsaFlag(fs *flag.FlagSet) *string {
	return fs.String("vsa", "", "ask for a verification summary and write it to `FILE` when allowed")
}

func verifyVSACommand() *command {
	return &command{
		name: "verify vsa", args: "--digest sha256:HEX --verifier-key FILE [--name NAME] [--max-age DURATION] VSA",
		summary: "check a verification summary offline",
		help: `Checks a verification summary (VSA) that "attest verify ... --vsa FILE"
wrote, without asking attestd: the DSSE signature is by the verifier key
(the PEM that "attestd verifier-key" prints), the payload is an in-toto
Statement with predicate type ` + vsaPredicateType + `,
a subject has exactly --digest (and the name --name, if given), the result is
PASSED, and timeVerified is not in the future (5 minutes of clock skew allowed), nor older than --max-age when
given (a Go duration: 24h, 90m).

Exit codes: 0 the VSA passes; 1 it does not (the reason is printed);
2 bad arguments, or the VSA or the key could not be read.`,
		example: "attest verify vsa --digest sha256:... --verifier-key verifier.pub --max-age 24h app.vsa.json",
		run:     cmdVerifyVSA,
	}
}

func cmdVerifyVSA(e *env, args []string) error {
	fs := e.newFlagSet()
	digestFlag := fs.String("digest", "", "the artifact's `DIGEST` (sha256:HEX)")
	keyFlag := fs.String("verifier-key", "", "attestd's verifier public key (PEM) in `FILE`")
	nameFlag := fs.String("name", "", "require a subject with this `NAME` too")
	maxAge := fs.Duration("max-age", 0, "refuse a VSA verified longer ago than `DURATION` (0: no limit)")
	pos, err := e.parseArgs(fs, args, "VSA")
	if err != nil {
		return err
	}
	alg, value, err := attestation.ParseDigest(*digestFlag)
	if err != nil || alg != "sha256" {
		return usageError(e.cmdName(), "--digest %q: want sha256:HEX", *digestFlag)
	}
	if *keyFlag == "" {
		return usageError(e.cmdName(), "--verifier-key FILE is required (the PEM that attestd verifier-key prints)")
	}
	if *maxAge < 0 {
		return usageError(e.cmdName(), "--max-age %s is negative", *maxAge)
	}
	pem, err := os.ReadFile(*keyFlag)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("verifier key: %w", err)}
	}
	pub, err := attestation.ParsePublicKey(pem)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("verifier key %s: %w", *keyFlag, err)}
	}
	raw, err := readFileLimited(pos[0], maxVSABytes)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	sum, err := checkVSA(raw, pub, value, *nameFlag, *maxAge, time.Now())
	if err != nil {
		return failed("VSA %s does not pass: %v", pos[0], err)
	}
	e.printf("PASSED: %s %s verified by %s at %s (policy %s)\n", sum.name, "sha256:"+value, sum.verifier,
		sum.timeVerified.UTC().Format(time.RFC3339), sum.policy)
	return nil
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a VSA may have", path, fi.Size(), limit)
	}
	return os.ReadFile(path)
}

// vsaSummary is what a VSA that passed says.
type vsaSummary struct {
	name, verifier, policy string
	timeVerified           time.Time
}

var (
	vsaUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}
	vsaLimits    = attestation.Limits{MaxEnvelopeBytes: maxVSABytes}
)

// checkVSA checks a VSA envelope offline: signed by pub, an in-toto statement with the VSA predicate type, a
// subject with sha256 digest hexDigest (and name, if not empty), result PASSED, timeVerified not after now and,
// with maxAge > 0, not before now-maxAge. A timeVerified up to vsaClockSkew ahead of now is taken as the two
// clocks disagreeing, not as a summary from the future.
// vsaClockSkew is how far ahead of this machine's clock attestd's may be.
const vsaClockSkew = 5 * time.Minute

func checkVSA(raw []byte, pub *attestation.PublicKey, hexDigest, name string, maxAge time.Duration, now time.Time) (*vsaSummary, error) {
	env, err := attestation.ParseEnvelope(raw, vsaLimits)
	if err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if env.Format != attestation.FormatDSSE {
		return nil, errors.New("not a DSSE envelope")
	}
	if _, err := attestation.VerifySignatures(env, []*attestation.PublicKey{pub}); err != nil {
		return nil, fmt.Errorf("no signature verifies with the verifier key %s: %w", pub.ID, err)
	}
	if env.PayloadType != attestation.PayloadType {
		return nil, fmt.Errorf("payload type %q, want %q", env.PayloadType, attestation.PayloadType)
	}
	var stmt intoto.Statement
	if err := vsaUnmarshal.Unmarshal(env.Payload, &stmt); err != nil {
		return nil, fmt.Errorf("the payload is not an in-toto statement: %w", err)
	}
	if stmt.GetType() != intoto.StatementTypeUri {
		return nil, fmt.Errorf("statement type %q, want %q", stmt.GetType(), intoto.StatementTypeUri)
	}
	if stmt.GetPredicateType() != vsaPredicateType {
		return nil, fmt.Errorf("predicate type %q, want %q", stmt.GetPredicateType(), vsaPredicateType)
	}
	var subject *intoto.ResourceDescriptor
	for _, s := range stmt.GetSubject() {
		if strings.EqualFold(s.GetDigest()["sha256"], hexDigest) && (name == "" || s.GetName() == name) {
			subject = s
			break
		}
	}
	if subject == nil {
		if name != "" {
			return nil, fmt.Errorf("no subject is %q with digest sha256:%s", name, hexDigest)
		}
		return nil, fmt.Errorf("no subject has digest sha256:%s", hexDigest)
	}
	predJSON, err := protojson.Marshal(stmt.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	var pred vsapb.VerificationSummary
	if err := vsaUnmarshal.Unmarshal(predJSON, &pred); err != nil {
		return nil, fmt.Errorf("the predicate is not a verification summary: %w", err)
	}
	if r := pred.GetVerificationResult(); r != "PASSED" {
		return nil, fmt.Errorf("verificationResult is %q, not PASSED", r)
	}
	if pred.GetTimeVerified() == nil {
		return nil, errors.New("the summary has no timeVerified")
	}
	if err := pred.GetTimeVerified().CheckValid(); err != nil {
		return nil, fmt.Errorf("timeVerified: %w", err)
	}
	at := pred.GetTimeVerified().AsTime()
	if at.After(now.Add(vsaClockSkew)) {
		return nil, fmt.Errorf("timeVerified %s is in the future (now %s)", at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if maxAge > 0 && now.Sub(at) > maxAge {
		return nil, fmt.Errorf("timeVerified %s is %s old, more than --max-age %s", at.UTC().Format(time.RFC3339),
			now.Sub(at).Round(time.Second), maxAge)
	}
	return &vsaSummary{name: subject.GetName(), verifier: pred.GetVerifier().GetId(), policy: pred.GetPolicy().GetUri(),
		timeVerified: at}, nil
}
