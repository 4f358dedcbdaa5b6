package fakepagerduty

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// LogEntry is one change of an incident, as the REST API's log entries show it.
type LogEntry struct {
	ID    string
	Type  string // trigger_log_entry, acknowledge_log_entry, resolve_log_entry, assign_log_entry, escalate_log_entry
	At    time.Time
	Agent string // who did it; "" for PagerDuty itself or an integration
	To    string // the new assignee of an assign or escalate entry
	Note  string // a resolve entry's resolution note
}

// EventShape chooses which payload the fake's EventBridge events carry.
type EventShape int

// The shapes of SetEventSink.
const (
	// ShapeV2 is the Amazon EventBridge integration guide's: detail-type "PagerDuty Webhook", and
	// in detail the webhook v2 message (event, incident, log_entries).
	ShapeV2 EventShape = iota
	// ShapeV3 carries a webhook v3 event in detail.event (event_type, occurred_at, agent, data).
	ShapeV3
)

// EventSource is the partner event source the fake's events come from.
const EventSource = "aws.partner/pagerduty.com/acme-dispatch"

// SetEventSink makes the fake publish an EventBridge event for every change of an incident (the
// triggers, acknowledgements and resolves it receives through the Events API, and those a test
// makes with Acknowledge, Resolve, Reassign, Escalate and Retrigger), in shape, through send (a
// test sends it to an SQS queue through goaws, as an EventBridge rule would). send is called
// without the fake's lock, in order; its errors are kept (SinkErrors).
func (s *Server) SetEventSink(shape EventShape, send func(body []byte) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shape, s.sink = shape, send
}

// Emitted returns every event body published so far, oldest first: a test replays one by sending
// it again.
func (s *Server) Emitted() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.emitted))
	copy(out, s.emitted)
	return out
}

// SinkErrors returns the errors the event sink returned.
func (s *Server) SinkErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.sinkErrs...)
}

// Acknowledge acknowledges the newest open incident with dedupKey, as by who.
func (s *Server) Acknowledge(dedupKey, who string) error {
	return s.change(dedupKey, LogEntry{Type: "acknowledge_log_entry", Agent: who})
}

// Resolve resolves the newest open incident with dedupKey, as by who, with a note ("" for none).
func (s *Server) Resolve(dedupKey, who, note string) error {
	return s.change(dedupKey, LogEntry{Type: "resolve_log_entry", Agent: who, Note: note})
}

// Reassign reassigns the newest open incident with dedupKey to to, as by who.
func (s *Server) Reassign(dedupKey, who, to string) error {
	return s.change(dedupKey, LogEntry{Type: "assign_log_entry", Agent: who, To: to})
}

// Escalate escalates the newest open incident with dedupKey to to (its escalation policy's next
// level).
func (s *Server) Escalate(dedupKey, to string) error {
	return s.change(dedupKey, LogEntry{Type: "escalate_log_entry", To: to})
}

// Retrigger triggers dedupKey again after its incident was resolved: as in PagerDuty, a trigger
// with the dedup key of a resolved incident opens a new incident with the same key.
func (s *Server) Retrigger(dedupKey string) error {
	s.mu.Lock()
	var last *Incident
	for _, inc := range s.incidents {
		if inc.DedupKey == dedupKey {
			last = inc
		}
	}
	if last == nil || last.Status != "resolved" {
		s.mu.Unlock()
		return fmt.Errorf("fakepagerduty: no resolved incident with dedup key %q", dedupKey)
	}
	inc := s.openIncidentLocked(last.RoutingKey, dedupKey, last.Summary)
	inc.Links, inc.CustomDetails = last.Links, last.CustomDetails
	inc.Events++
	s.mu.Unlock()
	s.flush()
	return nil
}

// change applies a log entry to the newest open incident with dedupKey.
func (s *Server) change(dedupKey string, le LogEntry) error {
	s.mu.Lock()
	var inc *Incident
	for _, i := range s.incidents {
		if i.DedupKey == dedupKey && i.Status != "resolved" {
			inc = i
		}
	}
	if inc == nil {
		s.mu.Unlock()
		return fmt.Errorf("fakepagerduty: no open incident with dedup key %q", dedupKey)
	}
	s.applyLocked(inc, le)
	s.mu.Unlock()
	s.flush()
	return nil
}

// openIncidentLocked opens an incident and logs its trigger; the caller holds s.mu.
func (s *Server) openIncidentLocked(routingKey, dedupKey, summary string) *Incident {
	s.seq++
	inc := &Incident{ID: fmt.Sprintf("PINC%04d", s.seq), RoutingKey: routingKey, DedupKey: dedupKey, Summary: summary, Status: "triggered", Created: time.Now().UTC()}
	s.incidents = append(s.incidents, inc)
	s.open[incidentKey{routingKey, dedupKey}] = inc
	s.applyLocked(inc, LogEntry{Type: "trigger_log_entry"})
	return inc
}

// applyLocked logs le on inc, moves its status, and queues its event; the caller holds s.mu.
func (s *Server) applyLocked(inc *Incident, le LogEntry) {
	le.ID = "R" + strings.ToUpper(randomHex(12))
	le.At = time.Now().UTC()
	switch le.Type {
	case "acknowledge_log_entry":
		inc.Status = "acknowledged"
	case "resolve_log_entry":
		inc.Status = "resolved"
		delete(s.open, incidentKey{inc.RoutingKey, inc.DedupKey})
	}
	if le.To != "" {
		inc.Assignee = le.To
	}
	inc.Log = append(inc.Log, le)
	if s.sink != nil {
		s.outbox = append(s.outbox, s.eventBody(inc, le))
	}
}

// flush sends the queued events, in order, outside the lock; one flush at a time keeps the order.
func (s *Server) flush() {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	out, sink := s.outbox, s.sink
	s.outbox = nil
	s.emitted = append(s.emitted, out...)
	s.mu.Unlock()
	for _, b := range out {
		if err := sink(b); err != nil {
			s.mu.Lock()
			s.sinkErrs = append(s.sinkErrs, err)
			s.mu.Unlock()
		}
	}
}

var v2Names = map[string]string{
	"trigger_log_entry": "incident.trigger", "acknowledge_log_entry": "incident.acknowledge", "resolve_log_entry": "incident.resolve",
	"assign_log_entry": "incident.assign", "escalate_log_entry": "incident.escalate",
}

var v3Names = map[string]string{
	"trigger_log_entry": "incident.triggered", "acknowledge_log_entry": "incident.acknowledged", "resolve_log_entry": "incident.resolved",
	"assign_log_entry": "incident.reassigned", "escalate_log_entry": "incident.escalated",
}

const account = "https://acme.pagerduty.com"

func userRef(name string) map[string]any {
	if name == "" {
		return nil
	}
	id := "PUSR" + strings.ToUpper(hex.EncodeToString([]byte(name)))[:6]
	return map[string]any{"id": id, "type": "user_reference", "summary": name, "name": name, "html_url": account + "/users/" + id}
}

// eventBody is the EventBridge event for le on inc, in the server's shape; the caller holds s.mu.
func (s *Server) eventBody(inc *Incident, le LogEntry) []byte {
	var detail map[string]any
	url := account + "/incidents/" + inc.ID
	if s.shape == ShapeV3 {
		data := map[string]any{"id": inc.ID, "type": "incident", "self": "https://api.pagerduty.com/incidents/" + inc.ID, "html_url": url,
			"status": inc.Status, "incident_key": inc.DedupKey, "title": inc.Summary}
		if inc.Assignee != "" {
			data["assignees"] = []any{userRef(inc.Assignee)}
		}
		detail = map[string]any{"event": map[string]any{"id": le.ID, "event_type": v3Names[le.Type], "resource_type": "incident",
			"occurred_at": le.At.Format(time.RFC3339Nano), "agent": userRef(le.Agent), "client": nil, "data": data}}
	} else {
		incident := map[string]any{"id": inc.ID, "status": inc.Status, "html_url": url, "incident_key": inc.DedupKey,
			"created_on": inc.Created.Format(time.RFC3339), "last_status_change_on": le.At.Format(time.RFC3339Nano),
			"last_status_change_by": userRef(le.Agent), "trigger_summary_data": map[string]any{"subject": inc.Summary}}
		if inc.Assignee != "" {
			incident["assigned_to"] = []any{map[string]any{"at": le.At.Format(time.RFC3339), "object": userRef(inc.Assignee)}}
		}
		detail = map[string]any{"event": v2Names[le.Type], "created_on": le.At.Format(time.RFC3339Nano), "incident": incident,
			"log_entries": []any{s.logEntryJSON(inc, le)}}
	}
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": randomUUID(), "detail-type": "PagerDuty Webhook", "source": EventSource,
		"account": "123456789012", "time": le.At.Format(time.RFC3339), "region": "us-east-1", "resources": []any{}, "detail": detail,
	})
	return b
}

// logEntryJSON is a log entry as the REST API and the v2 messages show it.
func (s *Server) logEntryJSON(inc *Incident, le LogEntry) map[string]any {
	channel := map[string]any{"type": "web_ui"}
	if le.Agent == "" {
		channel["type"] = "api"
	}
	if le.Note != "" {
		channel["resolution_note"] = le.Note
	}
	m := map[string]any{"id": le.ID, "type": le.Type, "summary": strings.TrimSuffix(le.Type, "_log_entry"), "created_at": le.At.Format(time.RFC3339),
		"agent": userRef(le.Agent), "channel": channel, "incident": map[string]any{"id": inc.ID, "type": "incident_reference"}}
	if le.To != "" {
		m["assignees"] = []any{userRef(le.To)}
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
