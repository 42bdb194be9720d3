package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/attestd/attestd/internal/store/dbtest"
	"github.com/attestd/attestd/internal/store/postgres"
	"github.com/attestd/attestd/server"
)

// Health follows the database: SERVING while it answers, NOT_SERVING (and /healthz 503) once it does not.
func TestHealthFollowsDatabase(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, dbtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := server.New(server.Config{Store: st, Registry: reg})
	gs, hs := srv.NewGRPCServer(server.GRPCOptions{})
	defer gs.Stop()
	var ready server.Readiness
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.WatchHealth(wctx, hs, &ready, 20*time.Millisecond)
	web := httptest.NewServer(server.NewHTTPHandler(&ready, reg))
	defer web.Close()

	wait := func(want healthpb.HealthCheckResponse_ServingStatus, wantHTTP int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := hs.Check(ctx, &healthpb.HealthCheckRequest{Service: "attestd.v1.AttestationService"})
			r, herr := http.Get(web.URL + "/healthz")
			code := 0
			if herr == nil {
				code = r.StatusCode
				r.Body.Close()
			}
			if err == nil && resp.GetStatus() == want && code == wantHTTP {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %v / HTTP %d, want %v / %d (%v)", resp.GetStatus(), code, want, wantHTTP, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(healthpb.HealthCheckResponse_SERVING, http.StatusOK)
	st.Close() // the database stops answering
	wait(healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable)

	resp, err := http.Get(web.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
}
