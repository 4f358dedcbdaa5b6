// Package conntrack lets a fake server see its clients' connections: how many they opened, and which
// request is the first on its connection, so a fake can charge a new connection what it costs across
// the internet (a TCP and a TLS handshake) and a benchmark can tell when a client fails to reuse them.
package conntrack

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// Tracker counts connections. Install it with Track; the zero value is ready.
type Tracker struct {
	opened atomic.Int64
}

type firstKey struct{}

// Track makes srv (not started yet) report its connections to t.
func (t *Tracker) Track(srv *http.Server) {
	next := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		t.opened.Add(1)
		if next != nil {
			ctx = next(ctx, c)
		}
		return context.WithValue(ctx, firstKey{}, new(atomic.Bool))
	}
}

// Opened reports how many connections clients have opened.
func (t *Tracker) Opened() int { return int(t.opened.Load()) }

// First reports whether r is the first request on its connection; it is true once per connection
// (and false for servers Track was not installed on).
func First(r *http.Request) bool {
	served, ok := r.Context().Value(firstKey{}).(*atomic.Bool)
	return ok && served.CompareAndSwap(false, true)
}
