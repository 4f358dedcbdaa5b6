package fakepagerduty

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// IncidentsPath is the REST API's list of incidents; an incident's log entries are under
// IncidentsPath/{id}/log_entries.
const IncidentsPath = "/incidents"

// DefaultRESTPerMinute is PagerDuty's REST API limit per API key, which the fake enforces by default.
const DefaultRESTPerMinute = 960

// restLimit is the REST API's rate limit: perWindow requests per key in each fixed window, told in
// the ratelimit-limit, ratelimit-remaining and ratelimit-reset (seconds) headers; guarded by
// Server.mu.
type restLimit struct {
	perWindow  int
	window     time.Duration
	start      time.Time
	used       int
	violations int
	requests   int
}

// SetRESTRateLimit sets the REST API's limit to n requests per window (PagerDuty's is 960 a
// minute, the default); n <= 0 turns it off.
func (s *Server) SetRESTRateLimit(n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restLimit = restLimit{perWindow: max(n, 0), window: window}
}

// RESTRequests returns how many REST requests were made, and how many the rate limit refused.
func (s *Server) RESTRequests() (requests, limited int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restLimit.requests, s.restLimit.violations
}

// restAdmit checks the key and the rate limit and sets the rate-limit headers; it has answered the
// request itself when it returns false.
func (s *Server) restAdmit(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	token := s.restToken
	l := &s.restLimit
	l.requests++
	s.requests++
	now := time.Now()
	ok := true
	if l.perWindow > 0 {
		if now.Sub(l.start) >= l.window {
			l.start, l.used = now, 0
		}
		reset := int(math.Ceil((l.window - now.Sub(l.start)).Seconds())) // whole seconds, rounded up
		if l.used >= l.perWindow {
			ok = false
			l.violations++
		} else {
			l.used++
		}
		w.Header().Set("ratelimit-limit", strconv.Itoa(l.perWindow))
		w.Header().Set("ratelimit-remaining", strconv.Itoa(l.perWindow-l.used))
		w.Header().Set("ratelimit-reset", strconv.Itoa(max(reset, 0)))
	}
	s.mu.Unlock()
	if token == "" || r.Header.Get("Authorization") != "Token token="+token {
		restError(w, http.StatusUnauthorized, 2006, "Authentication failed")
		return false
	}
	if !ok {
		restError(w, http.StatusTooManyRequests, 2020, "Rate Limit Exceeded")
		return false
	}
	return true
}

// incidentJSON is an incident as GET /incidents shows it; the caller holds s.mu.
func incidentJSON(inc *Incident) map[string]any {
	m := map[string]any{"id": inc.ID, "type": "incident", "summary": inc.Summary, "title": inc.Summary, "status": inc.Status,
		"incident_key": inc.DedupKey, "created_at": inc.Created.Format(time.RFC3339), "html_url": account + "/incidents/" + inc.ID,
		"self": "https://api.pagerduty.com/incidents/" + inc.ID}
	if n := len(inc.Log); n > 0 {
		m["last_status_change_at"] = inc.Log[n-1].At.Format(time.RFC3339)
	}
	return m
}

// restIncidents answers GET /incidents: filtered by incident_key and statuses[], newest first
// with sort_by=created_at:desc, classic pagination.
func (s *Server) restIncidents(w http.ResponseWriter, r *http.Request) {
	if !s.restAdmit(w, r) {
		return
	}
	q := r.URL.Query()
	limit, offset, ok := pageOf(w, q)
	if !ok {
		return
	}
	statuses := q["statuses[]"]
	s.mu.Lock()
	var list []map[string]any
	for _, inc := range s.incidents {
		if k := q.Get("incident_key"); k != "" && inc.DedupKey != k {
			continue
		}
		if len(statuses) > 0 && !slices.Contains(statuses, inc.Status) {
			continue
		}
		list = append(list, incidentJSON(inc))
	}
	s.mu.Unlock()
	if q.Get("sort_by") == "created_at:desc" {
		slices.Reverse(list)
	}
	page := []map[string]any{}
	for i := offset; i < len(list) && i < offset+limit; i++ {
		page = append(page, list[i])
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"incidents": page, "limit": limit, "offset": offset, "more": offset+limit < len(list), "total": nil})
}

// restLogEntries answers GET /incidents/{id}/log_entries, newest first as PagerDuty lists them.
func (s *Server) restLogEntries(w http.ResponseWriter, r *http.Request) {
	if !s.restAdmit(w, r) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	var entries []map[string]any
	found := false
	for _, inc := range s.incidents {
		if inc.ID != id {
			continue
		}
		found = true
		for _, le := range inc.Log {
			entries = append(entries, s.logEntryJSON(inc, le))
		}
	}
	s.mu.Unlock()
	if !found {
		restError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	slices.Reverse(entries)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"log_entries": entries, "limit": 100, "offset": 0, "more": false, "total": nil})
}
