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
	defaultPrimaryLimit    = 5000
	defaultPrimaryWindow   = time.Hour
	defaultSecondaryPerMin = 80
)

// secondaryDocURL ends in "secondary-rate-limits", which is what go-github
// looks for to return *github.AbuseRateLimitError.
const secondaryDocURL = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

// rateLimits is the limiter state. It is guarded by Server.mu.
type rateLimits struct {
	primary       int // requests per window and resource; <= 0: not enforced
	primaryWindow time.Duration
	windows       map[string]*rateWindow // by resource: "core", "search"

	secondaryPerMin int         // content-creating requests per sliding minute; <= 0: off
	recent          []time.Time // admitted content-creating requests, oldest first

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
		primary:         defaultPrimaryLimit,
		primaryWindow:   defaultPrimaryWindow,
		windows:         map[string]*rateWindow{},
		secondaryPerMin: defaultSecondaryPerMin,
	}
}

// SetPrimaryLimit allows n requests per window for each rate-limit resource
// ("core" for everything but search, "search" for /search/…), counted across
// all tokens. Once a resource's n requests are used, further requests are
// answered 403 with X-RateLimit-Remaining 0 and "API rate limit exceeded…"
// until the window, which starts at its first request, ends; go-github turns
// that into *github.RateLimitError. n <= 0 disables enforcement, and the
// remaining count reported then never reaches 0. Calling it starts new windows.
// Default: 5,000 per hour. GET /rate_limit and /app/… requests are not counted.
func (s *Server) SetPrimaryLimit(n int, window time.Duration) {
	if window <= 0 {
		window = defaultPrimaryWindow
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.primary = n
	s.limits.primaryWindow = window
	s.limits.windows = map[string]*rateWindow{}
}

// SetSecondaryLimit allows perMinute content-creating requests (POST, PATCH,
// PUT, DELETE) in any sliding minute, counted across all tokens. The next one
// is answered 403 with Retry-After set to the seconds until a slot frees and
// the secondary-rate-limit message and documentation_url, which go-github
// turns into *github.AbuseRateLimitError. Rejected requests take no slot.
// perMinute <= 0 disables the limit. Default: 80, as on github.com.
func (s *Server) SetSecondaryLimit(perMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.secondaryPerMin = perMinute
	s.limits.recent = nil
}

// LimitViolations reports how many requests were refused by the primary or
// secondary rate limit.
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
	if w == nil || !now.Before(w.start.Add(s.limits.primaryWindow)) {
		w = &rateWindow{start: now}
		s.limits.windows[resource] = w
	}
	return w
}

// setRateHeadersLocked writes the X-RateLimit-* headers for resource. s.mu must be held.
func (s *Server) setRateHeadersLocked(h http.Header, resource string) {
	now := s.now()
	w := s.windowLocked(resource, now)
	limit, remaining := s.limits.primary, s.limits.primary-w.used
	if limit <= 0 {
		// Not enforced: report github.com's limit but never 0 remaining, or
		// go-github would start refusing requests locally.
		limit, remaining = defaultPrimaryLimit, max(defaultPrimaryLimit-w.used, 1)
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(w.start.Add(s.limits.primaryWindow).Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(w.used))
	h.Set("X-RateLimit-Resource", resource)
}

// writeRateHeaders sets the X-RateLimit-* headers without counting a request.
func (s *Server) writeRateHeaders(w http.ResponseWriter, resource string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRateHeadersLocked(w.Header(), resource)
}

// admit counts an authenticated request against the limits and sets the
// rate-limit headers. When a limit refuses it, admit writes the 403 and
// returns false.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	resource := resourceOf(r.URL.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/rate_limit" {
		s.setRateHeadersLocked(w.Header(), resource)
		return true
	}
	now := s.now()
	win := s.windowLocked(resource, now)
	if s.limits.primary > 0 && win.used >= s.limits.primary {
		s.limits.violations++
		s.setRateHeadersLocked(w.Header(), resource)
		writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "API rate limit exceeded for user ID 1.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
		})
		return false
	}
	if isContentCreating(r.Method) && s.limits.secondaryPerMin > 0 {
		cutoff := now.Add(-time.Minute)
		i := 0
		for i < len(s.limits.recent) && !s.limits.recent[i].After(cutoff) {
			i++
		}
		s.limits.recent = s.limits.recent[i:]
		if len(s.limits.recent) >= s.limits.secondaryPerMin {
			s.limits.violations++
			wait := s.limits.recent[0].Add(time.Minute).Sub(now)
			secs := max(int(math.Ceil(wait.Seconds())), 1)
			s.setRateHeadersLocked(w.Header(), resource)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeJSON(w, http.StatusForbidden, map[string]string{
				"message": "You have exceeded a secondary rate limit. Please wait a few minutes " +
					"before you try again. If you reach out to GitHub Support for help, please include the request ID.",
				"documentation_url": secondaryDocURL,
			})
			return false
		}
		s.limits.recent = append(s.limits.recent, now)
	}
	win.used++
	s.setRateHeadersLocked(w.Header(), resource)
	return true
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
