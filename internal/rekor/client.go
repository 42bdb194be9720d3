package rekor

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/client/pubkey"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	dsse001 "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Defaults of a Client.
const (
	DefaultTimeout = 30 * time.Second // per HTTP request, retries included
	DefaultRetries = 2                // retries of a request that failed with a network error, 429 or 5xx
)

// A Client talks to one Rekor v1 server. It is safe for concurrent use.
type Client struct {
	api     *client.Rekor
	timeout time.Duration
	log     *slog.Logger
}

// An Option configures a Client.
type Option func(*config)

type config struct {
	timeout time.Duration
	retries uint
	log     *slog.Logger
	tls     *tls.Config
}

// WithTimeout bounds each call of a Client method that makes a request (the
// 409 path of UploadDSSE makes two), retries included. Default DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(o *config) { o.timeout = d } }

// WithRetries sets how many times a request is retried after a network error,
// a 429 or a 5xx, with a backoff from 100 ms to 2 s. Default DefaultRetries.
func WithRetries(n uint) Option { return func(o *config) { o.retries = n } }

// WithLogger makes the Client log requests (debug) and failures to l. By
// default it logs nothing.
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.log = l } }

// WithTLSConfig sets the TLS configuration for an https URL, for example a
// private CA's pool in RootCAs.
func WithTLSConfig(c *tls.Config) Option { return func(o *config) { o.tls = c } }

// NewClient returns a Client for the Rekor server at rawURL: http or https, a
// host, optionally a path prefix under which the server's /api/v1 lives, and
// nothing else (no user info, query or fragment).
func NewClient(rawURL string, opts ...Option) (*Client, error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	o := config{timeout: DefaultTimeout, retries: DefaultRetries, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("rekor client: timeout %v is not positive", o.timeout)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return &Client{api: newAPI(u, o), timeout: o.timeout, log: o.log.With("rekor", u.String())}, nil
}

// MaxResponseBytes bounds every answer read from Rekor: an entry is at most MaxEntrySize in its stored form,
// and Rekor's JSON of it (base64 body, proof, checkpoint) is of the same order.
const MaxResponseBytes = 4 << 20

// newAPI is Rekor's generated client over an HTTP client of attestd's: retried like Rekor's own
// (retryablehttp, 5xx and network errors), but with every response body bounded by MaxResponseBytes and
// redirects never followed (a redirect is an answer, which counts as unavailable): the URL was checked and
// allowed, where it would redirect to was not.
func newAPI(u *url.URL, o config) *client.Rekor {
	base := cleanhttp.DefaultPooledTransport()
	if o.tls != nil {
		base.TLSClientConfig = o.tls
	}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{
		Transport:     &boundedTransport{base: base, max: MaxResponseBytes},
		CheckRedirect: noRedirects,
	}
	rc.RetryMax = int(o.retries)
	rc.RetryWaitMin, rc.RetryWaitMax = 100*time.Millisecond, 2*time.Second
	rc.Logger = o.log // *slog.Logger is a retryablehttp.LeveledLogger
	rc.ErrorHandler = func(resp *http.Response, err error, tries int) (*http.Response, error) {
		if err != nil {
			return nil, fmt.Errorf("giving up after %d attempt(s): %w", tries, err)
		}
		if resp != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("giving up after %d attempt(s): HTTP %d", tries, resp.StatusCode)
		}
		return nil, fmt.Errorf("giving up after %d attempt(s)", tries)
	}
	path := u.Path
	if path == "" {
		path = client.DefaultBasePath
	}
	hc := rc.StandardClient()
	hc.CheckRedirect = noRedirects // the outer client too: it would follow what the inner one handed back
	rt := httptransport.NewWithClient(u.Host, path, []string{u.Scheme}, hc)
	rt.Consumers["application/json"] = runtime.JSONConsumer()
	rt.Consumers["application/x-pem-file"] = runtime.TextConsumer()
	rt.Producers["application/json"] = runtime.JSONProducer()
	formats := strfmt.NewFormats()
	formats.Add("signedCheckpoint", &util.SignedNote{}, util.SignedCheckpointValidator)
	return client.New(rt, formats)
}

// noRedirects makes an http.Client hand back a redirect as the answer it is.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// boundedTransport bounds the bodies of the responses of base, and names attestd as the user agent.
type boundedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", "attestd")
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// ErrResponseTooLarge: Rekor's answer was larger than MaxResponseBytes; it was not read further.
var ErrResponseTooLarge = fmt.Errorf("rekor answer over %d bytes", MaxResponseBytes)

// boundedBody reads at most left bytes, then fails with ErrResponseTooLarge rather than cut the answer short.
type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the bound from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }

func checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not the *url.Error itself: it quotes the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("rekor URL: %w", err)
	}
	bad := func(why string) error { return fmt.Errorf("rekor URL %q: %s", u.Redacted(), why) }
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("the scheme must be http or https")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, bad("no host")
	case u.User != nil:
		return nil, bad("user info is not allowed (credentials do not belong in a URL)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(rawURL, "#"):
		return nil, bad("a query or fragment is not allowed")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// UploadDSSE records envelope, a DSSE envelope in JSON, in Rekor as a dsse
// v0.0.1 entry and returns the entry. publicKeysPEM are the signers' public
// keys (PEM, PKIX or certificates): every signature of the envelope must
// verify with one of them, or Rekor refuses the entry (ErrPermanent).
//
// If the log holds the entry already (HTTP 409), UploadDSSE fetches and
// returns it, so retrying an upload whose answer was lost is safe. The entry
// returned is checked to be this envelope's (ErrEnvelopeMismatch) but not
// verified: see VerifyEntry.
func (c *Client) UploadDSSE(ctx context.Context, envelope []byte, publicKeysPEM [][]byte) (Entry, error) {
	const op = "upload"
	if len(envelope) == 0 {
		return Entry{}, permanent(op, errors.New("empty envelope"))
	}
	if len(publicKeysPEM) == 0 {
		return Entry{}, permanent(op, errors.New("no public key"))
	}
	// This verifies every signature against the keys, as Rekor will.
	proposed, err := dsse001.V001Entry{}.CreateFromArtifactProperties(ctx, types.ArtifactProperties{
		ArtifactBytes: envelope, PublicKeyBytes: publicKeysPEM,
	})
	if err != nil {
		return Entry{}, permanent(op, fmt.Errorf("make dsse entry: %w", err))
	}
	start := time.Now()
	params := entries.NewCreateLogEntryParamsWithContext(ctx).WithTimeout(c.timeout).WithProposedEntry(proposed)
	created, err := c.api.Entries.CreateLogEntry(params)
	var conflict *entries.CreateLogEntryConflict
	var e Entry
	switch {
	case errors.As(err, &conflict):
		uuid, uerr := uuidFromLocation(conflict.Location.String())
		if uerr != nil {
			return Entry{}, unavailable(op, uerr)
		}
		c.log.DebugContext(ctx, "rekor entry exists already", "uuid", uuid)
		if e, err = c.Entry(ctx, uuid); err != nil {
			// Rekor said the entry exists: whatever the fetch answered (a 404 while the log has queued the
			// entry but not yet integrated it, for one), a later attempt can fetch it.
			return Entry{}, unavailable(op, fmt.Errorf("the entry exists already, and fetching it failed: %v", err))
		}
	case err != nil:
		err = classify(op, err)
		c.log.WarnContext(ctx, "rekor upload failed", "err", err)
		return Entry{}, err
	default:
		if e, err = fromLogEntry(created.Payload); err != nil {
			return Entry{}, unavailable(op, err)
		}
	}
	if err := checkBinding(e.Body, envelope); err != nil {
		return Entry{}, permanent(op, fmt.Errorf("the answer, entry %s: %w", e.UUID, err))
	}
	c.log.DebugContext(ctx, "rekor entry", "uuid", e.UUID, "log_index", e.LogIndex, "took", time.Since(start))
	return e, nil
}

// Entry fetches the entry with the given UUID (64 or 80 hex digits), with a
// fresh inclusion proof. It does not verify it.
func (c *Client) Entry(ctx context.Context, uuid string) (Entry, error) {
	const op = "get entry"
	if !isLowerHex(uuid) || (len(uuid) != 64 && len(uuid) != 80) {
		return Entry{}, permanent(op, fmt.Errorf("UUID %.90q is not 64 or 80 lowercase hex digits", uuid))
	}
	params := entries.NewGetLogEntryByUUIDParamsWithContext(ctx).WithTimeout(c.timeout).WithEntryUUID(uuid)
	resp, err := c.api.Entries.GetLogEntryByUUID(params)
	if err != nil {
		return Entry{}, classify(op, err)
	}
	e, err := fromLogEntry(resp.Payload)
	if err != nil {
		return Entry{}, unavailable(op, err)
	}
	// Rekor answers a 64-digit UUID with the 80-digit ID; both end in the leaf hash.
	if !strings.HasSuffix(e.UUID, uuid[len(uuid)-64:]) {
		return Entry{}, unavailable(op, fmt.Errorf("asked for entry %s, got %s", uuid, e.UUID))
	}
	return e, nil
}

// PublicKey fetches the public key (PEM) with which the server signs entry
// timestamps and checkpoints. Trust it only as far as the channel it came
// over: pin the key in configuration, and use this to show an operator what
// to pin.
func (c *Client) PublicKey(ctx context.Context) ([]byte, error) {
	const op = "get public key"
	params := pubkey.NewGetPublicKeyParamsWithContext(ctx).WithTimeout(c.timeout)
	resp, err := c.api.Pubkey.GetPublicKey(params)
	if err != nil {
		return nil, classify(op, err)
	}
	pemBytes := []byte(resp.Payload)
	if _, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes); err != nil {
		return nil, unavailable(op, fmt.Errorf("the server's key: %w", err))
	}
	return pemBytes, nil
}

// classify turns an error of the generated client into a *StatusError for an
// HTTP error status, or else (network, timeout, unreadable answer) an error
// wrapping ErrUnavailable.
func classify(op string, err error) error {
	var coded interface {
		error
		Code() int
	}
	if errors.As(err, &coded) {
		se := &StatusError{Op: op, Code: coded.Code()}
		if p, ok := coded.(interface{ GetPayload() *models.Error }); ok && p.GetPayload() != nil {
			se.Message = truncate(p.GetPayload().Message, 300)
		}
		return se
	}
	var apiErr *runtime.APIError
	if errors.As(err, &apiErr) {
		return &StatusError{Op: op, Code: apiErr.Code}
	}
	return unavailable(op, err)
}

// uuidFromLocation reads the entry UUID from the Location of a 409 answer:
// .../api/v1/log/entries/UUID.
func uuidFromLocation(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("409 Conflict with a bad Location %.200q: %w", loc, err)
	}
	uuid := u.Path[strings.LastIndexByte(u.Path, '/')+1:]
	if !isLowerHex(uuid) || (len(uuid) != 64 && len(uuid) != 80) {
		return "", fmt.Errorf("409 Conflict without an entry UUID in Location %.200q", loc)
	}
	return uuid, nil
}

// fromLogEntry converts Rekor's answer, a map from UUID to entry, holding
// exactly one entry.
func fromLogEntry(le models.LogEntry) (Entry, error) {
	if len(le) != 1 {
		return Entry{}, fmt.Errorf("%w: %d entries in the answer, want 1", ErrMalformedEntry, len(le))
	}
	var e Entry
	var err error
	for uuid, a := range le {
		e, err = fromAnon(uuid, a)
	}
	return e, err
}

func fromAnon(uuid string, a models.LogEntryAnon) (Entry, error) {
	if a.LogIndex == nil || a.IntegratedTime == nil || a.LogID == nil || a.Verification == nil {
		return Entry{}, fmt.Errorf("%w: log index, integrated time, log ID or verification missing", ErrMalformedEntry)
	}
	b64, ok := a.Body.(string)
	if !ok {
		return Entry{}, fmt.Errorf("%w: body is a %T, not a base64 string", ErrMalformedEntry, a.Body)
	}
	body, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: body: %w", ErrMalformedEntry, err)
	}
	if *a.IntegratedTime < 0 || *a.IntegratedTime > maxUnixTime {
		return Entry{}, fmt.Errorf("%w: integrated time %d out of range", ErrMalformedEntry, *a.IntegratedTime)
	}
	e := Entry{
		UUID:                 uuid,
		LogIndex:             *a.LogIndex,
		IntegratedTime:       time.Unix(*a.IntegratedTime, 0).UTC(),
		LogID:                *a.LogID,
		Body:                 body,
		SignedEntryTimestamp: a.Verification.SignedEntryTimestamp,
	}
	if p := a.Verification.InclusionProof; p != nil {
		if p.LogIndex == nil || p.TreeSize == nil || p.RootHash == nil || p.Checkpoint == nil {
			return Entry{}, fmt.Errorf("%w: inclusion proof incomplete", ErrMalformedEntry)
		}
		e.InclusionProof, err = (&proofJSON{
			LogIndex: *p.LogIndex, RootHash: *p.RootHash, TreeSize: *p.TreeSize, Hashes: p.Hashes, Checkpoint: *p.Checkpoint,
		}).decode()
		if err != nil {
			return Entry{}, err
		}
	}
	if err := e.check(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
