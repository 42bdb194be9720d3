// Package store defines what attestd keeps in its database and the one interface every backend implements.
//
// The PostgreSQL backend lives in store/postgres, the embedded SQLite backend in store/sqlite. Both must pass
// the conformance suite in store/storetest, which is the executable definition of the contract written in the
// comments below.
//
// A Store never returns gRPC status errors: it returns the sentinel errors of this package (wrapped with
// context), and the server maps them to codes in one place. Every method that reads project data takes the
// project id and never returns rows of another project; a row that exists in another project is reported as
// ErrNotFound, exactly as if it did not exist.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound: the row does not exist in this project (or at all).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a row with the same unique name or id exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrLimitReached: the write would take a project over a fixed bound (see MaxPoliciesPerProject).
	ErrLimitReached = errors.New("limit reached")
	// ErrUnavailable: the database could not be reached or the operation could not complete for a transient
	// reason; the caller may retry.
	ErrUnavailable = errors.New("database unavailable")
)

// SchemaBehindError: the database's schema is older than this attestd's (CheckSchema of a backend); the
// commands that do not migrate refuse it rather than fail on a missing column.
type SchemaBehindError struct {
	Current, Want int64 // the database's schema version, and this attestd's
}

func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("the database's schema is at version %d, this attestd needs %d: run attestd migrate (attestd serve migrates too) with this attestd first", e.Current, e.Want)
}

// Roles a token can carry.
const (
	RoleServerAdmin = "server-admin" // no project; manages projects and every project's tokens and keys
	RoleAdmin       = "admin"        // manages one project's tokens and keys; reads and submits
	RoleAttestor    = "attestor"     // submits (optionally only named steps) and reads
	RoleReader      = "reader"       // reads
	RoleVerifier    = "verifier"     // verifies and reads
)

// Project is a tenant. Its data is invisible to every other project.
type Project struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	// Generation grows whenever a key, layout or policy of the project is added, changed or removed, and
	// whenever its Rekor settings are set (SetProjectRekor), in the same transaction: what was derived from
	// those rows stays valid while it is unchanged. Attestations, anchors, tokens and decisions leave it alone.
	Generation int64
	// RekorURL is the Rekor server that the project's attestations are anchored in; "" means that anchoring
	// is off. RekorPublicKey is that server's public key (PEM), which verifies its entries offline; empty
	// when RekorURL is. Both are set by SetProjectRekor.
	RekorURL       string
	RekorPublicKey []byte
}

// Token is a bearer token as stored: only the sha256 of the secret is kept.
type Token struct {
	ID          string // public, random, short (shown in listings, used to revoke)
	Hash        []byte // sha256 of the secret
	ProjectID   int64  // 0 for server-admin tokens
	Role        string
	Steps       []string // for attestor tokens: the only steps it may submit; empty means any
	Description string
	CreatedAt   time.Time
	RevokedAt   *time.Time
}

// Key is a registered public key: a functionary key, whose signatures on attestations count, or a layout-owner
// key (Owner), whose signatures on layouts count and on attestations do not.
type Key struct {
	ProjectID   int64
	KeyID       string // in-toto / securesystemslib key id (lowercase hex sha256)
	KeyType     string // ed25519, ecdsa, rsa
	Scheme      string // ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, rsassa-pss-sha256
	PublicPEM   string
	Description string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	Owner       bool
}

// Layout is one pushed version of a project's named in-toto layout, stored byte for byte.
type Layout struct {
	ProjectID    int64
	Name         string
	Version      int64    // assigned by the store: 1 for a name's first layout, then one more each time
	ID           string   // lowercase hex sha256 of Content
	Content      []byte   // the signed layout as pushed; left out by ListLayouts
	SignerKeyIDs []string // the owner keys whose signatures verified at push time, sorted
	ExpiresAt    time.Time
	PusherID     string // token id of the pusher
	CreatedAt    time.Time
	// LogIndex is the index of the layout's leaf in the transparency log (see tlog.EntryForLayout). attestd
	// appends the leaf before it adds the row; AddLayout requires it. Layouts pushed before layouts were
	// logged have none (nil).
	LogIndex *uint64
}

// LayoutExistsError is AddLayout's answer to bytes that the name had before: a superseded layout must never
// become active again. It wraps ErrAlreadyExists.
type LayoutExistsError struct {
	Name    string
	Version int64 // the version that has these bytes
}

func (e *LayoutExistsError) Error() string {
	return "layout " + e.Name + " already has these bytes as version " + strconv.FormatInt(e.Version, 10)
}

func (e *LayoutExistsError) Unwrap() error { return ErrAlreadyExists }

// Policy says that the artifacts of one kind whose names match a pattern need a layout of the project.
type Policy struct {
	ProjectID int64
	Name      string
	Kind      string // "image", "file" or "package"
	Match     string // the pattern, checked by the server
	Layout    string // the name of a layout of the project
	// RequireRekor: Verify accepts an attestation for this policy only if its anchor is done (it is in Rekor).
	RequireRekor bool
	SetterID     string // token id of whoever set it last
	CreatedAt    time.Time
	UpdatedAt    time.Time // when it was last set; CreatedAt until it is replaced
}

// MaxPoliciesPerProject bounds the policies of one project (SetPolicy's max).
const MaxPoliciesPerProject = 1000

// Decision is one recorded answer of Verify: who asked, about what, against which policy and layout version,
// and the verdict with every reason.
type Decision struct {
	ID            int64 // assigned by the store, increasing
	ProjectID     int64
	RequesterID   string // token id of whoever asked
	Kind          string // "image", "file" or "package"
	Name          string
	Digest        string // "sha256:HEX"
	Policy        string // empty when no policy covered the artifact
	Layout        string
	LayoutVersion int64
	Allowed       bool
	Reasons       []string
	DecidedAt     time.Time
}

// Artifact is an indexed subject or material: a name and one digest of it. A descriptor with several digests
// is stored as several Artifacts with the same name.
type Artifact struct {
	Name      string
	Algorithm string // e.g. sha256
	Digest    string // lowercase hex for the known algorithms
}

// Attestation is an accepted envelope, stored byte for byte, with what was indexed from it.
type Attestation struct {
	ProjectID     int64
	ID            string // lowercase hex sha256 of Envelope
	Envelope      []byte // the submitted bytes, verbatim
	PayloadType   string
	StatementType string // e.g. https://in-toto.io/Statement/v1, or "link" for a classic in-toto link
	PredicateType string // empty for classic links
	Step          string // empty when the step could not be derived from signed content
	Subjects      []Artifact
	Materials     []Artifact
	SignerKeyIDs  []string // the registered keys whose signatures verified, sorted
	SubmitterID   string   // token id of the submitter
	CreatedAt     time.Time
	// LogIndex is the index of the attestation's leaf in the transparency log. attestd appends the leaf before
	// it inserts the row, so a row without one (nil) was written behind attestd's back: reads never return such
	// rows (only the audit scans see them).
	LogIndex *uint64
	// Seq orders attestations within the database (newest first in listings). Assigned by the store at insert,
	// not at commit: paging backwards with it is safe, following new rows is not (a lower Seq can commit later).
	Seq int64
}

// Digest is one digest of an artifact: the algorithm and its value (lowercase hex for the known algorithms).
type Digest struct {
	Algorithm string
	Value     string
}

// Bounds of RelatedAttestations and GetAttestations.
const (
	// MaxRelatedDigests bounds the digests (subjects and materials together) of one RelatedAttestations call.
	MaxRelatedDigests = 10000
	// MaxRelatedRows bounds the rows of one RelatedAttestations call.
	MaxRelatedRows = 10001
	// MaxGetAttestations bounds the ids of one GetAttestations (or GetAnchors) call.
	MaxGetAttestations = 1000
)

// Filter selects attestations in List. Empty fields do not filter. String fields match exactly (no wildcards).
type Filter struct {
	SubjectAlgorithm  string
	SubjectDigest     string
	MaterialAlgorithm string
	MaterialDigest    string
	Step              string
	PredicateType     string
	SignerKeyID       string
	Submitter         string    // SubmitterID, the token id of the submitter
	Since, Until      time.Time // CreatedAt in [Since, Until); zero means unbounded
	// AfterSeq continues a listing: only attestations with Seq < AfterSeq. Zero means from the newest.
	AfterSeq int64
	Limit    int // at most this many; the store caps it at MaxPageSize
	// WithoutEnvelopes leaves Envelope nil in every attestation listed, so that the store does not read the
	// envelopes at all (List with omit_envelopes).
	WithoutEnvelopes bool
}

// OrphanLeaf is a log leaf found at start-up with no row: attestd crashed (or the database refused the insert)
// after the log sequenced the entry and before the row committed, so the submission was never acknowledged.
// A retry of the same submission claims the leaf instead of appending a second one.
type OrphanLeaf struct {
	LogIndex uint64
	Entry    []byte // the leaf's entry bytes
	FoundAt  time.Time
}

// Page sizes of List: a Limit of zero or less means DefaultPageSize; more than MaxPageSize means MaxPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// MaxScanKeys bounds a page of ScanAttestationKeys: keys are small (about 100 bytes each in memory), so its
// pages are larger than MaxPageSize.
const MaxScanKeys = 10000

// ScanKeysSize is the number of keys that ScanAttestationKeys returns at most for limit: MaxScanKeys if limit
// is not positive, never more than MaxScanKeys.
func ScanKeysSize(limit int) int {
	if limit <= 0 {
		return MaxScanKeys
	}
	return min(limit, MaxScanKeys)
}

// AttestationKey names a stored attestation without its content.
type AttestationKey struct {
	Seq       int64
	ProjectID int64
	ID        string
}

// PageSize is the number of rows that a request for limit returns at most: DefaultPageSize if limit is not
// positive, never more than MaxPageSize.
func PageSize(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// Store is the storage contract. Implementations are safe for concurrent use.
type Store interface {
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close()

	// Bootstrap stores tok as the first server-admin token if no bootstrap happened before in this database,
	// atomically, and reports whether it did. Concurrent callers on one database: exactly one gets true.
	Bootstrap(ctx context.Context, tok Token) (bool, error)

	CreateProject(ctx context.Context, name string) (Project, error) // ErrAlreadyExists on a taken name
	ProjectByName(ctx context.Context, name string) (Project, error)
	ProjectByID(ctx context.Context, id int64) (Project, error)
	ListProjects(ctx context.Context) ([]Project, error) // by name
	// SetProjectRekor sets the project's RekorURL and RekorPublicKey and returns the project as stored; url ""
	// turns anchoring off and clears the key, whatever publicKeyPEM is. The same statement raises Generation.
	// From then on InsertAttestation follows the new setting; the anchors recorded before are left as they
	// are. ErrNotFound if the project does not exist; settings that CheckRekorSettings refuses (longer than
	// MaxRekorURL or MaxRekorPublicKey, a url that is not text) are an error (a caller bug). The store parses
	// neither.
	SetProjectRekor(ctx context.Context, projectID int64, url string, publicKeyPEM []byte) (Project, error)

	CreateToken(ctx context.Context, tok Token) error            // ErrAlreadyExists on a duplicate id or hash
	TokenByHash(ctx context.Context, hash []byte) (Token, error) // revoked tokens too: the caller decides
	// Authenticate is TokenByHash and the token's project (as ProjectByID would read it, Generation included) in
	// one read: every call's first. A server-admin token has the zero Project.
	Authenticate(ctx context.Context, hash []byte) (Token, Project, error)
	ListTokens(ctx context.Context, projectID int64) ([]Token, error) // oldest first; projectID 0: server-admin tokens
	RevokeToken(ctx context.Context, projectID int64, id string, at time.Time) error

	AddKey(ctx context.Context, k Key) error                      // ErrAlreadyExists when the project has this key id
	ListKeys(ctx context.Context, projectID int64) ([]Key, error) // oldest first, revoked ones included
	RevokeKey(ctx context.Context, projectID int64, keyID string, at time.Time) error

	// AddLayout stores l as the next version of l.Name in its project and returns it as stored, Version
	// assigned: one more than the name's latest, 1 for a new name; concurrent adds of one name get distinct,
	// consecutive versions. l.ID must be the hex sha256 of l.Content; a zero CreatedAt means now. l.LogIndex is
	// required: a log index that another layout has is ErrAlreadyExists, and the same transaction deletes the
	// orphan record of l.LogIndex, which the row claims. If any earlier version of the name has l.ID, it stores
	// nothing and returns a *LayoutExistsError naming that version. ErrNotFound if the project does not exist.
	AddLayout(ctx context.Context, l Layout) (Layout, error)
	// ListLayouts returns the project's layouts without their Content, of one name or (name "") of every name,
	// ordered by name, then newest version first.
	ListLayouts(ctx context.Context, projectID int64, name string) ([]Layout, error)
	// GetLayout returns one version of a layout with its Content; version 0 is the newest. ErrNotFound if the
	// project has no such layout.
	GetLayout(ctx context.Context, projectID int64, name string, version int64) (Layout, error)

	// SetPolicy creates the policy p.Name of p.ProjectID, or replaces its Kind, Match, Layout, RequireRekor and
	// SetterID, and returns it as stored: a new policy gets CreatedAt = UpdatedAt = p.UpdatedAt (zero means
	// now), a replaced one keeps its CreatedAt. It refuses with ErrNotFound if the project has no layout named
	// p.Layout (or the project does not exist), and with ErrLimitReached if the policy is new and the project
	// already has max policies; concurrent sets in one project cannot take it over max.
	SetPolicy(ctx context.Context, p Policy, max int) (Policy, error)
	// ListPolicies returns the project's policies, of one kind or (kind "") of every kind, ordered by name.
	ListPolicies(ctx context.Context, projectID int64, kind string) ([]Policy, error)
	// DeletePolicy deletes the project's policy name. ErrNotFound if the project has no such policy.
	DeletePolicy(ctx context.Context, projectID int64, name string) error

	// AddDecision records d (its ID is ignored; a zero DecidedAt means now) and returns it as stored, ID
	// assigned: larger than the ID of every decision recorded before it. ErrNotFound if the project does not exist.
	// It may commit without waiting for the disk: a crash of the database may lose the decisions of its last
	// moments (never an attestation or a layout, which always commit durably).
	AddDecision(ctx context.Context, d Decision) (Decision, error)
	// ListDecisions returns the project's decisions with ID < beforeID (0: no bound), newest first (descending
	// ID), at most limit (as Filter.Limit: zero or less means DefaultPageSize, at most MaxPageSize).
	ListDecisions(ctx context.Context, projectID int64, beforeID int64, limit int) ([]Decision, error)

	// InsertAttestation stores a (a.ID must be the hex sha256 of a.Envelope; a zero CreatedAt means now). If
	// the project already has an attestation with a.ID it stores nothing and returns the existing one with
	// created=false; concurrent inserts of one id create exactly one row. When it creates the row and the
	// project has a RekorURL, the same transaction records the attestation's Anchor: pending, Attempts 0,
	// NextAttemptAt, CreatedAt and UpdatedAt the attestation's CreatedAt. The project's setting is read in that
	// transaction: a SetProjectRekor that commits while it runs may or may not be seen, never half.
	InsertAttestation(ctx context.Context, a Attestation) (stored Attestation, created bool, err error)
	GetAttestation(ctx context.Context, projectID int64, id string) (Attestation, error)
	// ListAttestations returns matching attestations newest first (descending Seq), at most f.Limit.
	ListAttestations(ctx context.Context, projectID int64, f Filter) ([]Attestation, error)

	// RelatedAttestations returns the project's logged attestations (LogIndex set) that have a subject among
	// subjects or a material among materials (either list may be empty; both empty returns nothing), each
	// once, newest first (descending Seq), at most limit (a limit below 1 or above MaxRelatedRows means
	// MaxRelatedRows). They come without Envelope (nil), and with the Algorithm and Digest of each of their
	// Subjects and Materials but not its Name (""): this is Verify's walk through the digests, which reads many
	// rows and needs the names and envelopes of few. More than MaxRelatedDigests
	// digests in all is an error (a caller bug, not ErrLimitReached).
	RelatedAttestations(ctx context.Context, projectID int64, subjects, materials []Digest, limit int) ([]Attestation, error)
	// GetAttestations returns the project's logged attestations with these ids, complete (Envelope, Subjects,
	// Materials), sorted by id; ids the project does not have are left out, a repeated id gives one row. More
	// than MaxGetAttestations ids is an error.
	GetAttestations(ctx context.Context, projectID int64, ids []string) ([]Attestation, error)
	// GetAttestationsWithoutEnvelope is GetAttestations with Envelope nil (the names of the subjects and
	// materials included): the read of the attestations of a provenance graph, which shows what was indexed
	// from them and never the envelopes, the most bytes by far.
	GetAttestationsWithoutEnvelope(ctx context.Context, projectID int64, ids []string) ([]Attestation, error)

	// GetAnchor returns the anchor of the project's attestation attestationID. ErrNotFound if it has none
	// (the project had no RekorURL when the attestation was inserted, or has no such attestation).
	GetAnchor(ctx context.Context, projectID int64, attestationID string) (Anchor, error)
	// GetAnchors returns the anchors of the project's attestations with these ids, sorted by attestation id;
	// ids without an anchor are left out, a repeated id gives one anchor: Verify's read of the anchors of the
	// attestations it uses. More than MaxGetAttestations ids is an error.
	GetAnchors(ctx context.Context, projectID int64, ids []string) ([]Anchor, error)
	// DueAnchors returns the pending anchors of every project with NextAttemptAt <= now, the earliest
	// NextAttemptAt first (then by project id and attestation id), at most limit (as Filter.Limit: zero or
	// less means DefaultPageSize, at most MaxPageSize): the anchoring worker's queue. It claims nothing: two
	// workers that ask at once get the same anchors.
	DueAnchors(ctx context.Context, now time.Time, limit int) ([]Anchor, error)
	// RecordAnchorAttempt records a failed attempt at a pending anchor: Attempts grows by one, LastError
	// becomes AnchorErrorText(lastError), and either NextAttemptAt becomes nextAttemptAt (failed false: Rekor
	// may take it later) or State becomes AnchorFailed (failed true: Rekor refused it for good; NextAttemptAt
	// stays as it was). ErrNotFound if the attestation has no anchor; an *AnchorSettledError (which is
	// ErrNotFound too) if its anchor is done or failed, which it leaves as it is. Concurrent records and
	// completions of one anchor take turns: each sees what the one before it wrote.
	RecordAnchorAttempt(ctx context.Context, projectID int64, attestationID string, nextAttemptAt time.Time, lastError string, failed bool) error
	// CompleteAnchor records that a pending anchor is in Rekor: State becomes AnchorDone, Entry entry (the
	// entry Rekor returned, as JSON; not empty, at most MaxAnchorEntry bytes, else an error), Attempts grows by
	// one; LastError stays. An anchor that is done already with these very bytes is left as it is and nil
	// returned (a retry of the same completion). ErrNotFound if the attestation has no anchor; an
	// *AnchorSettledError if its anchor is failed, or done with another entry, which it leaves as it is.
	CompleteAnchor(ctx context.Context, projectID int64, attestationID string, entry []byte) error
	// CountAnchors returns the number of anchors in each state (a key for each of the three states, zeros
	// included), of one project or (projectID 0) of every project: for metrics and health checks.
	CountAnchors(ctx context.Context, projectID int64) (map[string]int, error)
	// RetryAnchors puts the project's failed anchors back in the queue: pending, due at at, their Attempts and
	// LastError kept. ids names the attestations (at most MaxGetAttestations; one that has no failed anchor is
	// left out); nil ids means every failed anchor of the project. It returns how many it put back.
	RetryAnchors(ctx context.Context, projectID int64, ids []string, at time.Time) (int, error)

	// AttestationAtIndex returns the attestation whose leaf is at index, whatever its project.
	AttestationAtIndex(ctx context.Context, index uint64) (Attestation, error)
	// ScanByLogIndex returns up to limit attestations of every project with LogIndex >= from, ascending by
	// LogIndex, envelopes and artifacts included: the audit's and the reconciler's walk.
	ScanByLogIndex(ctx context.Context, from uint64, limit int) ([]Attestation, error)
	// ScanLayoutsByLogIndex returns up to limit layouts of every project with LogIndex >= from, ascending by
	// LogIndex, Content included: the audit's and the reconciler's walk over the layout leaves.
	ScanLayoutsByLogIndex(ctx context.Context, from uint64, limit int) ([]Layout, error)
	// ScanUnlogged returns up to limit attestations with no LogIndex and Seq > afterSeq, ascending by Seq.
	ScanUnlogged(ctx context.Context, afterSeq int64, limit int) ([]Attestation, error)
	// ScanAttestationKeys returns the keys of up to limit attestations (at most MaxScanKeys; limit <= 0 means
	// MaxScanKeys) of every project with Seq > afterSeq, ascending by Seq, logged or not: what Submit's
	// duplicate filter is built from.
	ScanAttestationKeys(ctx context.Context, afterSeq int64, limit int) ([]AttestationKey, error)

	// LogWatermark is the log size below which every leaf is known to have its row or an orphan record (0 when
	// never set). SetLogWatermark never lowers it.
	LogWatermark(ctx context.Context) (uint64, error)
	SetLogWatermark(ctx context.Context, size uint64) error
	// AddOrphanLeaves records orphan leaves; recording one again changes nothing, and a leaf whose index has a
	// row (an attestation's or a layout's) is not recorded. ListOrphanLeaves leaves out those that have one since.
	AddOrphanLeaves(ctx context.Context, leaves []OrphanLeaf) error
	// ListOrphanLeaves returns the orphan leaves not yet claimed, ascending by LogIndex.
	ListOrphanLeaves(ctx context.Context) ([]OrphanLeaf, error)

	// The methods below let an installation be copied whole, from one database to another (attestd backup,
	// restore and migrate-data; package dump): they read what the methods above do not show, or write what
	// those would stamp with the current time. attestd's serving path does not use them.

	// CreateProjectAt is CreateProject with the project's creation time given; a zero createdAt means now.
	CreateProjectAt(ctx context.Context, name string, createdAt time.Time) (Project, error)
	// BootstrapTokenID returns the id of the token that Bootstrap stored, or ErrNotFound if this database was
	// never bootstrapped.
	BootstrapTokenID(ctx context.Context) (string, error)
	// ScanDecisions returns the decisions of every project with ID > afterID, ascending by ID, at most limit
	// (as Filter.Limit: zero or less means DefaultPageSize, at most MaxPageSize).
	ScanDecisions(ctx context.Context, afterID int64, limit int) ([]Decision, error)
	// InsertAnchor stores a as it is, every field kept (its state, attempts, error, entry and times): the
	// anchor of an attestation copied with InsertAttestation while its project had no RekorURL yet.
	// ErrNotFound if the project has no attestation a.AttestationID, ErrAlreadyExists if it has an anchor. A
	// state that is none of the three, an Entry that is not set exactly when done, or a field over its bound
	// is an error.
	InsertAnchor(ctx context.Context, a Anchor) error
}
