package fakepagerduty_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
)

const (
	key      = "R0UT1NGKEY00000000000000000000AA" // 32 characters, like a real integration key
	otherKey = "R0UT1NGKEY00000000000000000000BB"
)

// setup starts a fake with key registered and returns a real client for it.
func setup(t *testing.T) (*fakepagerduty.Server, *pagerduty.Client, context.Context) {
	t.Helper()
	pd := fakepagerduty.New()
	t.Cleanup(pd.Close)
	pd.AddRoutingKey(key)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return pd, pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(pd.URL())), ctx
}

func trigger(dedup, summary string) *pagerduty.V2Event {
	return &pagerduty.V2Event{
		RoutingKey: key, Action: "trigger", DedupKey: dedup,
		Payload: &pagerduty.V2Payload{Summary: summary, Source: "dispatch-test", Severity: "critical"},
	}
}

func TestTrigger(t *testing.T) {
	pd, client, ctx := setup(t)
	ev := trigger("", "CPU high on web-1")
	ev.Client, ev.ClientURL = "dispatch", "https://example.com/alarm/1"
	ev.Links = []interface{}{map[string]string{"href": "https://example.com/runbook", "text": "runbook"}}
	ev.Payload.Details = map[string]any{"alarm": "cpu-high", "value": 97}
	ev.Payload.Component = "web"

	resp, err := client.ManageEventWithContext(ctx, ev)
	if err != nil {
		t.Fatalf("trigger: %v", err)
	}
	if resp.Status != "success" || resp.Message != "Event processed" || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(resp.DedupKey) {
		t.Errorf("response = %+v, want success with a generated 32-hex dedup key", resp)
	}

	events := pd.Events()
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1", len(events))
	}
	got := events[0]
	if got.RoutingKey != key || got.Action != "trigger" || got.DedupKey != resp.DedupKey || got.Summary != "CPU high on web-1" ||
		got.Source != "dispatch-test" || got.Severity != "critical" || got.Client != "dispatch" || got.ClientURL != ev.ClientURL ||
		got.Component != "web" || got.Received.IsZero() {
		t.Errorf("event = %+v", got)
	}
	if len(got.Links) != 1 || got.Links[0] != (fakepagerduty.Link{Href: "https://example.com/runbook", Text: "runbook"}) {
		t.Errorf("links = %+v", got.Links)
	}
	var details map[string]any
	if err := json.Unmarshal(got.CustomDetails, &details); err != nil || details["alarm"] != "cpu-high" {
		t.Errorf("custom details = %s (%v)", got.CustomDetails, err)
	}

	incs := pd.Incidents()
	if len(incs) != 1 || incs[0].Status != "triggered" || incs[0].DedupKey != resp.DedupKey || incs[0].Events != 1 || len(incs[0].Links) != 1 {
		t.Errorf("incidents = %+v", incs)
	}
}

func TestIncidentLifecycle(t *testing.T) {
	pd, client, ctx := setup(t)
	send := func(ev *pagerduty.V2Event) {
		t.Helper()
		if _, err := client.ManageEventWithContext(ctx, ev); err != nil {
			t.Fatalf("%s: %v", ev.Action, err)
		}
	}
	status := func(want string, events int) {
		t.Helper()
		incs := pd.Incidents()
		if last := incs[len(incs)-1]; last.Status != want || last.Events != events {
			t.Errorf("latest incident %s with %d events, want %s with %d", last.Status, last.Events, want, events)
		}
	}

	send(trigger("alarm-1", "first"))
	send(trigger("alarm-1", "again")) // deduplicated into the open incident
	status("triggered", 2)
	if n := pd.IncidentCount(key); n != 1 {
		t.Fatalf("IncidentCount = %d after a duplicate trigger, want 1", n)
	}
	if s := pd.Incidents()[0].Summary; s != "first" {
		t.Errorf("summary = %q, want the opening trigger's", s)
	}

	send(&pagerduty.V2Event{RoutingKey: key, Action: "acknowledge", DedupKey: "alarm-1"})
	status("acknowledged", 3)
	send(trigger("alarm-1", "still burning")) // joins the acknowledged incident
	status("acknowledged", 4)
	send(&pagerduty.V2Event{RoutingKey: key, Action: "resolve", DedupKey: "alarm-1"})
	status("resolved", 5)
	send(&pagerduty.V2Event{RoutingKey: key, Action: "resolve", DedupKey: "never-triggered"}) // accepted, no effect

	send(trigger("alarm-1", "back again")) // a resolved incident stays resolved
	status("triggered", 1)
	send(trigger("alarm-2", "other alarm"))
	if n := pd.IncidentCount(key); n != 3 {
		t.Errorf("IncidentCount = %d, want 3", n)
	}
	if n := len(pd.Events()); n != 8 {
		t.Errorf("recorded %d events, want all 8", n)
	}
}

func TestInvalidEvents(t *testing.T) {
	long := strings.Repeat("x", 1025)
	for _, tc := range []struct {
		name    string
		event   pagerduty.V2Event
		wantErr string
	}{
		{"short routing key", pagerduty.V2Event{RoutingKey: "abc", Action: "resolve", DedupKey: "d"}, "'routing_key' is invalid"},
		{"missing action", pagerduty.V2Event{RoutingKey: key, DedupKey: "d"}, "'event_action' is missing or blank"},
		{"unknown action", pagerduty.V2Event{RoutingKey: key, Action: "escalate", DedupKey: "d"}, "'event_action' is invalid"},
		{"trigger without payload", pagerduty.V2Event{RoutingKey: key, Action: "trigger"}, "'payload' is missing or blank"},
		{"missing summary", *withPayload(func(p *pagerduty.V2Payload) { p.Summary = "" }), "'payload.summary' is missing or blank"},
		{"summary too long", *withPayload(func(p *pagerduty.V2Payload) { p.Summary = long }), "'payload.summary' is too long"},
		{"missing source", *withPayload(func(p *pagerduty.V2Payload) { p.Source = "" }), "'payload.source' is missing or blank"},
		{"bad severity", *withPayload(func(p *pagerduty.V2Payload) { p.Severity = "sev1" }), "'payload.severity' is invalid"},
		{"resolve without dedup key", pagerduty.V2Event{RoutingKey: key, Action: "resolve"}, "'dedup_key' is missing or blank"},
		{"link without href", pagerduty.V2Event{RoutingKey: key, Action: "resolve", DedupKey: "d", Links: []interface{}{map[string]string{"text": "x"}}}, "'links' is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd, client, ctx := setup(t)
			ev := tc.event
			_, err := client.ManageEventWithContext(ctx, &ev)
			var apiErr pagerduty.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Temporary() {
				t.Fatalf("error = %v, want a permanent pagerduty.APIError with status 400", err)
			}

			// The client keeps only the status; check the body on the wire.
			body, err := json.Marshal(tc.event)
			if err != nil {
				t.Fatal(err)
			}
			status, resp := post(t, pd.URL()+fakepagerduty.EnqueuePath, string(body))
			if status != http.StatusBadRequest || resp.Status != "invalid event" || resp.Message != "Event object is invalid" ||
				len(resp.Errors) == 0 || !strings.HasPrefix(resp.Errors[0], tc.wantErr) {
				t.Errorf("answer %d %+v, want 400 invalid event with %q", status, resp, tc.wantErr)
			}
			if n := len(pd.Events()) + len(pd.UnknownKeyEvents()); n != 0 {
				t.Errorf("%d invalid events recorded", n)
			}
		})
	}
}

func withPayload(change func(*pagerduty.V2Payload)) *pagerduty.V2Event {
	ev := trigger("", "summary")
	change(ev.Payload)
	return ev
}

type answer struct {
	Status, Message, DedupKey string
	Errors                    []string
}

// post sends a raw body and decodes the answer.
func post(t *testing.T, url, body string) (int, answer) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, a
}

func TestMalformedJSON(t *testing.T) {
	pd, _, _ := setup(t)
	status, a := post(t, pd.URL()+fakepagerduty.EnqueuePath, `{"routing_key":`)
	if status != http.StatusBadRequest || a.Status != "invalid event" {
		t.Errorf("answer %d %+v, want 400 invalid event", status, a)
	}
}

func TestUnknownRoutingKey(t *testing.T) {
	pd, client, ctx := setup(t)
	ev := trigger("x", "to nobody")
	ev.RoutingKey = otherKey
	if _, err := client.ManageEventWithContext(ctx, ev); err != nil {
		t.Fatalf("well-formed unknown key: %v, want accepted as PagerDuty does", err)
	}
	if got := pd.UnknownKeyEvents(); len(got) != 1 || got[0].RoutingKey != otherKey {
		t.Errorf("UnknownKeyEvents = %+v", got)
	}
	if len(pd.Events()) != 0 || len(pd.Incidents()) != 0 {
		t.Error("an event to an unknown key was recorded or opened an incident")
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := pd.WaitEvents(wctx, 1); err == nil || !strings.Contains(err.Error(), "1 more to unknown routing keys") {
		t.Errorf("WaitEvents error = %v, want it to mention the unknown key", err)
	}
}

func TestRateLimit(t *testing.T) {
	pd, client, ctx := setup(t)
	pd.AddRoutingKey(otherKey)
	pd.SetRateLimit(2)
	for i := range 2 {
		if _, err := client.ManageEventWithContext(ctx, trigger("", "ok")); err != nil {
			t.Fatalf("event %d under the limit: %v", i, err)
		}
	}
	_, err := client.ManageEventWithContext(ctx, trigger("", "one too many"))
	var apiErr pagerduty.APIError
	if !errors.As(err, &apiErr) || !apiErr.RateLimited() || !apiErr.Temporary() {
		t.Fatalf("error = %v, want a rate-limited pagerduty.APIError", err)
	}
	other := trigger("", "other service")
	other.RoutingKey = otherKey
	if _, err := client.ManageEventWithContext(ctx, other); err != nil {
		t.Errorf("another routing key is limited separately: %v", err)
	}
	if pd.LimitViolations() != 1 || len(pd.Events()) != 3 {
		t.Errorf("violations %d, events %d; want 1 and 3", pd.LimitViolations(), len(pd.Events()))
	}

	body, _ := json.Marshal(trigger("", "raw"))
	status, a := post(t, pd.URL()+fakepagerduty.EnqueuePath, string(body))
	if status != http.StatusTooManyRequests || a.Status != "throttle event" ||
		a.Message != "Requests for this service are arriving too quickly. Please retry later." {
		t.Errorf("answer %d %+v, want PagerDuty's throttle answer", status, a)
	}
}

func TestInjectedFailures(t *testing.T) {
	t.Run("FailNext", func(t *testing.T) {
		pd, client, ctx := setup(t)
		pd.FailNext(2, http.StatusBadGateway)
		for i := range 2 {
			_, err := client.ManageEventWithContext(ctx, trigger("a", "x"))
			var apiErr pagerduty.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway || !apiErr.Temporary() {
				t.Fatalf("attempt %d: %v, want a temporary 502", i, err)
			}
		}
		if _, err := client.ManageEventWithContext(ctx, trigger("a", "x")); err != nil {
			t.Fatalf("third attempt: %v", err)
		}
		if pd.Requests() != 3 || len(pd.Events()) != 1 {
			t.Errorf("requests %d, events %d; want 3 and 1", pd.Requests(), len(pd.Events()))
		}
	})
	t.Run("SetFailFor", func(t *testing.T) {
		pd, client, ctx := setup(t)
		pd.SetFailFor(time.Hour, http.StatusInternalServerError)
		var apiErr pagerduty.APIError
		if _, err := client.ManageEventWithContext(ctx, trigger("a", "x")); !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
			t.Fatalf("during the outage: %v, want 500", err)
		}
		pd.SetFailFor(0, 0)
		if _, err := client.ManageEventWithContext(ctx, trigger("a", "x")); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
	})
	t.Run("SetLatency", func(t *testing.T) {
		pd, client, ctx := setup(t)
		pd.SetLatency(5 * time.Second)
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		// go-pagerduty formats the transport error with %v, so errors.Is
		// cannot see the deadline; the context can.
		if _, err := client.ManageEventWithContext(short, trigger("a", "x")); err == nil || short.Err() == nil {
			t.Fatalf("slow server: %v, want a failure at the client's deadline", err)
		}
		pd.SetLatency(0)
		if _, err := client.ManageEventWithContext(ctx, trigger("a", "x")); err != nil {
			t.Fatal(err)
		}
		if len(pd.Events()) != 1 {
			t.Errorf("%d events, want only the one that got through", len(pd.Events()))
		}
	})
}

func TestWaitEvents(t *testing.T) {
	pd, client, ctx := setup(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 3 {
			if _, err := client.ManageEventWithContext(ctx, trigger("same", "x")); err != nil {
				t.Error(err)
			}
		}
	})
	got, err := pd.WaitEvents(ctx, 3)
	wg.Wait()
	if err != nil || len(got) < 3 {
		t.Fatalf("WaitEvents: %d events, %v", len(got), err)
	}
	if pd.IncidentCount(key) != 1 {
		t.Errorf("IncidentCount = %d, want 1", pd.IncidentCount(key))
	}

	got[0].Links = append(got[0].Links, fakepagerduty.Link{Href: "mutated"})
	if len(pd.Events()[0].Links) != 0 {
		t.Error("changing a returned event changed the server's record")
	}
}

func TestRateLimitWindow(t *testing.T) {
	pd, client, ctx := setup(t)
	// 120 a minute at a clock 60 times faster is 120 a second; here 2 per 200 ms.
	pd.SetRateLimitWindow(2, 200*time.Millisecond)
	for i := range 2 {
		if _, err := client.ManageEventWithContext(ctx, trigger("", "ok")); err != nil {
			t.Fatalf("event %d under the limit: %v", i, err)
		}
	}
	var apiErr pagerduty.APIError
	if _, err := client.ManageEventWithContext(ctx, trigger("", "one too many")); !errors.As(err, &apiErr) || !apiErr.RateLimited() {
		t.Fatalf("error = %v, want a rate-limited pagerduty.APIError", err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := client.ManageEventWithContext(ctx, trigger("", "after the window")); err != nil {
		t.Errorf("after the window: %v", err)
	}
	if pd.LimitViolations() != 1 {
		t.Errorf("violations %d, want 1", pd.LimitViolations())
	}
}

// TestRESTServicesIsAsStrictAsTheAPI: no or a wrong key is a 401 with PagerDuty's error object, a
// limit over 100 a 400, and integration keys show only with include[]=integrations.
func TestRESTServicesIsAsStrictAsTheAPI(t *testing.T) {
	s := fakepagerduty.New()
	defer s.Close()
	s.AddRoutingKey("0123456789abcdef0123456789abcdef")
	get := func(token, query string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL()+fakepagerduty.ServicesPath+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Token token="+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("rest-key", ""); code != http.StatusUnauthorized || !strings.Contains(body, `"code":2006`) {
		t.Errorf("before SetRESTToken: %d %s", code, body)
	}
	s.SetRESTToken("rest-key")
	if code, body := get("wrong", ""); code != http.StatusUnauthorized {
		t.Errorf("a wrong key: %d %s", code, body)
	}
	if code, body := get("rest-key", "?limit=101"); code != http.StatusBadRequest {
		t.Errorf("limit 101: %d %s", code, body)
	}
	if code, body := get("rest-key", ""); code != http.StatusOK || strings.Contains(body, "integration_key") || !strings.Contains(body, `"more":false`) {
		t.Errorf("without include[]: %d %s", code, body)
	}
	if code, body := get("rest-key", "?include[]=integrations"); code != http.StatusOK || !strings.Contains(body, `"integration_key":"0123456789abcdef0123456789abcdef"`) {
		t.Errorf("with include[]=integrations: %d %s", code, body)
	}
}

// The fake enforces PagerDuty's published 120 events a minute per routing key without being
// asked, and the event over the limit is not ingested.
func TestRateLimitIsOnByDefault(t *testing.T) {
	pd, client, ctx := setup(t)
	for i := range fakepagerduty.DefaultEventsPerMinute {
		if _, err := client.ManageEventWithContext(ctx, trigger(fmt.Sprintf("k%d", i), "ok")); err != nil {
			t.Fatalf("event %d under the limit: %v", i, err)
		}
	}
	_, err := client.ManageEventWithContext(ctx, trigger("over", "one too many"))
	var apiErr pagerduty.APIError
	if !errors.As(err, &apiErr) || !apiErr.RateLimited() {
		t.Fatalf("event 121: error = %v, want a rate-limited pagerduty.APIError", err)
	}
	if got := len(pd.Events()); got != fakepagerduty.DefaultEventsPerMinute {
		t.Errorf("%d events ingested, want %d: the throttled one must not be", got, fakepagerduty.DefaultEventsPerMinute)
	}
}
