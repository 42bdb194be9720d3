package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/internal/store"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func tsp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func projectPB(p store.Project) *attestdv1.Project {
	out := &attestdv1.Project{Name: p.Name, CreateTime: ts(p.CreatedAt)}
	if p.RekorURL != "" {
		out.Rekor = &attestdv1.RekorSettings{Url: p.RekorURL, PublicKey: p.RekorPublicKey}
	}
	return out
}

func tokenPB(t store.Token, project string) *attestdv1.Token {
	return &attestdv1.Token{
		Id:          t.ID,
		Project:     project,
		Role:        t.Role,
		Steps:       t.Steps,
		Description: t.Description,
		CreateTime:  ts(t.CreatedAt),
		RevokeTime:  tsp(t.RevokedAt),
	}
}

func keyPB(k store.Key, project string) *attestdv1.Key {
	return &attestdv1.Key{
		KeyId:        k.KeyID,
		Project:      project,
		KeyType:      k.KeyType,
		Scheme:       k.Scheme,
		PublicKeyPem: k.PublicPEM,
		Description:  k.Description,
		CreateTime:   ts(k.CreatedAt),
		ExpireTime:   tsp(k.ExpiresAt),
		RevokeTime:   tsp(k.RevokedAt),
		Owner:        k.Owner,
	}
}

func receiptPB(a store.Attestation, project string, created bool) *attestdv1.Receipt {
	r := &attestdv1.Receipt{
		Id:             a.ID,
		Project:        project,
		Step:           a.Step,
		PredicateType:  a.PredicateType,
		IntegratedTime: ts(a.CreatedAt),
		Created:        created,
	}
	if a.LogIndex != nil {
		r.LogIndex = *a.LogIndex
		r.LogEntry = entryFor(project, a)
	}
	return r
}

func artifactPBs(as []store.Artifact) []*attestdv1.ArtifactRef {
	out := make([]*attestdv1.ArtifactRef, 0, len(as))
	for _, a := range as {
		out = append(out, &attestdv1.ArtifactRef{Name: a.Name, Algorithm: a.Algorithm, Digest: a.Digest})
	}
	return out
}

func attestationPB(a store.Attestation, project string, withEnvelope bool) *attestdv1.Attestation {
	out := &attestdv1.Attestation{
		Receipt:       receiptPB(a, project, false),
		PayloadType:   a.PayloadType,
		StatementType: a.StatementType,
		Subjects:      artifactPBs(a.Subjects),
		Materials:     artifactPBs(a.Materials),
		SignerKeyIds:  a.SignerKeyIDs,
		Submitter:     a.SubmitterID,
	}
	if withEnvelope {
		out.Envelope = a.Envelope
	}
	return out
}
