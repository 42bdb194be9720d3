package dump

import (
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/store"
)

// Kinds of records, in the order in which they appear in an export (project, token, key, layout and policy
// records come in one block per project; see the package documentation).
const (
	KindBootstrap   = "bootstrap"
	KindProject     = "project"
	KindToken       = "token"
	KindKey         = "key"
	KindLayout      = "layout"
	KindPolicy      = "policy"
	KindDecision    = "decision"
	KindAttestation = "attestation"
	KindOrphan      = "orphan"
	KindWatermark   = "watermark"
)

// Kinds lists every kind of record, in export order.
var Kinds = []string{KindBootstrap, KindProject, KindToken, KindKey, KindLayout, KindPolicy, KindDecision,
	KindAttestation, KindOrphan, KindWatermark}

// Record is one line of an export: Kind, and the field of that kind. Rows refer to their project by name,
// never by a database id, so that a record means the same in every database; ids that a database assigns
// (project ids, decision ids, attestation seqs) are not exported and are assigned afresh by the target, in
// the same order.
type Record struct {
	Kind        string       `json:"kind"`
	Bootstrap   *Bootstrap   `json:"bootstrap,omitempty"`
	Project     *Project     `json:"project,omitempty"`
	Token       *Token       `json:"token,omitempty"`
	Key         *Key         `json:"key,omitempty"`
	Layout      *Layout      `json:"layout,omitempty"`
	Policy      *Policy      `json:"policy,omitempty"`
	Decision    *Decision    `json:"decision,omitempty"`
	Attestation *Attestation `json:"attestation,omitempty"`
	Orphan      *Orphan      `json:"orphan,omitempty"`
	Watermark   *Watermark   `json:"watermark,omitempty"`
}

// Bootstrap names the token that the database's one bootstrap stored (store.Store.Bootstrap): the target is
// bootstrapped with that token, so that attestd serve does not make another.
type Bootstrap struct {
	TokenID string `json:"token_id"`
}

// Project is a tenant, with its Rekor settings (none if RekorURL is empty). The target gets the settings only
// after the attestations (see Importer), so that it records no anchor that the export does not have.
type Project struct {
	Name           string    `json:"name"`
	CreatedAt      time.Time `json:"created_at"`
	RekorURL       string    `json:"rekor_url,omitempty"`
	RekorPublicKey []byte    `json:"rekor_public_key,omitempty"`
}

// Token is a bearer token as stored (the sha256 of its secret); Project is empty for server-admin tokens.
type Token struct {
	ID          string     `json:"id"`
	Hash        []byte     `json:"hash"`
	Project     string     `json:"project,omitempty"`
	Role        string     `json:"role"`
	Steps       []string   `json:"steps,omitempty"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Key is a registered public key.
type Key struct {
	Project     string     `json:"project"`
	KeyID       string     `json:"key_id"`
	KeyType     string     `json:"key_type"`
	Scheme      string     `json:"scheme"`
	PublicPEM   string     `json:"public_pem"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	Owner       bool       `json:"owner,omitempty"`
}

// Layout is one version of a named layout, its signed bytes verbatim. The versions of a name come in
// ascending order, from 1 without gaps, and the target assigns the same numbers.
type Layout struct {
	Project      string    `json:"project"`
	Name         string    `json:"name"`
	Version      int64     `json:"version"`
	ID           string    `json:"id"`
	Content      []byte    `json:"content"`
	SignerKeyIDs []string  `json:"signer_key_ids,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	PusherID     string    `json:"pusher_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LogIndex     uint64    `json:"log_index"`
}

// Policy binds artifacts to a layout.
type Policy struct {
	Project      string    `json:"project"`
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`
	Match        string    `json:"match"`
	Layout       string    `json:"layout"`
	RequireRekor bool      `json:"require_rekor,omitempty"`
	SetterID     string    `json:"setter_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Decision is one recorded answer of Verify.
type Decision struct {
	Project       string    `json:"project"`
	RequesterID   string    `json:"requester_id,omitempty"`
	Kind          string    `json:"kind"`
	Name          string    `json:"name"`
	Digest        string    `json:"digest"`
	Policy        string    `json:"policy,omitempty"`
	Layout        string    `json:"layout,omitempty"`
	LayoutVersion int64     `json:"layout_version,omitempty"`
	Allowed       bool      `json:"allowed"`
	Reasons       []string  `json:"reasons,omitempty"`
	DecidedAt     time.Time `json:"decided_at"`
}

// Artifact is an indexed subject or material.
type Artifact struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// Attestation is an accepted envelope, its bytes verbatim, with what was indexed from it, and its anchor in
// Rekor if it has one.
type Attestation struct {
	Project       string     `json:"project"`
	ID            string     `json:"id"`
	Envelope      []byte     `json:"envelope"`
	PayloadType   string     `json:"payload_type"`
	StatementType string     `json:"statement_type"`
	PredicateType string     `json:"predicate_type,omitempty"`
	Step          string     `json:"step,omitempty"`
	Subjects      []Artifact `json:"subjects,omitempty"`
	Materials     []Artifact `json:"materials,omitempty"`
	SignerKeyIDs  []string   `json:"signer_key_ids,omitempty"`
	SubmitterID   string     `json:"submitter_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LogIndex      uint64     `json:"log_index"`
	Anchor        *Anchor    `json:"anchor,omitempty"`
}

// Anchor is the state of an attestation's upload to Rekor (store.Anchor), every field as it was: a pending
// anchor stays due in the target, a done one keeps the entry Rekor returned.
type Anchor struct {
	State         string    `json:"state"`
	Attempts      int       `json:"attempts,omitempty"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	Entry         []byte    `json:"entry,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Orphan is a log leaf without a row, not yet claimed.
type Orphan struct {
	LogIndex uint64    `json:"log_index"`
	Entry    []byte    `json:"entry"`
	FoundAt  time.Time `json:"found_at"`
}

// Watermark is the log size below which every leaf has its row or an orphan record. It is the last record of
// every export: an export without it is incomplete.
type Watermark struct {
	Size uint64 `json:"size"`
}

// check reports whether r carries exactly the field that its Kind names.
func (r Record) check() error {
	set := map[string]bool{
		KindBootstrap: r.Bootstrap != nil, KindProject: r.Project != nil, KindToken: r.Token != nil,
		KindKey: r.Key != nil, KindLayout: r.Layout != nil, KindPolicy: r.Policy != nil,
		KindDecision: r.Decision != nil, KindAttestation: r.Attestation != nil, KindOrphan: r.Orphan != nil,
		KindWatermark: r.Watermark != nil,
	}
	if _, known := set[r.Kind]; !known {
		return fmt.Errorf("unknown record kind %q", r.Kind)
	}
	if !set[r.Kind] {
		return fmt.Errorf("record of kind %q has no %q field", r.Kind, r.Kind)
	}
	for _, kind := range Kinds {
		if set[kind] && kind != r.Kind {
			return fmt.Errorf("record of kind %q has a %q field", r.Kind, kind)
		}
	}
	return nil
}

// Conversions from the store's types: times in UTC (the backends return instants; records compare as text),
// empty lists as none.

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func noneIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func tokenRecord(t store.Token, project string) Record {
	return Record{Kind: KindToken, Token: &Token{ID: t.ID, Hash: t.Hash, Project: project, Role: t.Role,
		Steps: noneIfEmpty(t.Steps), Description: t.Description, CreatedAt: utc(t.CreatedAt),
		RevokedAt: utcPtr(t.RevokedAt)}}
}

func keyRecord(k store.Key, project string) Record {
	return Record{Kind: KindKey, Key: &Key{Project: project, KeyID: k.KeyID, KeyType: k.KeyType, Scheme: k.Scheme,
		PublicPEM: k.PublicPEM, Description: k.Description, CreatedAt: utc(k.CreatedAt),
		ExpiresAt: utcPtr(k.ExpiresAt), RevokedAt: utcPtr(k.RevokedAt), Owner: k.Owner}}
}

func layoutRecord(l store.Layout, project string) Record {
	return Record{Kind: KindLayout, Layout: &Layout{Project: project, Name: l.Name, Version: l.Version, ID: l.ID,
		Content: l.Content, SignerKeyIDs: noneIfEmpty(l.SignerKeyIDs), ExpiresAt: utc(l.ExpiresAt),
		PusherID: l.PusherID, CreatedAt: utc(l.CreatedAt), LogIndex: *l.LogIndex}}
}

func projectRecord(p store.Project) Record {
	return Record{Kind: KindProject, Project: &Project{Name: p.Name, CreatedAt: utc(p.CreatedAt),
		RekorURL: p.RekorURL, RekorPublicKey: noneIfEmpty(p.RekorPublicKey)}}
}

func policyRecord(p store.Policy, project string) Record {
	return Record{Kind: KindPolicy, Policy: &Policy{Project: project, Name: p.Name, Kind: p.Kind, Match: p.Match,
		Layout: p.Layout, RequireRekor: p.RequireRekor, SetterID: p.SetterID, CreatedAt: utc(p.CreatedAt),
		UpdatedAt: utc(p.UpdatedAt)}}
}

func decisionRecord(d store.Decision, project string) Record {
	return Record{Kind: KindDecision, Decision: &Decision{Project: project, RequesterID: d.RequesterID,
		Kind: d.Kind, Name: d.Name, Digest: d.Digest, Policy: d.Policy, Layout: d.Layout,
		LayoutVersion: d.LayoutVersion, Allowed: d.Allowed, Reasons: noneIfEmpty(d.Reasons),
		DecidedAt: utc(d.DecidedAt)}}
}

func artifactRecords(list []store.Artifact) []Artifact {
	if len(list) == 0 {
		return nil
	}
	out := make([]Artifact, len(list))
	for i, a := range list {
		out[i] = Artifact(a)
	}
	return out
}

// attestationRecord is a with its anchor, if it has one (anchor nil: none).
func attestationRecord(a store.Attestation, project string, anchor *store.Anchor) Record {
	r := Record{Kind: KindAttestation, Attestation: &Attestation{Project: project, ID: a.ID, Envelope: a.Envelope,
		PayloadType: a.PayloadType, StatementType: a.StatementType, PredicateType: a.PredicateType, Step: a.Step,
		Subjects: artifactRecords(a.Subjects), Materials: artifactRecords(a.Materials),
		SignerKeyIDs: noneIfEmpty(a.SignerKeyIDs), SubmitterID: a.SubmitterID, CreatedAt: utc(a.CreatedAt),
		LogIndex: *a.LogIndex}}
	if anchor != nil {
		r.Attestation.Anchor = &Anchor{State: anchor.State, Attempts: anchor.Attempts,
			NextAttemptAt: utc(anchor.NextAttemptAt), LastError: anchor.LastError, Entry: noneIfEmpty(anchor.Entry),
			CreatedAt: utc(anchor.CreatedAt), UpdatedAt: utc(anchor.UpdatedAt)}
	}
	return r
}

// Conversions to the store's types, for a project with id projectID.

func (t *Token) store(projectID int64) store.Token {
	return store.Token{ID: t.ID, Hash: t.Hash, ProjectID: projectID, Role: t.Role, Steps: t.Steps,
		Description: t.Description, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

func (k *Key) store(projectID int64) store.Key {
	return store.Key{ProjectID: projectID, KeyID: k.KeyID, KeyType: k.KeyType, Scheme: k.Scheme,
		PublicPEM: k.PublicPEM, Description: k.Description, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt, Owner: k.Owner}
}

func (l *Layout) store(projectID int64) store.Layout {
	index := l.LogIndex
	return store.Layout{ProjectID: projectID, Name: l.Name, ID: l.ID, Content: l.Content,
		SignerKeyIDs: l.SignerKeyIDs, ExpiresAt: l.ExpiresAt, PusherID: l.PusherID, CreatedAt: l.CreatedAt,
		LogIndex: &index}
}

func (p *Policy) store(projectID int64) store.Policy {
	return store.Policy{ProjectID: projectID, Name: p.Name, Kind: p.Kind, Match: p.Match, Layout: p.Layout,
		RequireRekor: p.RequireRekor, SetterID: p.SetterID, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (d *Decision) store(projectID int64) store.Decision {
	return store.Decision{ProjectID: projectID, RequesterID: d.RequesterID, Kind: d.Kind, Name: d.Name,
		Digest: d.Digest, Policy: d.Policy, Layout: d.Layout, LayoutVersion: d.LayoutVersion, Allowed: d.Allowed,
		Reasons: d.Reasons, DecidedAt: d.DecidedAt}
}

func storeArtifacts(list []Artifact) []store.Artifact {
	if len(list) == 0 {
		return nil
	}
	out := make([]store.Artifact, len(list))
	for i, a := range list {
		out[i] = store.Artifact(a)
	}
	return out
}

func (a *Attestation) store(projectID int64) store.Attestation {
	index := a.LogIndex
	return store.Attestation{ProjectID: projectID, ID: a.ID, Envelope: a.Envelope, PayloadType: a.PayloadType,
		StatementType: a.StatementType, PredicateType: a.PredicateType, Step: a.Step,
		Subjects: storeArtifacts(a.Subjects), Materials: storeArtifacts(a.Materials),
		SignerKeyIDs: a.SignerKeyIDs, SubmitterID: a.SubmitterID, CreatedAt: a.CreatedAt, LogIndex: &index}
}

func (a *Anchor) store(projectID int64, attestationID string) store.Anchor {
	return store.Anchor{ProjectID: projectID, AttestationID: attestationID, State: a.State, Attempts: a.Attempts,
		NextAttemptAt: a.NextAttemptAt, LastError: a.LastError, Entry: a.Entry, CreatedAt: a.CreatedAt,
		UpdatedAt: a.UpdatedAt}
}
