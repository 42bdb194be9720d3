package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
)

// Log is the seam for the transparency log. When a Server has one, Submit appends every newly stored
// attestation and acknowledges only after the log has sequenced it. Until the log lands, Server runs without.
type Log interface {
	Append(ctx context.Context, a store.Attestation) (index uint64, err error)
}

// Config is what a Server needs. Store is required; the rest have defaults.
type Config struct {
	Store    store.Store
	Log      Log // optional
	Limits   attestation.Limits
	Logger   *slog.Logger
	Now      func() time.Time     // the clock for key validity and timestamps
	Registry *prometheus.Registry // where metrics are registered; nil: a private registry
}

// Server implements the attestd gRPC services.
type Server struct {
	attestdv1.UnimplementedProjectServiceServer
	attestdv1.UnimplementedTokenServiceServer
	attestdv1.UnimplementedKeyServiceServer
	attestdv1.UnimplementedAttestationServiceServer

	store   store.Store
	log     Log
	limits  attestation.Limits
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics
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
	return &Server{
		store:   cfg.Store,
		log:     cfg.Log,
		limits:  cfg.Limits,
		logger:  cfg.Logger,
		now:     func() time.Time { return cfg.Now().UTC() },
		metrics: newMetrics(cfg.Registry),
	}
}
