package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/rekor"
	"github.com/attestd/attestd/internal/store"
)

// Bounds and pace of anchoring in Rekor.
const (
	// anchorBatch is how many due anchors the worker reads at a time.
	anchorBatch = 64
	// anchorParallel bounds the uploads in flight (Rekor takes ~200 ms for one).
	anchorParallel = 8
	// anchorPoll is how often the worker looks for due anchors when nothing wakes it.
	anchorPoll = time.Second
	// anchorBackoffMin and anchorBackoffMax bound the wait before a retry: it doubles with each failed
	// attempt, with ±20% jitter so that a fleet of anchors does not retry in step.
	anchorBackoffMin = 2 * time.Second
	anchorBackoffMax = 5 * time.Minute
	// anchorTimeout bounds one upload, the retries of the Rekor client included.
	anchorTimeout = 30 * time.Second
)

// anchorer uploads the envelopes of pending anchors to their projects' Rekor servers (see RunAnchoring).
type anchorer struct {
	wake chan struct{} // buffered 1: a submission that queued an anchor

	mu       sync.Mutex
	clients  map[string]*rekor.Client // by URL
	inflight map[anchorRef]bool

	attempts *prometheus.CounterVec
	pending  prometheus.Gauge
}

type anchorRef struct {
	project int64
	id      string
}

func newAnchorer(reg prometheus.Registerer) *anchorer {
	a := &anchorer{
		wake:     make(chan struct{}, 1),
		clients:  map[string]*rekor.Client{},
		inflight: map[anchorRef]bool{},
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_rekor_anchor_attempts_total",
			Help: "Uploads of envelopes to Rekor, by result: done, retry (Rekor unavailable) or failed (refused for good).",
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attestd_rekor_anchors_due",
			Help: "Pending anchors whose next attempt is due, as the worker last read them (at most one batch).",
		}),
	}
	reg.MustRegister(a.attempts, a.pending)
	return a
}

// nudge wakes the worker: an anchor was queued.
func (a *anchorer) nudge() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// client returns the Rekor client of rawURL, made once.
func (a *anchorer) client(rawURL string) (*rekor.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[rawURL]; ok {
		return c, nil
	}
	c, err := rekor.NewClient(rawURL, rekor.WithTimeout(anchorTimeout/3), rekor.WithRetries(1))
	if err != nil {
		return nil, err
	}
	a.clients[rawURL] = c
	return c, nil
}

// claim marks ref in flight; false if it already is.
func (a *anchorer) claim(ref anchorRef) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight[ref] {
		return false
	}
	a.inflight[ref] = true
	return true
}

func (a *anchorer) release(ref anchorRef) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.inflight, ref)
}

// RunAnchoring uploads pending anchors until ctx ends: those due, at most anchorParallel at once, woken by
// submissions that queue one and every anchorPoll otherwise. An upload that Rekor could not take is retried
// with backoff; one it refused for good is marked failed. The queue is in the database, so nothing is lost
// when attestd stops: the next start picks the pending anchors up. Several replicas may run it: an anchor
// uploaded twice gets Rekor's existing entry the second time.
func (s *Server) RunAnchoring(ctx context.Context) {
	sem := make(chan struct{}, anchorParallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(anchorPoll)
	defer tick.Stop()
	for {
		due, err := s.store.DueAnchors(ctx, s.now(), anchorBatch)
		if err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "anchoring: read due anchors", "err", err)
		}
		s.anchors.pending.Set(float64(len(due)))
		for _, a := range due {
			ref := anchorRef{a.ProjectID, a.AttestationID}
			if !s.anchors.claim(ref) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				s.anchors.release(ref)
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer s.anchors.release(ref)
				s.anchorOne(ctx, a)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.anchors.wake:
		case <-tick.C:
		}
	}
}

// anchorOne makes one attempt at a pending anchor and records its outcome.
func (s *Server) anchorOne(ctx context.Context, a store.Anchor) {
	ctx, cancel := context.WithTimeout(ctx, anchorTimeout)
	defer cancel()
	entry, err := s.upload(ctx, a)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // shutting down: the anchor stays pending, as it was
	}
	log := s.logger.With("project_id", a.ProjectID, "id", a.AttestationID, "attempt", a.Attempts+1)
	if err == nil {
		var b []byte
		if b, err = entry.Marshal(); err == nil {
			err = s.store.CompleteAnchor(ctx, a.ProjectID, a.AttestationID, b)
		}
		var settled *store.AnchorSettledError
		if errors.As(err, &settled) {
			log.InfoContext(ctx, "anchoring: settled meanwhile (another replica)", "state", settled.State)
			return
		}
		if err != nil {
			log.WarnContext(ctx, "anchoring: record entry", "err", err)
			return // still pending: the next attempt gets Rekor's existing entry
		}
		s.anchors.attempts.WithLabelValues("done").Inc()
		log.InfoContext(ctx, "anchored in rekor", "uuid", entry.UUID, "rekor_log_index", entry.LogIndex)
		return
	}
	failed := errors.Is(err, rekor.ErrPermanent)
	next := s.now().Add(anchorBackoff(a.Attempts + 1))
	var settled *store.AnchorSettledError
	if rerr := s.store.RecordAnchorAttempt(ctx, a.ProjectID, a.AttestationID, next, err.Error(), failed); errors.As(rerr, &settled) {
		log.InfoContext(ctx, "anchoring: settled meanwhile (another replica)", "state", settled.State)
		return
	} else if rerr != nil {
		log.WarnContext(ctx, "anchoring: record attempt", "err", rerr)
	}
	if failed {
		s.anchors.attempts.WithLabelValues("failed").Inc()
		log.WarnContext(ctx, "anchoring failed for good", "err", err)
		return
	}
	s.anchors.attempts.WithLabelValues("retry").Inc()
	log.InfoContext(ctx, "anchoring: rekor unavailable, will retry", "err", err, "next_attempt", next)
}

// errAnchorOff is the permanent failure of an anchor whose project turned anchoring off before the upload.
var errAnchorOff = fmt.Errorf("%w: the project turned anchoring off before the upload", rekor.ErrPermanent)

// upload sends the attestation of a to its project's Rekor server and checks the entry it got back against
// the project's Rekor key and the envelope: an entry that does not verify is not recorded (the key may be
// wrong; an operator can fix it, and the next attempt verifies again).
func (s *Server) upload(ctx context.Context, a store.Anchor) (rekor.Entry, error) {
	proj, err := s.store.ProjectByID(ctx, a.ProjectID)
	if err != nil {
		return rekor.Entry{}, fmt.Errorf("%w: read project: %v", rekor.ErrUnavailable, err)
	}
	if proj.RekorURL == "" {
		return rekor.Entry{}, errAnchorOff
	}
	att, err := s.store.GetAttestation(ctx, a.ProjectID, a.AttestationID)
	if err != nil {
		return rekor.Entry{}, fmt.Errorf("%w: read attestation: %v", rekor.ErrUnavailable, err)
	}
	if att.PayloadType == metablockPayloadType {
		return rekor.Entry{}, fmt.Errorf("%w: a classic in-toto link (metablock) is not a DSSE envelope, and Rekor's dsse type takes only those", rekor.ErrPermanent)
	}
	keys, err := s.store.ListKeys(ctx, a.ProjectID)
	if err != nil {
		return rekor.Entry{}, fmt.Errorf("%w: read keys: %v", rekor.ErrUnavailable, err)
	}
	var pems [][]byte
	for _, k := range keys {
		for _, id := range att.SignerKeyIDs {
			if k.KeyID == id {
				pems = append(pems, []byte(k.PublicPEM))
			}
		}
	}
	if len(pems) == 0 {
		return rekor.Entry{}, fmt.Errorf("%w: none of the keys that signed the attestation is registered any more", rekor.ErrPermanent)
	}
	c, err := s.anchors.client(proj.RekorURL)
	if err != nil {
		return rekor.Entry{}, fmt.Errorf("%w: %v", rekor.ErrPermanent, err)
	}
	entry, err := c.UploadDSSE(ctx, att.Envelope, pems)
	if err != nil {
		return rekor.Entry{}, err
	}
	if err := rekor.VerifyEntry(ctx, entry, att.Envelope, proj.RekorPublicKey); err != nil {
		return rekor.Entry{}, fmt.Errorf("%w: rekor's entry %s does not verify with the project's rekor key: %v", rekor.ErrUnavailable, entry.UUID, err)
	}
	return entry, nil
}

// anchorBackoff is the wait before attempt n+1 after n failed attempts.
func anchorBackoff(n int) time.Duration {
	d := anchorBackoffMin
	for i := 1; i < n && d < anchorBackoffMax; i++ {
		d *= 2
	}
	d = min(d, anchorBackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// GetProject returns the caller's project (or, to a server admin, the one named) with its settings.
func (s *Server) GetProject(ctx context.Context, req *attestdv1.GetProjectRequest) (*attestdv1.GetProjectResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "read the project", rolesRead...)
	if err != nil {
		return nil, err
	}
	return &attestdv1.GetProjectResponse{Project: projectPB(proj)}, nil
}

// SetProjectRekor turns anchoring in Rekor on or off for a project. The URL must be http or https without
// user information, and, for a project admin, one of Config.RekorURLs; the key must be a public key that
// verifies Rekor's entries (checked by parsing it).
func (s *Server) SetProjectRekor(ctx context.Context, req *attestdv1.SetProjectRekorRequest) (*attestdv1.SetProjectRekorResponse, error) {
	p, proj, err := s.resolveProject(ctx, req.GetProject(), "change the project's Rekor settings", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	u, key := strings.TrimRight(req.GetUrl(), "/"), req.GetPublicKey()
	if u == "" && len(key) > 0 {
		return nil, invalidf("public_key without url: give both to turn anchoring on, neither to turn it off")
	}
	if u == "" {
		if err := s.noPolicyRequiresRekor(ctx, proj); err != nil {
			return nil, err
		}
	}
	if u != "" {
		if len(u) > store.MaxRekorURL {
			return nil, invalidf("url: %d bytes, at most %d", len(u), store.MaxRekorURL)
		}
		if _, err := rekor.NewClient(u); err != nil {
			return nil, invalidf("url %q: %v", clip(u), err)
		}
		if !p.isServerAdmin() && !slices.Contains(s.rekorOK, u) {
			return nil, deniedf("url %q is not among the Rekor servers this attestd lets project admins choose (%s): ask its operator to add it to attestd serve --rekor-allow, or a server admin to set it",
				clip(u), strings.Join(s.rekorOK, ", "))
		}
		if len(key) == 0 {
			return nil, invalidf("public_key: the Rekor server's public key (PEM) is required with url")
		}
		if len(key) > store.MaxRekorPublicKey {
			return nil, invalidf("public_key: %d bytes, at most %d", len(key), store.MaxRekorPublicKey)
		}
		if err := rekor.CheckPublicKey(key); err != nil {
			return nil, invalidf("public_key: %v", err)
		}
		if pu, err := url.Parse(u); err == nil && pu.Scheme == "http" && !loopbackHost(pu.Hostname()) {
			s.logger.WarnContext(ctx, "rekor url is plain http: entries are verified offline, but uploads travel in the clear", "project", proj.Name)
		}
	}
	updated, err := s.store.SetProjectRekor(ctx, proj.ID, u, key)
	if err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "project rekor settings changed", "project", proj.Name, "url", u,
		"key_sha256", keyDigest(key))
	return &attestdv1.SetProjectRekorResponse{Project: projectPB(updated)}, nil
}

// noPolicyRequiresRekor refuses to turn anchoring off while a policy of the project requires it: nothing could
// satisfy such a policy any more (SetPolicy refuses to create one in a project that does not anchor).
func (s *Server) noPolicyRequiresRekor(ctx context.Context, proj store.Project) error {
	pols, err := s.store.ListPolicies(ctx, proj.ID, "")
	if err != nil {
		return err
	}
	var names []string
	for _, p := range pols {
		if p.RequireRekor {
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 {
		return failedPreconditionf("policies %s of project %q require Rekor: set them without --require-rekor (or delete them) before turning anchoring off",
			strings.Join(names, ", "), proj.Name)
	}
	return nil
}

func keyDigest(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// anchorPB is the API form of an anchor; the entry's JSON is what rekor.ParseEntry reads.
func anchorPB(a store.Anchor) *attestdv1.Anchor {
	out := &attestdv1.Anchor{State: a.State, Attempts: int32(min(a.Attempts, 1<<31-1)), LastError: a.LastError}
	if a.State == store.AnchorPending {
		out.NextAttemptTime = ts(a.NextAttemptAt)
	}
	if len(a.Entry) > 0 {
		if e, err := rekor.ParseEntry(a.Entry); err == nil {
			out.Entry = &attestdv1.RekorEntry{Uuid: e.UUID, LogIndex: e.LogIndex, IntegratedTime: ts(e.IntegratedTime),
				LogId: e.LogID, EntryJson: a.Entry}
		}
	}
	return out
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RetryAnchors puts failed anchors of the project back in the anchoring queue, due now, and wakes the worker:
// after Rekor refused an envelope for a reason since fixed, or the project turned anchoring off and on again.
// An anchor that is pending or done is left as it is.
func (s *Server) RetryAnchors(ctx context.Context, req *attestdv1.RetryAnchorsRequest) (*attestdv1.RetryAnchorsResponse, error) {
	_, proj, err := s.resolveProject(ctx, req.GetProject(), "retry anchors", rolesAdmin...)
	if err != nil {
		return nil, err
	}
	ids := req.GetIds()
	switch {
	case req.GetAllFailed() && len(ids) > 0:
		return nil, invalidf("ids and all_failed: give one or the other")
	case !req.GetAllFailed() && len(ids) == 0:
		return nil, invalidf("ids: name the attestations whose anchors to retry, or ask for all_failed")
	case len(ids) > store.MaxGetAttestations:
		return nil, &attestation.LimitError{Limit: "max-retry-anchors, fixed", Max: store.MaxGetAttestations, Got: len(ids), What: "attestation ids in one call"}
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
	}
	if req.GetAllFailed() {
		ids = nil
	}
	if proj.RekorURL == "" {
		return nil, failedPreconditionf("project %q does not anchor in Rekor: set a Rekor server first (attest project set --rekor-url)", proj.Name)
	}
	n, err := s.store.RetryAnchors(ctx, proj.ID, ids, s.now())
	if err != nil {
		return nil, err
	}
	if n > 0 {
		s.anchors.nudge()
	}
	s.logger.InfoContext(ctx, "anchors retried", "project", proj.Name, "count", n, "all_failed", req.GetAllFailed())
	return &attestdv1.RetryAnchorsResponse{Retried: int32(n)}, nil
}
