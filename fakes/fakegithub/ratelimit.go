package fakegithub

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// github.com's documented defaults.
const (
	defaultPrimaryLimit  = 5000
	defaultPrimaryWindow = time.Hour
	defaultSearchLimit   = 30 // search requests a minute, counted apart from the rest
	defaultSearchWindow  = time.Minute
)

// Window is one secondary limit: at most Limit content-creating requests in any sliding Span.
type Window struct {
	Limit int
	Span  time.Duration
}

// DefaultSecondaryLimits are github.com's documented secondary limits on content-creating
// requests: 80 a minute and 500 an hour.
var DefaultSecondaryLimits = []Window{{Limit: 80, Span: time.Minute}, {Limit: 500, Span: time.Hour}}

// secondaryDocURL ends in "secondary-rate-limits", which is what go-github
// looks for to return *github.AbuseRateLimitError.
const secondaryDocURL = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

// rateLimits is the limiter state. It is guarded by Server.mu.
type rateLimits struct {
	primaries map[string]primaryLimit // by resource: "core", "search"
	windows   map[string]*rateWindow  // by resource

	points       int           // secondary: points in any sliding pointsSpan; <= 0: off
	pointsSpan   time.Duration // one minute on github.com
	pointLog     []pointRec    // admitted requests' points, oldest first, within pointsSpan
	concurrency  int           // secondary: requests in flight at once; <= 0: off
	inFlight     int
	peakPoints   int // the most points any window held
	peakInFlight int

	secondary []Window    // sliding windows for content-creating requests; empty: off
	recent    []time.Time // admitted content-creating requests, oldest first, at most the largest limit

	violations int
}

// rateWindow is one fixed primary window, which starts at its first request,
// like github.com's.
type rateWindow struct {
	start time.Time
	used  int
}

func defaultRateLimits() rateLimits {
	return rateLimits{
		primaries: map[string]primaryLimit{
			"core":   {n: defaultPrimaryLimit, def: defaultPrimaryLimit, window: defaultPrimaryWindow},
			"search": {n: defaultSearchLimit, def: defaultSearchLimit, window: defaultSearchWindow},
		},
		windows:     map[string]*rateWindow{},
		secondary:   append([]Window(nil), DefaultSecondaryLimits...),
		points:      DefaultPointsPerMinute,
		pointsSpan:  time.Minute,
		concurrency: DefaultConcurrency,
	}
}

// SetPrimaryLimit allows n requests per window to the "core" rate-limit
// resource (everything but /search/…, which SetSearchLimit governs), counted
// across all tokens. Once the n requests are used, further requests are
// answered 403 with X-RateLimit-Remaining 0 and "API rate limit exceeded…"
// until the window, which starts at its first request, ends; go-github turns
// that into *github.RateLimitError. n <= 0 disables enforcement, and the
// remaining count reported then never reaches 0. Calling it starts new windows.
// Default: 5,000 per hour. GET /rate_limit and /app/… requests are not counted,
// nor conditional requests answered 304 Not Modified.
func (s *Server) SetPrimaryLimit(n int, window time.Duration) { s.setPrimary("core", n, window) }

// SetSearchLimit allows n requests to /search/… per window ("x-ratelimit-resource: search"),
// counted apart from the core limit and answered like it once used up. n <= 0 disables it.
// Calling it starts a new search window. Default: github.com's 30 a minute for an
// authenticated client.
func (s *Server) SetSearchLimit(n int, window time.Duration) { s.setPrimary("search", n, window) }

// setPrimary sets resource's limit (window <= 0: its default window) and starts a new window.
func (s *Server) setPrimary(resource string, n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limits.primaries[resource]
	l.n = n
	l.window = window
	if window <= 0 {
		l.window = defaultRateLimits().primaries[resource].window
	}
	s.limits.primaries[resource] = l
	delete(s.limits.windows, resource)
}

// SetSecondaryLimit allows perMinute content-creating requests (POST, PATCH,
// PUT, DELETE) in any sliding minute, counted across all tokens. The next one
// is answered 403 with Retry-After set to the seconds until a slot frees and
// the secondary-rate-limit message and documentation_url, which go-github
// turns into *github.AbuseRateLimitError. Rejected requests take no slot.
// perMinute <= 0 disables the secondary limits. It replaces every secondary window, the hourly
// one included (see SetSecondaryLimits). Default: github.com's 80 a minute and 500 an hour.
func (s *Server) SetSecondaryLimit(perMinute int) {
	if perMinute <= 0 {
		s.SetSecondaryLimits()
		return
	}
	s.SetSecondaryLimits(Window{Limit: perMinute, Span: time.Minute})
}

// SetSecondaryLimits replaces the secondary limits with windows, each allowing Limit
// content-creating requests in any sliding Span, counted across all tokens; a request is refused
// as SetSecondaryLimit describes, with Retry-After the whole seconds (at least 1) until every
// window has a free slot. Windows with Limit or Span <= 0 are ignored; none disables the limits.
// Shorter spans with the same limits model github.com's at a faster clock (a benchmark's time
// scale). Default: DefaultSecondaryLimits. Calling it forgets earlier requests.
func (s *Server) SetSecondaryLimits(windows ...Window) {
	var keep []Window
	for _, w := range windows {
		if w.Limit > 0 && w.Span > 0 {
			keep = append(keep, w)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.secondary = keep
	s.limits.recent = nil
}

// LimitViolations reports how many requests were refused by a primary, search or
// secondary rate limit (points, concurrency and content creation included).
func (s *Server) LimitViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.violations
}

// resourceOf names the rate-limit bucket of a path, as X-RateLimit-Resource does.
func resourceOf(path string) string {
	if strings.HasPrefix(path, "/search/") {
		return "search"
	}
	return "core"
}

// windowLocked returns the current primary window of resource, starting a
// new one when the previous has ended. s.mu must be held.
func (s *Server) windowLocked(resource string, now time.Time) *rateWindow {
	w := s.limits.windows[resource]
	if w == nil || !now.Before(w.start.Add(s.limitOfLocked(resource).window)) {
		w = &rateWindow{start: now}
		s.limits.windows[resource] = w
	}
	return w
}

// setRateHeadersLocked writes the X-RateLimit-* headers for resource. s.mu must be held.
func (s *Server) setRateHeadersLocked(h http.Header, resource string) {
	now := s.now()
	w := s.windowLocked(resource, now)
	rl := s.limitOfLocked(resource)
	limit, remaining := rl.n, rl.n-w.used
	if limit <= 0 {
		// Not enforced: report github.com's limit but never 0 remaining, or
		// go-github would start refusing requests locally.
		limit, remaining = rl.def, max(rl.def-w.used, 1)
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	// Epoch seconds, rounded up: a client that waits until the second it names finds the window
	// ended (rounded down, a short test window would still be spent for most of a second after it).
	h.Set("X-RateLimit-Reset", strconv.FormatInt(w.start.Add(rl.window+time.Second-time.Nanosecond).Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(w.used))
	h.Set("X-RateLimit-Resource", resource)
}

// writeRateHeaders sets the X-RateLimit-* headers without counting a request.
func (s *Server) writeRateHeaders(w http.ResponseWriter, resource string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRateHeadersLocked(w.Header(), resource)
}

// primaryLimit is one resource's primary limit: n requests per window (github.com's def when off).
type primaryLimit struct {
	n, def int
	window time.Duration
}

// limitOfLocked returns the primary limit of resource. s.mu must be held.
func (s *Server) limitOfLocked(resource string) primaryLimit { return s.limits.primaries[resource] }

// admit counts an authenticated request against the limits and sets the
// rate-limit headers. When a limit refuses it, admit writes the 403 and
// returns false; otherwise the request is in flight until release is called.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	resource := resourceOf(r.URL.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/rate_limit" {
		s.setRateHeadersLocked(w.Header(), resource)
		return func() {}, true
	}
	now := s.now()
	win := s.windowLocked(resource, now)
	if n := s.limitOfLocked(resource).n; n > 0 && win.used >= n {
		s.limits.violations++
		s.setRateHeadersLocked(w.Header(), resource)
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "API rate limit exceeded for user ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
		})
		return nil, false
	}
	if wait, full := s.secondaryRefusalLocked(r.Method, now); full {
		s.limits.violations++
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		s.setRateHeadersLocked(w.Header(), resource)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message": "You have exceeded a secondary rate limit. Please wait a few minutes " +
				"before you try again. If you reach out to GitHub Support for help, please include the request ID.",
			"documentation_url": secondaryDocURL,
		})
		return nil, false
	}
	s.takeSecondaryLocked(r.Method, now)
	win.used++
	s.setRateHeadersLocked(w.Header(), resource)
	return s.releaseFunc(), true
}

// refundLocked gives back the primary request a 304 Not Modified took, as github.com does for a
// conditional request, and rewrites the headers. s.mu must be held.
func (s *Server) refundLocked(h http.Header, resource string) {
	if win := s.windowLocked(resource, s.now()); win.used > 0 {
		win.used--
	}
	s.setRateHeadersLocked(h, resource)
}

// secondaryWaitLocked reports whether a secondary window is full at now, and how long until
// every window has a free slot. s.mu must be held.
func (s *Server) secondaryWaitLocked(now time.Time) (time.Duration, bool) {
	var wait time.Duration
	full := false
	for _, w := range s.limits.secondary {
		n := 0 // admitted requests within this window
		for i := len(s.limits.recent) - 1; i >= 0 && now.Sub(s.limits.recent[i]) < w.Span; i-- {
			n++
		}
		if n < w.Limit {
			continue
		}
		full = true
		// The request Limit places back must leave the window first.
		oldest := s.limits.recent[len(s.limits.recent)-w.Limit]
		wait = max(wait, oldest.Add(w.Span).Sub(now))
	}
	return wait, full
}

// maxSecondaryLocked is the largest secondary limit: how many request times must be kept.
func (s *Server) maxSecondaryLocked() int {
	m := 0
	for _, w := range s.limits.secondary {
		m = max(m, w.Limit)
	}
	return m
}

// handleRateLimit serves GET /rate_limit, which github.com does not count.
func (s *Server) handleRateLimit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	resources := map[string]any{}
	for _, res := range []string{"core", "search"} {
		h := http.Header{}
		s.setRateHeadersLocked(h, res)
		n := func(k string) int64 { v, _ := strconv.ParseInt(h.Get(k), 10, 64); return v }
		resources[res] = map[string]any{
			"limit":     n("X-RateLimit-Limit"),
			"remaining": n("X-RateLimit-Remaining"),
			"reset":     n("X-RateLimit-Reset"),
			"used":      n("X-RateLimit-Used"),
			"resource":  res,
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"resources": resources, "rate": resources["core"]})
}
