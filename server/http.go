package server

import (
	"net/http"

	"github.com/attestd/attestd/api"
	"github.com/attestd/attestd/server/web"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness is whether the server can serve: set by WatchHealth, read by /healthz.
type Readiness struct{ ok atomic.Bool }

// Set records the state and reports whether it changed.
func (r *Readiness) Set(ok bool) bool { return r.ok.Swap(ok) != ok }

// Ready reports the last state set.
func (r *Readiness) Ready() bool { return r.ok.Load() }

// NewHTTPHandler serves /healthz (200 while the database answers, 503 otherwise), /metrics (Prometheus text
// format from reg), /openapi.json (the OpenAPI document of the REST/JSON routes under /v1/) and the web page
// for release managers at / (package web; any other path is 404).
func NewHTTPHandler(ready *Readiness, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not serving (database not answering, or shutting down)\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(api.OpenAPI())
	})
	mux.Handle("/", web.Handler())
	return mux
}
