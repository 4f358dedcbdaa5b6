package pagerdutyapi_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pace"
	"github.com/dispatch-oss/dispatch/pagerdutyapi"
	"github.com/dispatch-oss/dispatch/retry"
)

// TestParseEventSamples reads the samples of testdata/pagerduty (see its README for their source).
func TestParseEventSamples(t *testing.T) {
	tests := []struct {
		file                   string
		kind, id, by, to, note string
	}{
		{file: "eventbridge-v2-acknowledge.json", kind: handlers.IncidentAcknowledged, id: "R9OZC7R1AH5PDRG6WEYQT3JCA6", by: "Earline Greenholt", to: "Earline Greenholt"},
		{file: "eventbridge-v2-resolve.json", kind: handlers.IncidentResolved, id: "R2XGXEI3W0FHMAIWJ9AJHV5H0V", by: "Earline Greenholt", note: "new laptop, confirmed with Alice by phone"},
		{file: "eventbridge-v3-reassigned.json", kind: handlers.IncidentReassigned, id: "01DEN1HNLBC1VITEO1WZLTQ5YH", by: "Earline Greenholt", to: "Kenneth Backup"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile("../testdata/pagerduty/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := pagerdutyapi.ParseEvent(b)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Kind != tt.kind || ch.ID != tt.id || ch.By != tt.by || ch.To != tt.to || ch.Note != tt.note ||
				ch.Incident != "PT4KHLK" || !strings.HasPrefix(ch.Key, "dispatch:esc:") || ch.At.IsZero() {
				t.Errorf("ParseEvent = %+v", ch)
			}
		})
	}
}

// TestParseEventRefuses: anything but a PagerDuty event from its partner source is bad input, and
// an event of a kind dispatch does not follow says so.
func TestParseEventRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":        `{`,
		"an alarm":        `{"type":"self-service","users":[{"slackId":"U1"}]}`,
		"another source":  `{"detail-type":"PagerDuty Webhook","source":"aws.partner/evil.example/x","time":"2026-12-03T06:00:00Z","detail":{"event":"incident.resolve","incident":{"incident_key":"dispatch:esc:1"}}}`,
		"another event":   `{"detail-type":"EC2 Instance State-change Notification","source":"aws.partner/pagerduty.com/x","detail":{}}`,
		"no incident key": `{"id":"e1","detail-type":"PagerDuty Webhook","source":"aws.partner/pagerduty.com/x","time":"2026-12-03T06:00:00Z","detail":{"event":"incident.resolve","incident":{"id":"P1"}}}`,
	} {
		if _, err := pagerdutyapi.ParseEvent([]byte(body)); err == nil || errors.Is(err, pagerdutyapi.ErrNotFollowed) {
			t.Errorf("%s: err = %v, want bad input", name, err)
		}
	}
	un := `{"id":"e1","detail-type":"PagerDuty Webhook","source":"aws.partner/pagerduty.com/x","time":"2026-12-03T06:00:00Z","detail":{"event":"incident.unacknowledge","incident":{"id":"P1","incident_key":"k"}}}`
	if _, err := pagerdutyapi.ParseEvent([]byte(un)); !errors.Is(err, pagerdutyapi.ErrNotFollowed) {
		t.Errorf("unacknowledge: %v, want ErrNotFollowed", err)
	}
}

// lifecycle drives one incident through the fake and returns what ParseEvent makes of each event.
func lifecycle(t *testing.T, shape fakepagerduty.EventShape) []handlers.IncidentChange {
	pd := fakepagerduty.New()
	defer pd.Close()
	var mu sync.Mutex
	var bodies [][]byte
	pd.SetEventSink(shape, func(b []byte) error { mu.Lock(); bodies = append(bodies, b); mu.Unlock(); return nil })
	key := "R0123456789abcdef0123456789abcde"
	pd.AddRoutingKey(key)
	p := pagerdutyapi.New(pagerdutyapi.Options{EventsURL: pd.URL(), RoutingKey: key})
	if err := p.Trigger(context.Background(), handlers.Page{DedupKey: "dispatch:esc:abc", Summary: "s"}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{pd.Acknowledge("dispatch:esc:abc", "Ann"), pd.Reassign("dispatch:esc:abc", "Ann", "Ben"),
		pd.Escalate("dispatch:esc:abc", "Level 2"), pd.Resolve("dispatch:esc:abc", "Ben", "done"), pd.Retrigger("dispatch:esc:abc")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []handlers.IncidentChange
	for _, b := range bodies {
		ch, err := pagerdutyapi.ParseEvent(b)
		if err != nil {
			t.Fatalf("ParseEvent(%s): %v", b, err)
		}
		out = append(out, ch)
	}
	return out
}

// TestFakeEventsParse: the fake's EventBridge events, in both shapes, read as the changes made.
func TestFakeEventsParse(t *testing.T) {
	for _, shape := range []fakepagerduty.EventShape{fakepagerduty.ShapeV2, fakepagerduty.ShapeV3} {
		chs := lifecycle(t, shape)
		var kinds []string
		for _, c := range chs {
			kinds = append(kinds, c.Kind)
		}
		want := []string{"triggered", "acknowledged", "reassigned", "escalated", "resolved", "triggered"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("shape %d: kinds = %v, want %v", shape, kinds, want)
		}
		if r := chs[4]; r.By != "Ben" || r.Key != "dispatch:esc:abc" || r.ID == "" || r.At.IsZero() {
			t.Errorf("shape %d: resolve = %+v", shape, r)
		}
		if shape == fakepagerduty.ShapeV2 && chs[4].Note != "done" {
			t.Errorf("v2 resolve note = %q", chs[4].Note)
		}
		if chs[2].To != "Ben" || chs[0].Incident == chs[5].Incident {
			t.Errorf("shape %d: reassign to %q; the re-trigger opened incident %s (first %s)", shape, chs[2].To, chs[5].Incident, chs[0].Incident)
		}
	}
}

// TestIncidentsREST: status and changes through the REST API, and the ratelimit-* headers hold
// requests until the window resets rather than earning 429s.
func TestIncidentsREST(t *testing.T) {
	pd := fakepagerduty.New()
	defer pd.Close()
	pd.SetRESTToken("rest-key")
	key := "R0123456789abcdef0123456789abcde"
	pd.AddRoutingKey(key)
	ctx := zerolog.Nop().WithContext(context.Background())
	if err := pagerdutyapi.New(pagerdutyapi.Options{EventsURL: pd.URL(), RoutingKey: key}).Trigger(ctx, handlers.Page{DedupKey: "dispatch:esc:k1", Summary: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := pd.Resolve("dispatch:esc:k1", "Ben", "fixed"); err != nil {
		t.Fatal(err)
	}
	inc := pagerdutyapi.NewIncidents(pagerdutyapi.RESTOptions{APIURL: pd.URL(), Token: "rest-key", HTTPClient: http.DefaultClient},
		[]pace.Window{{Limit: 1000, Span: time.Minute}}, retry.Policy{Attempts: 1})
	st, err := inc.Status(ctx, "dispatch:esc:k1")
	if err != nil || st != (handlers.IncidentStatus{Found: true, Status: "resolved"}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if st, err := inc.Status(ctx, "dispatch:esc:none"); err != nil || st.Found {
		t.Fatalf("Status(unknown) = %+v, %v", st, err)
	}
	chs, err := inc.Changes(ctx, "dispatch:esc:k1")
	if err != nil || len(chs) != 2 || chs[1].Kind != handlers.IncidentResolved || chs[1].By != "Ben" || chs[1].Note != "fixed" {
		t.Fatalf("Changes = %+v, %v", chs, err)
	}

	pd.SetRESTRateLimit(3, 2*time.Second)
	start := time.Now()
	for range 5 {
		if _, err := inc.Status(ctx, "dispatch:esc:k1"); err != nil {
			t.Fatalf("Status under the limit: %v", err)
		}
	}
	if _, limited := pd.RESTRequests(); limited != 0 {
		t.Errorf("%d requests refused with 429: the ratelimit headers were not honoured", limited)
	}
	if time.Since(start) < time.Second {
		t.Errorf("5 requests at 3 per 2 s took %v: not held", time.Since(start))
	}
}
