package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
)

// runAttestd runs submit, get, verify or soak against attestd.
func runAttestd(ctx context.Context, e *env, cfg *config) error {
	progress := e.progress(cfg)
	s, err := setup(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	rep := &report{Command: cfg.op, Target: cfg.server, Project: s.project, Clients: cfg.clients, Conns: cfg.conns,
		Loop: "closed", Rate: cfg.rate}
	if cfg.rate > 0 {
		rep.Loop = "open"
	}
	var do op
	var kinds []string
	var stream *envelopeStream
	switch cfg.op {
	case "submit", "soak":
		rep.EnvelopeBytes, rep.Subjects, rep.Key = cfg.envBytes, cfg.subjects, cfg.keyKind
		m, err := newMaker(ctx, s.signer, cfg.envBytes, cfg.subjects)
		if err != nil {
			return err
		}
		if cfg.op == "soak" {
			// Signed as the soak goes, a few seconds ahead: its length is not bounded by memory.
			stream = startStream(ctx, m, cfg.count, cfg.streamAhead(), runtime.GOMAXPROCS(0))
			defer stream.stop()
			if err := stream.fill(ctx, cfg.count); err != nil {
				return err
			}
			do = submitStreamOp(s, stream)
		} else {
			envs, err := makeEnvelopes(ctx, m, cfg.count, progress)
			if err != nil {
				return err
			}
			if e.prepared != nil {
				e.prepared(envs)
			}
			do = submitOp(s, envs)
		}
		if err := s.connect(ctx, cfg.server, "attestor", cfg.conns); err != nil {
			return err
		}
	case "get":
		rep.EnvelopeBytes, rep.Subjects, rep.Key = cfg.envBytes, cfg.subjects, cfg.keyKind
		if do, err = prepareGet(ctx, cfg, s, progress); err != nil {
			return err
		}
		kinds = []string{"Get", "List"}
	case "verify":
		rep.Key = cfg.keyKind
		if do, err = prepareVerify(ctx, cfg, s, progress); err != nil {
			return err
		}
	}
	if e.ready != nil {
		if err := e.ready(ctx, s); err != nil {
			return err
		}
	}
	m := newMeter(cfg, procfs{root: "/proc"})
	if err := m.findAttestd(cfg); err != nil {
		return err
	}
	p := plan{name: cfg.op, kinds: kinds, clients: cfg.clients, count: cfg.count, duration: cfg.duration, rate: cfg.rate,
		timeout: cfg.timeout, progress: progress}
	o, err := m.measure(ctx, p, do)
	if err != nil {
		return err
	}
	rep.fill(o)
	m.finish(rep, o)
	if stream != nil {
		if w := stream.waits.Load(); w > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d submission(s) waited for the tool to sign their envelope: "+
				"their latency includes that wait", w))
		}
	}
	if err := s.revoke(context.WithoutCancel(ctx)); err != nil {
		rep.Notes = append(rep.Notes, err.Error())
	}
	if cfg.limits {
		l, err := measureLimits(context.WithoutCancel(ctx), cfg, progress)
		if err != nil {
			return err
		}
		rep.Limits = l
	}
	return rep.print(e.stdout, cfg.json)
}

// progress is where progress lines go: standard error unless --quiet.
func (e *env) progress(cfg *config) io.Writer {
	if cfg.quiet {
		return nil
	}
	return e.stderr
}

// submitOp submits envelope i; a receipt that says the envelope was there already counts as DUPLICATE, since
// every envelope of a run is new.
func submitOp(s *session, envs [][]byte) op {
	return func(ctx context.Context, w int, i int64) (int, string) {
		return 0, submitEnvelope(ctx, s, w, envs[i])
	}
}

// submitEnvelope submits env from client w and returns the error code of the answer ("" for a new receipt).
func submitEnvelope(ctx context.Context, s *session, w int, env []byte) string {
	resp, err := s.conn(w).Attestations.Submit(ctx, &attestdv1.SubmitRequest{Envelope: env})
	if err != nil {
		return grpcCode(err)
	}
	if !resp.GetReceipt().GetCreated() {
		return "DUPLICATE"
	}
	return ""
}

// submitStreamOp submits the next envelope of stream; an envelope the tool could not sign counts as the error
// SIGNING.
func submitStreamOp(s *session, stream *envelopeStream) op {
	return func(ctx context.Context, w int, i int64) (int, string) {
		env, err := stream.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0, grpcCode(ctx.Err())
			}
			return 0, "SIGNING"
		}
		return 0, submitEnvelope(ctx, s, w, env)
	}
}

// prepareGet submits --prefill attestations (untimed, with the load's clients), then returns the op that
// reads one of them at random: Get by id (kind 0) or List by the digest of its first subject (kind 1).
func prepareGet(ctx context.Context, cfg *config, s *session, progress io.Writer) (op, error) {
	m, err := newMaker(ctx, s.signer, cfg.envBytes, cfg.subjects)
	if err != nil {
		return nil, err
	}
	envs, err := makeEnvelopes(ctx, m, int64(cfg.prefill), progress)
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx, cfg.server, "attestor", cfg.conns); err != nil {
		return nil, err
	}
	ids := make([]string, len(envs))
	fill := func(ctx context.Context, w int, i int64) (int, string) {
		resp, err := s.conn(w).Attestations.Submit(ctx, &attestdv1.SubmitRequest{Envelope: envs[i]})
		if err != nil {
			return 0, grpcCode(err)
		}
		ids[i] = resp.GetReceipt().GetId()
		return 0, ""
	}
	o := drive(ctx, plan{name: "prefill", clients: cfg.clients, count: int64(len(envs)), timeout: cfg.timeout, progress: progress}, fill)
	if o.ok != int64(len(envs)) {
		return nil, fmt.Errorf("prefill: %d of %d submissions failed: %s", int64(len(envs))-o.ok, len(envs), errorLine(o.errors))
	}
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	if err := s.connect(ctx, cfg.server, "reader", cfg.conns); err != nil {
		return nil, err
	}
	rnds := make([]*rand.Rand, cfg.clients)
	for w := range rnds {
		rnds[w] = rand.New(rand.NewPCG(uint64(w), 0x6c6f6164))
	}
	return func(ctx context.Context, w int, _ int64) (int, string) {
		j := rnds[w].IntN(len(ids))
		c := s.conn(w)
		if rnds[w].IntN(2) == 0 {
			resp, err := c.Attestations.Get(ctx, &attestdv1.GetRequest{Id: ids[j]})
			if err != nil {
				return 0, grpcCode(err)
			}
			if resp.GetAttestation().GetReceipt().GetId() != ids[j] {
				return 0, "WRONG_ANSWER"
			}
			return 0, ""
		}
		resp, err := c.Attestations.List(ctx, &attestdv1.ListRequest{SubjectDigest: "sha256:" + m.subjectDigest(int64(j), 0), PageSize: 10})
		if err != nil {
			return 1, grpcCode(err)
		}
		if a := resp.GetAttestations(); len(a) != 1 || a[0].GetReceipt().GetId() != ids[j] {
			return 1, "WRONG_ANSWER"
		}
		return 1, ""
	}, nil
}
