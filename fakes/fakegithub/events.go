package fakegithub

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// eventRec is one entry of an issue's timeline of events: closed, reopened, labeled, unlabeled.
type eventRec struct {
	id    int64
	event string
	actor string
	label string // for labeled and unlabeled
	at    time.Time
}

// recordEventLocked appends an event to is. s.mu must be held.
func (s *Server) recordEventLocked(is *issueRec, event, actor, label string) {
	s.nextID++
	is.events = append(is.events, eventRec{id: s.nextID, event: event, actor: actor, label: label, at: s.now()})
}

// recordLabelChangesLocked records labeled and unlabeled events for the difference between two
// label sets (names compared case-insensitively, as on github.com). s.mu must be held.
func (s *Server) recordLabelChangesLocked(is *issueRec, before, after []string, actor string) {
	for _, l := range after {
		if !containsFold(before, l) {
			s.recordEventLocked(is, "labeled", actor, l)
		}
	}
	for _, l := range before {
		if !containsFold(after, l) {
			s.recordEventLocked(is, "unlabeled", actor, l)
		}
	}
}

// handleListEvents serves GET /repos/{o}/{r}/issues/{n}/events, oldest first, paginated, with
// ETag and Last-Modified like the other listings.
func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, is, ok := s.lookupIssueLocked(w, r)
	if !ok {
		return
	}
	p := parsePage(r.URL.Query(), len(is.events))
	start, end := p.bounds(len(is.events))
	out := make([]map[string]any, 0, end-start)
	var modified time.Time
	for _, ev := range is.events[start:end] {
		e := map[string]any{
			"id":         ev.id,
			"node_id":    fmt.Sprintf("IE_%d", ev.id),
			"url":        fmt.Sprintf("%srepos/%s/issues/events/%d", s.baseURL, rp.fullName, ev.id),
			"actor":      s.userJSONLocked(ev.actor),
			"event":      ev.event,
			"commit_id":  nil,
			"commit_url": nil,
			"created_at": githubTime(ev.at),
		}
		if ev.label != "" {
			e["label"] = map[string]any{"name": ev.label, "color": "ededed"}
		}
		out = append(out, e)
		modified = ev.at
	}
	s.setLinkHeader(w, r, p)
	s.writeConditionalLocked(w, r, out, modified)
}

// Events returns the event names of issue n of repo, oldest first ("closed", "labeled:NAME", …).
func (s *Server) Events(repo string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(repo)
	if rp == nil || rp.issues[n] == nil {
		return nil
	}
	return slices.Collect(func(yield func(string) bool) {
		for _, ev := range rp.issues[n].events {
			name := ev.event
			if ev.label != "" {
				name += ":" + ev.label
			}
			if !yield(name) {
				return
			}
		}
	})
}
