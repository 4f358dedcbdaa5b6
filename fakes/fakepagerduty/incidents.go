package fakepagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Incident is what PagerDuty makes of the events for one routing key and
// dedup key: a trigger opens it, further triggers with the same dedup key
// join it while it is open (triggered or acknowledged), acknowledge and
// resolve move it on, and a trigger after resolve opens a new one.
type Incident struct {
	RoutingKey, DedupKey string
	// Summary, Links and CustomDetails are the opening trigger's.
	Summary string
	// Status is triggered, acknowledged or resolved.
	Status string
	// Events counts the events applied to this incident, the opening
	// trigger included.
	Events        int
	Links         []Link
	CustomDetails json.RawMessage
	// ID is the incident's id ("PINC0001"), Created when it opened, Assignee its current
	// assignee ("" until reassigned or escalated), Log its log entries, oldest first.
	ID       string
	Created  time.Time
	Assignee string
	Log      []LogEntry
}

type incidentKey struct{ routingKey, dedupKey string }

// record stores an accepted event and applies it; the caller holds s.mu.
func (s *Server) record(ev Event) {
	defer s.notify()
	if !s.keys[ev.RoutingKey] {
		s.orphans = append(s.orphans, ev)
		return
	}
	s.events = append(s.events, ev)

	key := incidentKey{ev.RoutingKey, ev.DedupKey}
	inc := s.open[key]
	switch ev.Action {
	case "trigger":
		if inc == nil {
			inc = s.openIncidentLocked(ev.RoutingKey, ev.DedupKey, ev.Summary)
			inc.Links, inc.CustomDetails = slices.Clone(ev.Links), bytes.Clone(ev.CustomDetails)
		}
		inc.Events++
	case "acknowledge":
		if inc != nil {
			if inc.Status != "acknowledged" {
				s.applyLocked(inc, LogEntry{Type: "acknowledge_log_entry"})
			}
			inc.Events++
		}
	case "resolve":
		if inc != nil {
			s.applyLocked(inc, LogEntry{Type: "resolve_log_entry"})
			inc.Events++
		}
	}
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Events returns the accepted events for added routing keys, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneEvents(s.events)
}

// UnknownKeyEvents returns the accepted events for well-formed routing keys
// that were never added with AddRoutingKey, oldest first.
func (s *Server) UnknownKeyEvents() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneEvents(s.orphans)
}

// Incidents returns every incident, in the order they were opened.
func (s *Server) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, len(s.incidents))
	for i, inc := range s.incidents {
		out[i] = *inc
		out[i].Links = slices.Clone(inc.Links)
		out[i].CustomDetails = bytes.Clone(inc.CustomDetails)
		out[i].Log = slices.Clone(inc.Log)
	}
	return out
}

// IncidentCount returns how many incidents were ever opened for routingKey,
// whatever their status now.
func (s *Server) IncidentCount(routingKey string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, inc := range s.incidents {
		if inc.RoutingKey == routingKey {
			n++
		}
	}
	return n
}

// WaitEvents waits until at least n events (as counted by Events) have been
// accepted and returns them all. If ctx ends first it returns the events so
// far and an error that says how many arrived, and how many requests were
// rejected or went to unknown routing keys, which is usually why.
func (s *Server) WaitEvents(ctx context.Context, n int) ([]Event, error) {
	for {
		s.mu.Lock()
		if len(s.events) >= n {
			defer s.mu.Unlock()
			return cloneEvents(s.events), nil
		}
		changed := s.changed
		s.mu.Unlock()

		select {
		case <-changed:
		case <-ctx.Done():
			s.mu.Lock()
			defer s.mu.Unlock()
			return cloneEvents(s.events), fmt.Errorf(
				"fakepagerduty: %d of %d events accepted (%d more to unknown routing keys, %d rejected as invalid, %d requests in all): %w",
				len(s.events), n, len(s.orphans), s.rejected, s.requests, ctx.Err())
		}
	}
}

func cloneEvents(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = e.clone()
	}
	return out
}
