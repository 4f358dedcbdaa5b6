package fakeslack

import (
	"maps"
	"math"
	"net/http"
	"time"
)

// failure is an injected HTTP-level failure (FailNext).
type failure struct {
	n          int
	status     int
	retryAfter time.Duration
	until      time.Time // set by FailFor: every call fails until then, n is not counted
}

func (f *failure) reply() reply {
	switch f.status {
	case http.StatusTooManyRequests:
		return reply{status: f.status, retryAfter: f.retryAfter, body: map[string]any{"ok": false, "error": "ratelimited"}}
	case http.StatusServiceUnavailable:
		// Slack's own answer when it is down ("service_unavailable" in every method's errors);
		// other 5xx come from the load balancers in front of it, as an HTML page.
		return reply{status: f.status, retryAfter: f.retryAfter, body: map[string]any{"ok": false, "error": "service_unavailable"}}
	}
	return reply{status: f.status, retryAfter: f.retryAfter, body: "<html><body>fakeslack: injected failure</body></html>"}
}

// slackError is an injected {"ok":false} answer (SetError).
type slackError struct {
	n    int
	code string
}

// SetLatency delays every answer of method by d before anything else happens; method ""
// applies to every method that has no delay of its own. d <= 0 removes the delay.
func (s *Server) SetLatency(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, method)
		return
	}
	s.latency[method] = d
}

func (s *Server) latencyLocked(method string) time.Duration {
	if d, ok := s.latency[method]; ok {
		return d
	}
	return s.latency[""]
}

// SetConnectLatency adds d to the first request on each new connection (Web API, response URLs
// and the Socket Mode dial alike), as a TCP and TLS handshake would across the internet, so a
// client that does not reuse its connections pays for it. Zero turns it off.
func (s *Server) SetConnectLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectLatency = d
}

// connectDelay sleeps the connect latency; false when the request or the server ended first.
func (s *Server) connectDelay(r *http.Request) bool {
	s.mu.Lock()
	d := s.connectLatency
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

// FailNext makes the next n calls of method answer with HTTP status instead of running. A
// 429 carries a Retry-After header (whole seconds, rounded up) when retryAfter > 0, which
// slack-go turns into *slack.RateLimitedError; any other status, or a 429 without
// Retry-After, becomes slack.StatusCodeError. Method "" matches calls of any method that
// has no failure of its own. A later call replaces the earlier setting; n <= 0 clears it.
func (s *Server) FailNext(method string, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.failures, method)
		return
	}
	s.failures[method] = &failure{n: n, status: status, retryAfter: retryAfter}
}

// FailFor makes every call of method (""; any method without a failure of its own) answer with
// HTTP status for d from now, as in an outage of Slack; it replaces an earlier FailNext or FailFor
// of method. d <= 0 clears it.
func (s *Server) FailFor(method string, d time.Duration, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.failures, method)
		return
	}
	s.failures[method] = &failure{status: status, until: time.Now().Add(d)}
}

func (s *Server) takeFailureLocked(method string) *failure {
	for _, key := range []string{method, ""} {
		if f, ok := s.failures[key]; ok {
			if !f.until.IsZero() {
				if time.Now().Before(f.until) {
					return f
				}
				delete(s.failures, key)
				continue
			}
			f.n--
			if f.n <= 0 {
				delete(s.failures, key)
			}
			return f
		}
	}
	return nil
}

// SetError makes the next n authenticated calls of method answer
// {"ok":false,"error":slackError} (HTTP 200), which slack-go returns as
// slack.SlackErrorResponse. Method "" matches any method without its own setting. A later
// call replaces the earlier one; n <= 0 clears it.
func (s *Server) SetError(method, slackErrorCode string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.slackErrors, method)
		return
	}
	s.slackErrors[method] = &slackError{n: n, code: slackErrorCode}
}

func (s *Server) takeSlackErrorLocked(method string) string {
	for _, key := range []string{method, ""} {
		if e, ok := s.slackErrors[key]; ok {
			e.n--
			if e.n <= 0 {
				delete(s.slackErrors, key)
			}
			return e.code
		}
	}
	return ""
}

// Calls returns how many requests reached method, failed ones included; "" counts every
// method.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countOf(s.calls, method)
}

// CallCounts returns how many requests reached each method, failed ones included, keyed by
// method name ("chat.postMessage").
func (s *Server) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ServiceTime reports how long the Web API has spent answering calls, SetLatency's delays
// excluded: the share of a client's wait that is the fake's own work, which a benchmark of the
// client must not count against it.
func (s *Server) ServiceTime() time.Duration { return s.serviceTime.Total() }

// PostLimitViolations reports how many chat.postMessage calls SetPostRateLimit's limit refused.
func (s *Server) PostLimitViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.postViolations
}

// postLimit is a token bucket per channel for chat.postMessage, like Slack's "about one
// message per second per channel, short bursts allowed".
type postLimit struct {
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// SetPostRateLimit limits chat.postMessage to perChannelPerSecond messages per channel with
// bursts of up to burst; a post over the limit answers HTTP 429 with Retry-After: 1 (and
// stores nothing). perChannelPerSecond <= 0 turns the limit off. The default is Slack's: one a
// second with bursts of 4.
func (s *Server) SetPostRateLimit(perChannelPerSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perChannelPerSecond <= 0 {
		s.postLimit = nil
		return
	}
	s.postLimit = newPostLimit(perChannelPerSecond, burst)
}

func newPostLimit(perChannelPerSecond float64, burst int) *postLimit {
	return &postLimit{rate: perChannelPerSecond, burst: float64(max(burst, 1)), buckets: map[string]*bucket{}}
}

// allowPostLocked takes a token from the channel's bucket, reporting false when it is empty.
func (s *Server) allowPostLocked(channel string, now time.Time) bool {
	l := s.postLimit
	if l == nil {
		return true
	}
	b, ok := l.buckets[channel]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[channel] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		s.postViolations++
		return false
	}
	b.tokens--
	return true
}
