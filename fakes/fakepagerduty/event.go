package fakepagerduty

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// Event is one accepted event, as sent.
type Event struct {
	RoutingKey string
	// Action is trigger, acknowledge or resolve.
	Action string
	// DedupKey is the sender's dedup_key, or the one the server generated
	// (and returned) when the sender gave none.
	DedupKey string
	// Summary, Source, Severity and CustomDetails come from the payload,
	// which PagerDuty reads only on trigger.
	Summary, Source, Severity string
	// Timestamp, Component, Group and Class are the payload's optional fields.
	Timestamp, Component, Group, Class string
	Client, ClientURL                  string
	Links                              []Link
	CustomDetails                      json.RawMessage
	// Received is when the server accepted the event.
	Received time.Time
}

// Link is an event's link: where it points and what it says.
type Link struct {
	Href, Text string
}

// wireEvent is the Events API v2 request body.
type wireEvent struct {
	RoutingKey string            `json:"routing_key"`
	Action     string            `json:"event_action"`
	DedupKey   string            `json:"dedup_key"`
	Client     string            `json:"client"`
	ClientURL  string            `json:"client_url"`
	Links      []json.RawMessage `json:"links"`
	Payload    *struct {
		Summary       string          `json:"summary"`
		Source        string          `json:"source"`
		Severity      string          `json:"severity"`
		Timestamp     string          `json:"timestamp"`
		Component     string          `json:"component"`
		Group         string          `json:"group"`
		Class         string          `json:"class"`
		CustomDetails json.RawMessage `json:"custom_details"`
	} `json:"payload"`
}

const (
	routingKeyLen   = 32
	maxSummaryLen   = 1024
	maxDedupKeyLen  = 255
	invalidSeverity = "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
)

var severities = []string{"critical", "error", "warning", "info"}

// parseEvent decodes and validates a request body the way the Events API
// does, and returns every problem found, in PagerDuty's wording where known.
func parseEvent(body []byte) (Event, []string) {
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return Event{}, []string{"Event object is not valid JSON"}
	}
	var errs []string
	switch {
	case w.RoutingKey == "":
		errs = append(errs, "'routing_key' is missing or blank")
	case len(w.RoutingKey) != routingKeyLen:
		errs = append(errs, "'routing_key' is invalid")
	}
	switch w.Action {
	case "":
		errs = append(errs, "'event_action' is missing or blank")
	case "trigger":
		errs = append(errs, checkPayload(w)...)
	case "acknowledge", "resolve":
		if w.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
	}
	if utf8.RuneCountInString(w.DedupKey) > maxDedupKeyLen {
		errs = append(errs, fmt.Sprintf("'dedup_key' is too long (maximum is %d characters)", maxDedupKeyLen))
	}
	links := make([]Link, 0, len(w.Links))
	for _, raw := range w.Links {
		var l struct{ Href, Text string }
		if err := json.Unmarshal(raw, &l); err != nil || l.Href == "" {
			errs = append(errs, "'links' is invalid (each link needs an 'href')")
			break
		}
		links = append(links, Link{Href: l.Href, Text: l.Text})
	}
	if len(errs) > 0 {
		return Event{}, errs
	}

	ev := Event{RoutingKey: w.RoutingKey, Action: w.Action, DedupKey: w.DedupKey, Client: w.Client, ClientURL: w.ClientURL, Links: links}
	if p := w.Payload; p != nil {
		ev.Summary, ev.Source, ev.Severity = p.Summary, p.Source, p.Severity
		ev.Timestamp, ev.Component, ev.Group, ev.Class = p.Timestamp, p.Component, p.Group, p.Class
		if len(p.CustomDetails) > 0 && !bytes.Equal(p.CustomDetails, []byte("null")) {
			ev.CustomDetails = p.CustomDetails
		}
	}
	return ev, nil
}

func checkPayload(w wireEvent) []string {
	p := w.Payload
	if p == nil {
		return []string{"'payload' is missing or blank"}
	}
	var errs []string
	switch {
	case p.Summary == "":
		errs = append(errs, "'payload.summary' is missing or blank")
	case utf8.RuneCountInString(p.Summary) > maxSummaryLen:
		errs = append(errs, fmt.Sprintf("'payload.summary' is too long (maximum is %d characters)", maxSummaryLen))
	}
	if p.Source == "" {
		errs = append(errs, "'payload.source' is missing or blank")
	}
	switch {
	case p.Severity == "":
		errs = append(errs, "'payload.severity' is missing or blank")
	case !slices.Contains(severities, p.Severity):
		errs = append(errs, invalidSeverity)
	}
	return errs
}

// clone returns a deep copy, so callers cannot change the server's record.
func (e Event) clone() Event {
	e.Links = slices.Clone(e.Links)
	e.CustomDetails = bytes.Clone(e.CustomDetails)
	return e
}
