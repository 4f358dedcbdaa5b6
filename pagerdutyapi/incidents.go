package pagerdutyapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dispatch-oss/dispatch/handlers"
)

// ErrNotFollowed is returned (wrapped) by ParseEvent for a well-formed PagerDuty event of a kind
// dispatch does not follow (an unacknowledge, a note, a priority change): nothing to do.
var ErrNotFollowed = errors.New("pagerduty event of a kind dispatch does not follow")

// EventSourcePrefix begins the source of every event PagerDuty's EventBridge integration publishes
// (its partner event source, aws.partner/pagerduty.com/{subdomain}-{name}).
const EventSourcePrefix = "aws.partner/pagerduty.com"

// ebEvent is an EventBridge event as a rule delivers it to SQS.
type ebEvent struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// ref is a PagerDuty reference to a user or other object: v2 payloads name it, v3 ones summarise.
type ref struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Summary string `json:"summary"`
}

func (r *ref) name() string {
	if r == nil {
		return ""
	}
	if r.Summary != "" {
		return r.Summary
	}
	return r.Name
}

// v2Detail is the integration guide's detail: a webhook v2 message.
type v2Detail struct {
	Event     string    `json:"event"`
	CreatedOn time.Time `json:"created_on"`
	ID        string    `json:"id"`
	Incident  struct {
		ID                 string    `json:"id"`
		IncidentKey        string    `json:"incident_key"`
		HTMLURL            string    `json:"html_url"`
		LastStatusChangeOn time.Time `json:"last_status_change_on"`
		LastStatusChangeBy *ref      `json:"last_status_change_by"`
		AssignedTo         []struct {
			Object *ref `json:"object"`
		} `json:"assigned_to"`
		Assignments []struct {
			Assignee *ref `json:"assignee"`
		} `json:"assignments"`
	} `json:"incident"`
	LogEntries []logEntry `json:"log_entries"`
}

// logEntry is an incident log entry, in a v2 message and in the REST API alike.
type logEntry struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Agent     *ref      `json:"agent"`
	Channel   struct {
		Type           string `json:"type"`
		ResolutionNote string `json:"resolution_note"`
	} `json:"channel"`
}

// v3Event is a webhook v3 event.
type v3Event struct {
	ID         string    `json:"id"`
	EventType  string    `json:"event_type"`
	OccurredAt time.Time `json:"occurred_at"`
	Agent      *ref      `json:"agent"`
	Data       struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		IncidentKey string `json:"incident_key"`
		HTMLURL     string `json:"html_url"`
		Assignees   []ref  `json:"assignees"`
	} `json:"data"`
}

// v2Kinds and v3Kinds map PagerDuty's event names to the changes dispatch follows.
var (
	v2Kinds = map[string]string{
		"incident.trigger": handlers.IncidentTriggered, "incident.acknowledge": handlers.IncidentAcknowledged,
		"incident.resolve": handlers.IncidentResolved, "incident.assign": handlers.IncidentReassigned,
		"incident.delegate": handlers.IncidentReassigned, "incident.escalate": handlers.IncidentEscalated,
	}
	v3Kinds = map[string]string{
		"incident.triggered": handlers.IncidentTriggered, "incident.reopened": handlers.IncidentTriggered,
		"incident.acknowledged": handlers.IncidentAcknowledged, "incident.resolved": handlers.IncidentResolved,
		"incident.reassigned": handlers.IncidentReassigned, "incident.delegated": handlers.IncidentReassigned,
		"incident.escalated": handlers.IncidentEscalated,
	}
	logKinds = map[string]string{
		"trigger_log_entry": handlers.IncidentTriggered, "acknowledge_log_entry": handlers.IncidentAcknowledged,
		"resolve_log_entry": handlers.IncidentResolved, "assign_log_entry": handlers.IncidentReassigned,
		"escalate_log_entry": handlers.IncidentEscalated, "reopen_log_entry": handlers.IncidentTriggered,
	}
)

// ParseEvent reads one message of the events queue: an EventBridge event from PagerDuty's partner
// event source, carrying either the integration guide's webhook v2 message (detail.event a name,
// detail.incident, detail.log_entries) or a webhook v3 event (detail.event an object with
// event_type and data). It returns an error for anything else (bad input), wrapping ErrNotFollowed
// for an event of a kind dispatch does not follow.
func ParseEvent(body []byte) (handlers.IncidentChange, error) {
	var ev ebEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return handlers.IncidentChange{}, fmt.Errorf("not an EventBridge event: %w", err)
	}
	if !strings.HasPrefix(ev.Source, EventSourcePrefix) {
		return handlers.IncidentChange{}, fmt.Errorf("event source %q is not PagerDuty's (%s/…)", truncate(ev.Source, 100), EventSourcePrefix)
	}
	if !strings.HasPrefix(ev.DetailType, "PagerDuty") || len(ev.Detail) == 0 {
		return handlers.IncidentChange{}, fmt.Errorf("event %q is not a PagerDuty webhook event", truncate(ev.DetailType, 100))
	}
	var probe struct {
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(ev.Detail, &probe); err != nil {
		return handlers.IncidentChange{}, fmt.Errorf("event detail: %w", err)
	}
	var ch handlers.IncidentChange
	var err error
	if t := bytes.TrimSpace(probe.Event); len(t) > 0 && t[0] == '{' {
		ch, err = parseV3(probe.Event)
	} else {
		ch, err = parseV2(ev.Detail)
	}
	if err != nil {
		return ch, err
	}
	if ch.At.IsZero() {
		ch.At = ev.Time
	}
	if ch.ID == "" {
		ch.ID = ev.ID
	}
	if ch.Key == "" || ch.At.IsZero() || ch.ID == "" {
		return ch, errors.New("pagerduty event without an incident key, a time or an id")
	}
	return ch, nil
}

func parseV2(detail []byte) (handlers.IncidentChange, error) {
	var d v2Detail
	if err := json.Unmarshal(detail, &d); err != nil {
		return handlers.IncidentChange{}, fmt.Errorf("pagerduty webhook v2 message: %w", err)
	}
	kind, err := followed(v2Kinds, d.Event)
	if err != nil {
		return handlers.IncidentChange{}, err
	}
	inc := d.Incident
	ch := handlers.IncidentChange{ID: d.ID, Incident: inc.ID, Key: inc.IncidentKey, Kind: kind, URL: inc.HTMLURL,
		At: firstTime(d.CreatedOn, inc.LastStatusChangeOn), By: inc.LastStatusChangeBy.name()}
	for _, le := range d.LogEntries {
		if logKinds[le.Type] != kind {
			continue
		}
		ch.ID, ch.At = le.ID, firstTime(le.CreatedAt, ch.At)
		if n := le.Agent.name(); n != "" {
			ch.By = n
		}
		ch.Note = le.Channel.ResolutionNote
		break
	}
	for _, a := range inc.AssignedTo {
		if n := a.Object.name(); n != "" {
			ch.To = n
			break
		}
	}
	for _, a := range inc.Assignments {
		if n := a.Assignee.name(); n != "" && ch.To == "" {
			ch.To = n
		}
	}
	return ch, nil
}

func parseV3(raw []byte) (handlers.IncidentChange, error) {
	var e v3Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return handlers.IncidentChange{}, fmt.Errorf("pagerduty webhook v3 event: %w", err)
	}
	kind, err := followed(v3Kinds, e.EventType)
	if err != nil {
		return handlers.IncidentChange{}, err
	}
	ch := handlers.IncidentChange{ID: e.ID, Incident: e.Data.ID, Key: e.Data.IncidentKey, Kind: kind, URL: e.Data.HTMLURL,
		At: e.OccurredAt, By: e.Agent.name()}
	if len(e.Data.Assignees) > 0 {
		ch.To = e.Data.Assignees[0].name()
	}
	return ch, nil
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// followed maps an event name to the change dispatch follows, or says it follows none.
func followed(kinds map[string]string, name string) (string, error) {
	if kind, ok := kinds[name]; ok {
		return kind, nil
	}
	return "", fmt.Errorf("%w: %q", ErrNotFollowed, truncate(name, 60))
}
