package bot

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// PprofEnv names the setting (Config.Pprof) that adds Go's profiler to the health server:
// DISPATCH_PPROF=true serves /debug/pprof/ (CPU, heap, goroutines…) next to /metrics. It is off by
// default because profiles reveal the program's internals and a CPU profile costs CPU while it
// runs: turn it on to measure, on an address that is not reachable from outside.
const PprofEnv = "DISPATCH_PPROF"

// health answers /healthz (the process is alive), /readyz (Slack connected and the queue reachable)
// and /metrics (Prometheus), and /debug/pprof/ when PprofEnv is set.
func (b *Bot) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		slackUp := b.socket.Connected()
		queueErr := b.queueErr()
		status, code := "ready", http.StatusOK
		if !slackUp || queueErr != nil {
			status, code = "not ready", http.StatusServiceUnavailable
		}
		body := map[string]any{"status": status, "slack_connected": slackUp, "queue_reachable": queueErr == nil}
		if queueErr != nil {
			// A member-safe sentence: no account, ARN or URL (the receive loop logs the detail).
			body["queue_error"] = problemText(queueErr)
		}
		writeJSON(w, code, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.metrics.Registry, promhttp.HandlerOpts{}))
	if b.cfg.Pprof {
		mountPprof(mux)
		b.log.Info().Msg("profiler on: /debug/pprof/ is served on DISPATCH_HTTP_ADDR")
	}
	return mux
}

// mountPprof serves net/http/pprof's handlers on mux (importing the package also registers them
// on http.DefaultServeMux, which dispatch never serves).
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // named profiles: heap, allocs, goroutine, block, mutex…
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol) // go tool pprof posts addresses
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// problemText is a queue error as /readyz and /dispatch status may show it.
func problemText(err error) string {
	var p *sqsqueue.Problem
	if errors.As(err, &p) {
		return p.Public()
	}
	return "the queue is unreachable (the detail is in dispatch's log)"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serveHTTP listens on addr until ctx ends. The listener is opened before it returns, so the address
// (":0" in tests) is known.
func (b *Bot) serveHTTP(ctx context.Context, addr string) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: b.healthHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if err == http.ErrServerClosed {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), done, nil
}
