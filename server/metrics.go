package server

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, registered on the registry given in Config.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	accepted *prometheus.CounterVec
	// stages times the parts of a Submit that wait on others: the log's sequencing of its leaf and the
	// database's commit of its row (both shared with concurrent submissions).
	stages *prometheus.HistogramVec
	// dupChecks counts Submit's duplicate checks by what answered: the filter (a new envelope, no query) or
	// the database.
	dupChecks *prometheus.CounterVec
}

// The stages of Submit in attestd_submit_stage_duration_seconds.
const (
	stageLog   = "log"
	stageStore = "store"
)

// What answered a duplicate check, in attestd_submit_duplicate_checks_total.
const (
	checkedByFilter   = "filter"
	checkedByDatabase = "database"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_grpc_requests_total",
			Help: "gRPC requests handled, by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "attestd_grpc_request_duration_seconds",
			Help:    "gRPC request latency, by method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_attestations_submitted_total",
			Help: "Accepted submissions, by whether they stored a new attestation (created) or found it (existing).",
		}, []string{"result"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "attestd_submit_stage_duration_seconds",
			Help: "Time a new submission spends in each shared stage: log (its leaf sequenced, durably) and " +
				"store (its row committed, in a group).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"stage"}),
		dupChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attestd_submit_duplicate_checks_total",
			Help: "Submit's checks for an envelope stored already, by what answered: filter (certainly new, no " +
				"query) or database.",
		}, []string{"by"}),
	}
	reg.MustRegister(m.requests, m.latency, m.accepted, m.stages, m.dupChecks)
	return m
}
