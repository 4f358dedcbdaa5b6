package fakepagerduty

import (
	"net/http"
	"time"
)

// faults holds the injected misbehaviour; guarded by Server.mu.
type faults struct {
	latency        time.Duration
	connectLatency time.Duration // more for the first request on a connection

	failNext       int
	failNextStatus int

	failUntil     time.Time
	failForStatus int

	perWindow  int
	window     time.Duration
	accepted   map[string][]time.Time // per routing key, within the last window
	violations int
}

// SetLatency delays every later request by d before it is handled; zero
// turns the delay off. A client that gives up first sees its own timeout.
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

// FailNext makes the next n requests fail with HTTP status (500, 502, 429,
// ...) before they are read; n <= 0 cancels. Failed requests record
// nothing.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failNext, s.faults.failNextStatus = max(n, 0), status
}

// SetFailFor makes every request fail with HTTP status for the next d; d <= 0
// cancels.
func (s *Server) SetFailFor(d time.Duration, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.failUntil, s.faults.failForStatus = time.Now().Add(d), status
}

// SetRateLimit accepts at most perMinute valid events per routing key in any
// sliding minute and answers the rest with 429 {"status":"throttle event",
// ...}, as PagerDuty does; perMinute <= 0 turns the limit off.
func (s *Server) SetRateLimit(perMinute int) {
	s.SetRateLimitWindow(perMinute, time.Minute)
}

// SetRateLimitWindow is SetRateLimit with a window other than a minute: at most n valid events
// per routing key in any sliding window (a benchmark's time scale shrinks the minute). n <= 0 or
// window <= 0 turns the limit off. Calling it forgets earlier events.
func (s *Server) SetRateLimitWindow(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 || window <= 0 {
		n, window = 0, 0
	}
	s.faults.perWindow, s.faults.window = n, window
	s.faults.accepted = make(map[string][]time.Time)
}

// LimitViolations returns how many events SetRateLimit's limit turned away.
func (s *Server) LimitViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.violations
}

// injectedFailure reports whether FailNext or SetFailFor claims this request.
func (s *Server) injectedFailure() (status int, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	if f.failNext > 0 {
		f.failNext--
		return f.failNextStatus, true
	}
	if time.Now().Before(f.failUntil) {
		return f.failForStatus, true
	}
	return 0, false
}

// allow applies the rate limit to one valid event; the caller holds s.mu.
func (f *faults) allow(routingKey string, now time.Time) bool {
	if f.perWindow == 0 {
		return true
	}
	recent := f.accepted[routingKey]
	for len(recent) > 0 && now.Sub(recent[0]) >= f.window {
		recent = recent[1:]
	}
	if len(recent) >= f.perWindow {
		f.accepted[routingKey] = recent
		f.violations++
		return false
	}
	f.accepted[routingKey] = append(recent, now)
	return true
}

// failureBody is the answer for an injected failure or a throttled event.
func failureBody(status int) response {
	if status == http.StatusTooManyRequests {
		return response{Status: "throttle event", Message: "Requests for this service are arriving too quickly. Please retry later."}
	}
	return response{Status: "error", Message: http.StatusText(status)}
}
