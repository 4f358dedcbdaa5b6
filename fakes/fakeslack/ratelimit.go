package fakeslack

import (
	"net/http"
	"time"
)

// Slack's Web API tiers (docs.slack.dev, "Rate limits" and each method's page), per method, per
// workspace, per app: Tier 2 about 20 calls a minute, Tier 3 about 50, Tier 4 about 100, with short
// bursts. chat.postMessage is special: about one message a second per channel (SetPostRateLimit)
// and several hundred a minute per workspace (300 here). chat.getPermalink is "special" and
// unpublished; it is held to Tier 3. auth.test and apps.connections.open are not limited.
var defaultLimits = map[string]int{
	"users.list":            20,
	"users.info":            100,
	"users.lookupByEmail":   50,
	"conversations.open":    50,
	"conversations.history": 50,
	"conversations.replies": 50,
	"chat.update":           50,
	"chat.getPermalink":     50,
	"chat.postEphemeral":    100,
	"views.publish":         100,
	"views.open":            100,
	"views.update":          100,
	"chat.postMessage":      300,
}

// Default per-channel limit of chat.postMessage: one a second, bursts of up to 4.
const (
	defaultPostPerSecond = 1
	defaultPostBurst     = 4
)

// methodLimit is a sliding window: at most limit calls arrived in any window. A burst of up to
// limit is answered at once, as Slack tolerates short bursts; the next call waits for the oldest
// to leave the window.
type methodLimit struct {
	limit    int
	window   time.Duration
	arrivals []time.Time // oldest first, within the window
}

// admit counts a call arriving at now, or reports how long until one could.
func (l *methodLimit) admit(now time.Time) (retryAfter time.Duration, ok bool) {
	for len(l.arrivals) > 0 && now.Sub(l.arrivals[0]) >= l.window {
		l.arrivals = l.arrivals[1:]
	}
	if len(l.arrivals) >= l.limit {
		return l.arrivals[0].Add(l.window).Sub(now), false
	}
	l.arrivals = append(l.arrivals, now)
	return 0, true
}

// defaultMethodLimits builds the server's limits at the given time scale.
func defaultMethodLimits(scale float64) map[string]*methodLimit {
	out := make(map[string]*methodLimit, len(defaultLimits))
	for m, n := range defaultLimits {
		out[m] = &methodLimit{limit: n, window: time.Duration(float64(time.Minute) / scale)}
	}
	return out
}

// SetMethodLimit sets method's limit to at most n calls in any window; n <= 0 removes it. Every
// method the fake serves starts with Slack's published tier (on by default); a test that relaxes
// one must say why.
func (s *Server) SetMethodLimit(method string, n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 || window <= 0 {
		delete(s.limits, method)
		return
	}
	s.limits[method] = &methodLimit{limit: n, window: window}
}

// SetTimeScale runs every default limit (the tiers and chat.postMessage's per-channel limit) on
// a clock scale times faster, for a benchmark: Tier 3's minute becomes a minute/scale. It resets
// the limits' counts and any SetMethodLimit or SetPostRateLimit setting.
func (s *Server) SetTimeScale(scale float64) {
	if scale <= 0 {
		scale = 1
	}
	s.mu.Lock()
	s.limits = defaultMethodLimits(scale)
	s.mu.Unlock()
	s.SetPostRateLimit(defaultPostPerSecond*scale, defaultPostBurst)
}

// NoLimits turns every rate limit off. For tests of something else that would otherwise wait
// minutes of real time; such a test must say so.
func (s *Server) NoLimits() {
	s.mu.Lock()
	s.limits = map[string]*methodLimit{}
	s.mu.Unlock()
	s.SetPostRateLimit(0, 0)
}

// RateLimited reports how many calls of method ("" for all) were answered 429 by a limit (not by
// FailNext).
func (s *Server) RateLimited(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return countOf(s.limited, method)
}

// countOf is counts[method], or the sum of all counts for method "".
func countOf(counts map[string]int, method string) int {
	if method != "" {
		return counts[method]
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return total
}

// admitLocked applies method's limit; a refusal is Slack's answer: HTTP 429, Retry-After in whole
// seconds (at least 1), {"ok":false,"error":"ratelimited"}.
func (s *Server) admitLocked(method string, now time.Time) (reply, bool) {
	l, ok := s.limits[method]
	if !ok {
		return reply{}, true
	}
	wait, ok := l.admit(now)
	if ok {
		return reply{}, true
	}
	s.limited[method]++
	return rateLimitedReply(wait), false
}

func rateLimitedReply(wait time.Duration) reply {
	return reply{status: http.StatusTooManyRequests, retryAfter: max(wait, time.Second), body: map[string]any{"ok": false, "error": "ratelimited"}}
}
