package fakegithub

import (
	"net/http"
	"strings"
	"time"
)

// faults is the fault-injection state. It is guarded by Server.mu.
type faults struct {
	latency        time.Duration
	connectLatency time.Duration // more for the first request on a connection
	failNext       int
	failStatus     int
	failUntil      time.Time
	failFor        int // status while now < failUntil
	hook           func(*http.Request) (int, bool)
	redirectNext   int
	redirectTo     string // a base URL: the request's path and query are appended
	redirectStatus int
}

// SetLatency delays every response by d before anything else happens to the
// request, without holding the fake's lock; a client that gives up earlier
// (context deadline) sees its own timeout. Zero turns it off.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
}

// SetConnectLatency adds d to the first request on each new connection, as a TCP and TLS handshake
// would across the internet, so a client that does not reuse its connections pays for it. Zero
// turns it off.
func (s *Server) SetConnectLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.connectLatency = d
}

// FailNext makes the next n requests, of any kind and before authentication,
// answer status with a GitHub-style JSON message. They are counted by Calls
// but not by the rate limits. n <= 0 cancels a pending FailNext.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext = max(n, 0)
	s.faults.failStatus = status
}

// SetFailFor makes every request answer status until d from now (on the
// fake's clock, see SetClock). d <= 0 cancels it.
func (s *Server) SetFailFor(d time.Duration, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		s.faults.failUntil = time.Time{}
		return
	}
	s.faults.failUntil = s.now().Add(d)
	s.faults.failFor = status
}

// SetHandlerHook installs a function consulted on every request after
// SetLatency and before FailNext, SetFailFor, authentication and the
// endpoint; when it returns fail, the request is answered status with a
// JSON message. It runs without the fake's lock, so it may call the
// inspection methods, and it may be called concurrently. It must not read
// the request body. nil removes it.
func (s *Server) SetHandlerHook(hook func(r *http.Request) (status int, fail bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.hook = hook
}

// RedirectNext answers the next n requests, before authentication, with a redirect (status 301,
// 302, 307 or 308) to the same path and query under base, as a repository moved to another host
// or a compromised proxy would. n <= 0 cancels.
func (s *Server) RedirectNext(n int, base string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.redirectNext, s.faults.redirectTo, s.faults.redirectStatus = max(n, 0), strings.TrimSuffix(base, "/"), status
}

// takeRedirect consumes a pending RedirectNext: the Location and status to answer.
func (s *Server) takeRedirect(r *http.Request) (string, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.redirectNext == 0 {
		return "", 0, false
	}
	s.faults.redirectNext--
	return s.faults.redirectTo + r.URL.RequestURI(), s.faults.redirectStatus, true
}

// takeFault consumes a pending FailNext, or reports an active SetFailFor.
func (s *Server) takeFault() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.failNext > 0 {
		s.faults.failNext--
		return s.faults.failStatus, true
	}
	if !s.faults.failUntil.IsZero() && s.now().Before(s.faults.failUntil) {
		return s.faults.failFor, true
	}
	return 0, false
}

// writeFault answers an injected failure. The rate-limit headers are set
// without counting the request; an injected 403 is therefore a plain
// *github.ErrorResponse unless the primary limit is already used up.
func (s *Server) writeFault(w http.ResponseWriter, status int) {
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	s.mu.Lock()
	s.setRateHeadersLocked(w.Header(), "core")
	s.mu.Unlock()
	msg := http.StatusText(status)
	if msg == "" {
		msg = "Injected failure"
	}
	writeError(w, status, msg+" (injected by fakegithub)")
}
