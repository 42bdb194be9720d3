package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	vsapb "github.com/in-toto/attestation/go/predicates/vsa/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/verifier"
)

// VSAPredicateType is the predicate type of the verification summaries Verify issues.
const VSAPredicateType = "https://slsa.dev/verification_summary/v1"

// VSAVerifierID is verifier.id in the summaries attestd issues.
const VSAVerifierID = "attestd"

// A VSASigner signs verification summaries with attestd's verifier key (attestor.Signer is one).
type VSASigner interface {
	KeyID() string
	Sign(ctx context.Context, payloadType string, payload []byte) ([]byte, error)
	PublicPEM() []byte
}

// vsaInput is what a verification summary says about one allowed decision.
type vsaInput struct {
	project       string
	kind, name    string
	alg, value    string
	policy        string
	layout        string
	layoutVersion int64
	layoutContent []byte
	attestations  []string
	decidedAt     time.Time
	requester     string
}

// buildVSA returns the in-toto Statement v1 (protojson) whose subject is the artifact and whose predicate is
// the SLSA verification summary of an allowed decision.
func buildVSA(in vsaInput) ([]byte, error) {
	resource := in.name
	if in.kind == "image" {
		resource = in.name + "@" + in.alg + ":" + in.value
	}
	layoutSum := sha256.Sum256(in.layoutContent)
	pred := &vsapb.VerificationSummary{
		Verifier:     &vsapb.VerificationSummary_Verifier{Id: VSAVerifierID},
		TimeVerified: timestamppb.New(in.decidedAt),
		ResourceUri:  resource,
		Policy: &vsapb.VerificationSummary_Policy{
			Uri:    fmt.Sprintf("attestd:policy/%s/%s?layout=%s&version=%d", in.project, in.policy, in.layout, in.layoutVersion),
			Digest: map[string]string{"sha256": hex.EncodeToString(layoutSum[:])},
		},
		VerificationResult: "PASSED",
	}
	ids := slices.Clone(in.attestations)
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		pred.InputAttestations = append(pred.InputAttestations, &vsapb.VerificationSummary_InputAttestation{
			Uri: "attestd:attestation/" + id, Digest: map[string]string{"sha256": id}})
	}
	raw, err := protojson.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("encode VSA predicate: %w", err)
	}
	st := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("encode VSA predicate: %w", err)
	}
	stmt := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: in.name, Digest: map[string]string{in.alg: in.value}}},
		PredicateType: VSAPredicateType,
		Predicate:     st,
	}
	if err := stmt.Validate(); err != nil {
		return nil, fmt.Errorf("VSA statement: %w", err)
	}
	return protojson.Marshal(stmt)
}

// issueVSA signs the summary of an allowed decision with the verifier key and records it like a submitted
// attestation (leaf first, row second), in the project of the decision, signed by the verifier key's id. The
// verifier key need not be registered in the project: this path is the server's own and Submit never reaches it.
func (s *Server) issueVSA(ctx context.Context, proj store.Project, in vsaInput, resp *attestdv1.VerifyResponse) (*attestdv1.VerifyResponse, error) {
	if s.vsa == nil {
		return nil, fmt.Errorf("%w: this attestd has no verifier key, so it cannot issue verification summaries", errFailedPrecondition)
	}
	in.project = proj.Name
	payload, err := buildVSA(in)
	if err != nil {
		return nil, err
	}
	raw, err := s.vsa.Sign(ctx, attestation.PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign VSA: %w", err)
	}
	stored, created, err := s.recordServerSigned(ctx, proj, raw, in.requester)
	if err != nil {
		return nil, err
	}
	resp.Vsa = raw
	resp.VsaReceipt = receiptPB(stored, proj.Name, created)
	s.logger.InfoContext(ctx, "verification summary issued", "project", proj.Name, "id", stored.ID,
		"log_index", *stored.LogIndex, "decision", resp.GetDecision().GetId())
	return resp, nil
}

// recordServerSigned stores an envelope that attestd signed itself with its verifier key. It checks the
// signature against that key (not the project's keys) and then takes record()'s path.
func (s *Server) recordServerSigned(ctx context.Context, proj store.Project, raw []byte, submitter string) (store.Attestation, bool, error) {
	env, err := attestation.ParseEnvelope(raw, s.limits)
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("own VSA envelope: %w", err)
	}
	pub, err := attestation.ParsePublicKey(s.vsa.PublicPEM())
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("verifier key: %w", err)
	}
	signers, err := attestation.VerifySignatures(env, []*attestation.PublicKey{pub})
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("own VSA envelope does not verify with the verifier key: %w", err)
	}
	stmt, err := attestation.ParseStatement(env.Payload, s.limits)
	if err != nil {
		return store.Attestation{}, false, fmt.Errorf("own VSA statement: %w", err)
	}
	sum := sha256.Sum256(raw)
	a := store.Attestation{
		ProjectID:     proj.ID,
		ID:            hex.EncodeToString(sum[:]),
		Envelope:      raw,
		PayloadType:   payloadType(env),
		StatementType: stmt.Type,
		PredicateType: stmt.PredicateType,
		Step:          stmt.Step,
		Subjects:      artifacts(stmt.Subjects),
		Materials:     artifacts(stmt.Materials),
		SignerKeyIDs:  signers,
		SubmitterID:   submitter,
	}
	if !strings.EqualFold(a.PredicateType, VSAPredicateType) {
		return store.Attestation{}, false, fmt.Errorf("own VSA has predicate type %q", a.PredicateType)
	}
	return s.record(ctx, proj.Name, a)
}

// usedAttestations lists the attestations that met the steps' thresholds.
func usedAttestations(steps []verifier.StepResult) []string {
	var ids []string
	for _, st := range steps {
		ids = append(ids, st.Used...)
	}
	return ids
}
