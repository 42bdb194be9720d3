package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/attestd/attestd/internal/rekor"
)

// runRekor uploads the same kind of envelopes as submit to a Rekor v1 server, with the same clients and
// schedule, so that the two runs' throughputs and latencies compare.
func runRekor(ctx context.Context, e *env, cfg *config) error {
	progress := e.progress(cfg)
	signer, err := newSigner(cfg.keyKind)
	if err != nil {
		return err
	}
	m, err := newMaker(ctx, signer, cfg.envBytes, cfg.subjects)
	if err != nil {
		return err
	}
	// One envelope more than the load: the first upload, untimed, checks that Rekor is there.
	envs, err := makeEnvelopes(ctx, m, cfg.count+1, progress)
	if err != nil {
		return err
	}
	probe, envs := envs[cfg.count], envs[:cfg.count]
	if e.prepared != nil {
		e.prepared(envs)
	}
	// One client (one HTTP connection pool) per connection; no retries, so that every refusal is counted
	// and no latency hides a retry.
	clients := make([]*rekor.Client, cfg.conns)
	for i := range clients {
		if clients[i], err = rekor.NewClient(cfg.rekorURL, rekor.WithRetries(0), rekor.WithTimeout(cfg.timeout)); err != nil {
			return err
		}
	}
	keys := [][]byte{signer.PublicPEM()}
	if _, err := clients[0].UploadDSSE(ctx, probe, keys); err != nil {
		return fmt.Errorf("first upload to %s: %w", cfg.rekorURL, err)
	}
	do := func(ctx context.Context, w int, i int64) (int, string) {
		_, err := clients[w%len(clients)].UploadDSSE(ctx, envs[i], keys)
		return 0, rekorCode(err)
	}
	rep := &report{Command: "rekor", Target: cfg.rekorURL, Clients: cfg.clients, Conns: cfg.conns, Loop: "closed", Rate: cfg.rate,
		EnvelopeBytes: cfg.envBytes, Subjects: cfg.subjects, Key: cfg.keyKind}
	if cfg.rate > 0 {
		rep.Loop = "open"
	}
	mt := newMeter(cfg, procfs{root: "/proc"})
	p := plan{name: "rekor", clients: cfg.clients, count: cfg.count, duration: cfg.duration, rate: cfg.rate,
		timeout: cfg.timeout, progress: progress}
	o, err := mt.measure(ctx, p, do)
	if err != nil {
		return err
	}
	rep.fill(o)
	mt.finish(rep, o)
	rep.Notes = append(rep.Notes, "the load's CPU includes the Rekor client's own check of each envelope's signatures before upload")
	if cfg.limits {
		if rep.Limits, err = measureLimits(context.WithoutCancel(ctx), cfg, progress); err != nil {
			return err
		}
	}
	return rep.print(e.stdout, cfg.json)
}

// rekorCode names the failure of an upload: HTTP_<status> for an answer with an error status, DEADLINE_EXCEEDED
// for --timeout, UNAVAILABLE or PERMANENT for the Rekor client's other errors; "" for nil.
func rekorCode(err error) string {
	var se *rekor.StatusError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return fmt.Sprintf("HTTP_%d", se.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "DEADLINE_EXCEEDED"
	case errors.Is(err, context.Canceled):
		return "CANCELLED"
	case errors.Is(err, rekor.ErrPermanent):
		return "PERMANENT"
	default:
		return "UNAVAILABLE"
	}
}
