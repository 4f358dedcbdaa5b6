package fakepagerduty

import (
	"net/http"
	"time"
)

// faults holds the injected misbehaviour; guarded by Server.mu.
type faults struct {
	latency time.Duration

	failNext       int
	failNextStatus int

	failUntil     time.Time
	failForStatus int

	perMinute  int
	accepted   map[string][]time.Time // per routing key, within the last minute
	violations int
}

// SetLatency delays every later request by d before it is handled; zero
// turns the delay off. A client that gives up first sees its own timeout.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.latency = d
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.perMinute = max(perMinute, 0)
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
	if f.perMinute == 0 {
		return true
	}
	recent := f.accepted[routingKey]
	for len(recent) > 0 && now.Sub(recent[0]) >= time.Minute {
		recent = recent[1:]
	}
	if len(recent) >= f.perMinute {
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
