package fakegithub

import "time"

// github.com's documented secondary limits beside the content-creating ones ("Rate limits for the
// REST API", docs.github.com).
const (
	// DefaultPointsPerMinute is how many points the REST API allows in a minute: a GET, HEAD or
	// OPTIONS costs 1 point, a POST, PATCH, PUT or DELETE 5.
	DefaultPointsPerMinute = 900
	// DefaultConcurrency is how many requests may be in flight at once.
	DefaultConcurrency = 100
)

// pointRec is one admitted request's cost, for the sliding points window.
type pointRec struct {
	at     time.Time
	points int
}

// pointsOf is a request's cost in secondary-limit points.
func pointsOf(method string) int {
	if isContentCreating(method) {
		return 5
	}
	return 1
}

// SetPointsLimit allows n points in any sliding span (a read costs 1, a write 5), counted across
// all tokens; the next request that would pass n is answered 403 with Retry-After and the
// secondary-rate-limit message, as github.com does. n <= 0 disables it. Calling it forgets earlier
// requests. Default: github.com's 900 a minute; a shorter span models it at a faster clock.
func (s *Server) SetPointsLimit(n int, span time.Duration) {
	if span <= 0 {
		span = time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.points, s.limits.pointsSpan, s.limits.pointLog = n, span, nil
}

// SetConcurrencyLimit allows n requests in flight at once (from admission, after SetLatency's
// delay, to the end of the answer); one more is answered 403 with the secondary-rate-limit message and
// Retry-After 60 (github.com asks for at least a minute when it names no wait). n <= 0 disables
// it. Default: github.com's 100.
func (s *Server) SetConcurrencyLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.concurrency = n
}

// Points reports the points the requests admitted within the last span (the points limit's span,
// a minute by default) cost, and the most any such window has held so far (the peak).
func (s *Server) Points() (current, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prunePointsLocked(s.now())
	return s.pointsInWindowLocked(), s.limits.peakPoints
}

// prunePointsLocked drops the requests that have left the points window. s.mu must be held.
func (s *Server) prunePointsLocked(now time.Time) {
	log := s.limits.pointLog
	i := 0
	for i < len(log) && now.Sub(log[i].at) >= s.limits.pointsSpan {
		i++
	}
	s.limits.pointLog = append(log[:0], log[i:]...)
}

func (s *Server) pointsInWindowLocked() int {
	n := 0
	for _, p := range s.limits.pointLog {
		n += p.points
	}
	return n
}

// secondaryRefusalLocked reports whether a secondary limit refuses a request of method at now,
// and how long to wait. s.mu must be held.
func (s *Server) secondaryRefusalLocked(method string, now time.Time) (time.Duration, bool) {
	if s.limits.concurrency > 0 && s.limits.inFlight >= s.limits.concurrency {
		return time.Minute, true
	}
	s.prunePointsLocked(now)
	if cost := pointsOf(method); s.limits.points > 0 && s.pointsInWindowLocked()+cost > s.limits.points {
		// Wait until enough of the oldest requests leave the window.
		excess := s.pointsInWindowLocked() + cost - s.limits.points
		var wait time.Duration
		for _, p := range s.limits.pointLog {
			excess -= p.points
			wait = p.at.Add(s.limits.pointsSpan).Sub(now)
			if excess <= 0 {
				break
			}
		}
		return wait, true
	}
	if isContentCreating(method) && len(s.limits.secondary) > 0 {
		return s.secondaryWaitLocked(now)
	}
	return 0, false
}

// takeSecondaryLocked records an admitted request in the secondary limits. s.mu must be held.
func (s *Server) takeSecondaryLocked(method string, now time.Time) {
	s.limits.inFlight++
	s.limits.peakInFlight = max(s.limits.peakInFlight, s.limits.inFlight)
	s.limits.pointLog = append(s.limits.pointLog, pointRec{at: now, points: pointsOf(method)})
	s.limits.peakPoints = max(s.limits.peakPoints, s.pointsInWindowLocked())
	if isContentCreating(method) && len(s.limits.secondary) > 0 {
		s.limits.recent = append(s.limits.recent, now)
		if keep := s.maxSecondaryLocked(); len(s.limits.recent) > keep {
			s.limits.recent = append(s.limits.recent[:0], s.limits.recent[len(s.limits.recent)-keep:]...)
		}
	}
}

// releaseFunc ends an admitted request's time in flight; calling it again does nothing.
func (s *Server) releaseFunc() func() {
	done := false
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !done {
			done = true
			s.limits.inFlight--
		}
	}
}

// PeakInFlight reports the most requests that were in flight at once.
func (s *Server) PeakInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits.peakInFlight
}
