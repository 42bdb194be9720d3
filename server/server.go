package server

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
)

// Config is what a Server needs. Store is required; the rest have defaults.
type Config struct {
	Store    store.Store
	Log      Log // required for Submit; Reconcile must run before the server takes submissions
	Limits   attestation.Limits
	Logger   *slog.Logger
	Now      func() time.Time     // the clock for key validity and timestamps
	Registry *prometheus.Registry // where metrics are registered; nil: a private registry
	// VSASigner signs verification summaries (attestd's verifier key); nil: Verify issues none.
	VSASigner VSASigner
	// RekorURLs are the Rekor servers a project admin may anchor the project in (SetProjectRekor), as
	// operators allow: attestd sends requests to the URL, so tenants must not choose where (server-side request
	// forgery). A server admin may set any URL.
	RekorURLs []string
	// AuthCacheTTL is how long a token that authenticated is taken at its word without asking the database
	// again (see authCache); zero: every request reads its token.
	AuthCacheTTL time.Duration
}

// Server implements the attestd gRPC services.
type Server struct {
	attestdv1.UnimplementedProjectServiceServer
	attestdv1.UnimplementedTokenServiceServer
	attestdv1.UnimplementedKeyServiceServer
	attestdv1.UnimplementedAttestationServiceServer
	attestdv1.UnimplementedLogServiceServer
	attestdv1.UnimplementedLayoutServiceServer
	attestdv1.UnimplementedPolicyServiceServer
	attestdv1.UnimplementedVerifyServiceServer

	store   store.Store
	log     Log
	seqMu   sync.Mutex
	seq     *sequencer // set by Reconcile
	limits  attestation.Limits
	logger  *slog.Logger
	now     func() time.Time // clock.now
	clock   *monotonicClock
	metrics *metrics
	vsa     VSASigner
	cache   *verifyCache
	anchors *anchorer
	rekorOK []string // Config.RekorURLs
	auth    *authCache
	dedup   *dedup
	filter  *idFilter // which envelopes dedup need not ask about
}

// New builds a Server from cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limits == (attestation.Limits{}) {
		cfg.Limits = attestation.DefaultLimits()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	clk := newMonotonicClock(cfg.Now, cfg.Logger)
	return &Server{
		store:   cfg.Store,
		log:     cfg.Log,
		limits:  cfg.Limits,
		logger:  cfg.Logger,
		clock:   clk,
		now:     clk.now,
		metrics: newMetrics(cfg.Registry),
		vsa:     cfg.VSASigner,
		cache:   newVerifyCache(),
		anchors: newAnchorer(cfg.Registry),
		rekorOK: trimSlashes(cfg.RekorURLs),
		auth:    newAuthCache(cfg.AuthCacheTTL),
		dedup:   newDedup(cfg.Store),
		filter:  newIDFilter(filterFirstKeys, filterMaxBytes),
	}
}

func (s *Server) sequencer() *sequencer {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	return s.seq
}

// trimSlashes returns urls without their trailing slashes: "https://rekor.example/" and
// "https://rekor.example" name one server.
func trimSlashes(urls []string) []string {
	out := make([]string, 0, len(urls))
	for _, u := range urls {
		out = append(out, strings.TrimRight(u, "/"))
	}
	return out
}
