package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthzURL(t *testing.T) {
	cases := []struct{ addr, want, err string }{
		{"", "http://127.0.0.1:8080/healthz", ""},
		{":9090", "http://127.0.0.1:9090/healthz", ""},
		{"0.0.0.0:9090", "http://127.0.0.1:9090/healthz", ""},
		{"[::]:9090", "http://127.0.0.1:9090/healthz", ""},
		{"10.0.0.5:9090", "http://10.0.0.5:9090/healthz", ""},
		{"localhost:9090", "http://localhost:9090/healthz", ""},
		{"[::1]:9090", "http://[::1]:9090/healthz", ""},
		{"8080", "", "is not HOST:PORT"},
		{":0", "", "is not HOST:PORT"},
	}
	for _, tc := range cases {
		got, err := healthzURL(tc.addr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.addr, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}

// serve runs h on 127.0.0.1 and returns DISPATCH_HTTP_ADDR as ":PORT", the way the bot is configured.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ":" + port
}

func TestHealthcheck(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cases := []struct {
		name string
		addr func(t *testing.T) string
		code int
		err  string
	}{
		{"healthy", func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" || r.Method != http.MethodGet {
					http.NotFound(w, r)
					return
				}
				_, _ = w.Write([]byte(`{"status":"ok"}`))
			})
		}, 0, ""},
		{"unhealthy", func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		}, 1, "503"},
		{"nothing listening", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return addr
		}, 1, "connection refused"},
		{"hung", func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
		}, 1, "deadline exceeded"},
		{"bad address", func(*testing.T) string { return "nonsense" }, 1, "DISPATCH_HTTP_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := healthcheck(func(k string) string {
				if k == "DISPATCH_HTTP_ADDR" {
					return addr
				}
				return ""
			}, &stdout, &stderr, 500*time.Millisecond)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.err) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.err)
			}
			// The promise is a bound: a hung bot must not hang its health check.
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// `dispatch healthcheck` is a command of the binary, as the Dockerfile's HEALTHCHECK runs it.
func TestHealthcheckCommand(t *testing.T) {
	t.Setenv("DISPATCH_HTTP_ADDR", serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) }))
	var stdout, stderr bytes.Buffer
	if code := run([]string{"healthcheck"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Errorf("dispatch healthcheck: exit %d, stderr %q", code, stderr.String())
	}
}
