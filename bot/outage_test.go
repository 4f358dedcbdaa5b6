package bot

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// changes collects the notices a health tracker asks for.
type changes struct {
	mu  sync.Mutex
	got []handlers.ServiceChange
}

func (c *changes) add(_ context.Context, ch handlers.ServiceChange) {
	c.mu.Lock()
	c.got = append(c.got, ch)
	c.mu.Unlock()
}

func TestHealthAnnouncesAnOutageOnceEachWay(t *testing.T) {
	m := NewMetrics()
	h := newHealth(m)
	var c changes
	h.notify, h.waiting = c.add, func() int { return 7 }
	post, open := "POST /api/chat.postMessage", "POST /api/conversations.open"

	h.observe("slack", post, true, "HTTP 503")
	h.observe("slack", post, true, "HTTP 503")
	if len(c.got) != 0 || len(h.report()) != 0 {
		t.Fatalf("two failures made an outage: %+v", c.got)
	}
	for range 20 { // an outage: many more failures, other methods still answering
		h.observe("slack", post, true, "HTTP 503")
		h.observe("slack", open, false, "")
	}
	if len(c.got) != 1 || !c.got[0].Down || c.got[0].Service != "Slack" || c.got[0].Waiting != 7 || c.got[0].Cause != "HTTP 503" {
		t.Fatalf("notices during the outage: %+v, want one: Slack down, 7 waiting", c.got)
	}
	if r := h.report(); len(r) != 1 || r[0].Service != "Slack" {
		t.Errorf("report during the outage: %+v", r)
	}
	if ok, down := h.admit([]string{"github", "slack"}, time.Hour); !ok || down != "" {
		t.Errorf("the first alarm while Slack is down is not let through as its probe")
	}
	if ok, down := h.admit([]string{"github", "slack"}, time.Hour); ok || down != "Slack" {
		t.Errorf("a second alarm within the probe interval: admitted %v (%s), want held back by Slack", ok, down)
	}
	if ok, _ := h.admit([]string{"pagerduty"}, time.Hour); !ok {
		t.Error("a page, which needs only PagerDuty, was held back by Slack")
	}
	h.observe("slack", post, false, "")
	h.observe("slack", post, false, "")
	if len(c.got) != 2 || c.got[1].Down || c.got[1].Ended.IsZero() || c.got[1].Since != c.got[0].Since {
		t.Fatalf("notices after recovery: %+v, want the outage and one recovery", c.got)
	}
	if len(h.report()) != 0 || h.anyDown() {
		t.Errorf("still reported down after recovery: %+v", h.report())
	}
}

func TestEndpointOf(t *testing.T) {
	for _, tc := range []struct{ method, url, want string }{
		{"POST", "http://127.0.0.1:1/api/chat.postMessage", "POST /api/chat.postMessage"},
		{"POST", "http://127.0.0.1:1/repos/acme/alarms/issues", "POST /repos/*/*/issues"},
		{"PATCH", "http://127.0.0.1:1/repos/acme/other/issues/123", "PATCH /repos/*/*/issues/*"},
		{"GET", "http://127.0.0.1:1/search/issues?q=x", "GET /search/issues"},
		{"POST", "http://127.0.0.1:1/v2/enqueue", "POST /v2/enqueue"},
	} {
		if got := endpointOf(httptest.NewRequest(tc.method, tc.url, nil)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

func TestRedeliveryDelay(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 2 * time.Minute, 2 * time.Minute}
	for i, w := range want {
		if got := redeliveryDelay(i + 1); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
	if got := redeliveryDelay(10000); got != maxRedeliveryDelay {
		t.Errorf("attempt 10000: %s, want the cap", got)
	}
}

// TestAFailedCallNoLongerCalledStopsHoldingAlarmsBack: an endpoint that failed and is never called
// again does not hold every alarm back to one probe at a time for ever; but the outage, which only
// that call answering ends, is not announced over.
func TestAFailedCallNoLongerCalledStopsHoldingAlarmsBack(t *testing.T) {
	h := newHealth(NewMetrics())
	var c changes
	h.notify = c.add
	for range failuresForOutage {
		h.observe("github", "POST /repos/*/*/labels", true, "HTTP 502")
	}
	h.observe("github", "POST /repos/*/*/issues", false, "")
	every := 10 * time.Millisecond
	if ok, _ := h.admit([]string{"github"}, every); !ok {
		t.Fatal("the first alarm is not let through as the probe")
	}
	if ok, _ := h.admit([]string{"github"}, every); ok {
		t.Fatal("a second alarm right after the probe is not held back")
	}
	eventually(t, "alarms to go ahead while the failed call is not called", 5*time.Second, func() bool {
		first, _ := h.admit([]string{"github"}, every)
		second, _ := h.admit([]string{"github"}, every)
		return first && second
	})
	if !h.anyDown() || len(c.got) != 1 {
		t.Errorf("down %v, notices %+v: want GitHub still down, announced once", h.anyDown(), c.got)
	}
	h.observe("github", "POST /repos/*/*/labels", true, "HTTP 502")
	if ok, _ := h.admit([]string{"github"}, time.Hour); ok {
		t.Error("the call failed again, but alarms are not held back to the probe")
	}
}

// TestAPartialOutageEndsOnlyWhenItsCallAnswers: Slack's conversations.open fails while alarms that
// don't open a DM are handled. Those alarms don't end the outage (each end announced "answers
// again" and released the waiting alarms into the call still failing); conversations.open
// answering does, once.
func TestAPartialOutageEndsOnlyWhenItsCallAnswers(t *testing.T) {
	t.Parallel()
	h := newHealth(NewMetrics())
	var c changes
	h.notify = c.add
	open := "POST /api/conversations.open"
	for range failuresForOutage {
		h.observe("slack", open, true, "HTTP 503")
	}
	r := &flakyRouter{}
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	aq := s.NewQueue(t, awstest.QueueOptions{VisibilityTimeout: 5 * time.Second, DLQ: true})
	_, q, _, _ := startConsumerWith(t, s, aq, r, 1000, func(c *consumer) { c.health = h })
	for i := range 3 { // low-priority alarms: GitHub and Slack, but no DM
		if err := q.Send(t.Context(), fmt.Appendf(nil, `{"type":"low","body":{"github":{"title":"t%d"}}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the alarms handled and deleted", 30*time.Second, func() bool {
		calls, _ := r.snapshot()
		n, err := s.Depth(t.Context(), aq.URL)
		return len(calls) >= 3 && err == nil && n == 0
	})
	c.mu.Lock()
	got := append([]handlers.ServiceChange(nil), c.got...)
	c.mu.Unlock()
	if !h.anyDown() || len(got) != 1 || !got[0].Down {
		t.Fatalf("after alarms handled without conversations.open: down %v, notices %+v; want still down, one notice", h.anyDown(), got)
	}
	h.observe("slack", open, false, "")
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.anyDown() || len(c.got) != 2 || c.got[1].Down {
		t.Errorf("after conversations.open answered: down %v, notices %+v; want up, one recovery", h.anyDown(), c.got)
	}
}

// TestEachStepIsAdmittedByItsOwnService: while a service is down, the outage gate holds back only
// the work that needs it (docs/RELIABILITY.md, section 0): a step task by its one service, a
// self-service alarm by none (its steps each wait for their own), a reminder and an answer's
// durable copy by none.
func TestEachStepIsAdmittedByItsOwnService(t *testing.T) {
	task := func(kind string) sqsqueue.Unwrapped { return sqsqueue.Unwrapped{Task: &handlers.Task{Kind: kind}} }
	alarm := func(typ string) sqsqueue.Unwrapped {
		return sqsqueue.Unwrapped{Payload: []byte(`{"type":"` + typ + `","requestId":"r1","users":[{"slackId":"U1"}],"body":{"github":{"title":"t","body":"b"},"slack":{"message":"m","prompt":"p"},"pagerduty":{"title":"t","body":"b"}}}`)}
	}
	for _, tc := range []struct {
		name string
		u    sqsqueue.Unwrapped
		want string
	}{
		{"file the issue", task(handlers.TaskFile), "github"},
		{"record an answer or an escalation", task(handlers.TaskRecord), "github"},
		{"DM a prompt", task(handlers.TaskPrompt), "slack"},
		{"link the issue", task(handlers.TaskLink), "slack"},
		{"settle a DM", task(handlers.TaskSettle), "slack"},
		{"page a No", task(handlers.TaskPage), "pagerduty"},
		{"escalate at the deadline", task(handlers.TaskEscalate), "pagerduty"},
		{"remind (skipped when Slack is down)", task(handlers.TaskRemind), ""},
		{"an answer's durable copy", task(handlers.TaskAnswer), ""},
		{"a reason's durable copy (it finds its marker on the issue)", task(handlers.TaskReason), "github"},
		{"a self-service alarm", alarm("self-service"), ""},
		{"a high-priority alarm", alarm("high-priority"), "pagerduty"},
		{"a broadcast (its issue follows as a file task)", alarm("broadcast"), "slack"},
		{"a nag (its issue follows as a file task)", alarm("nag"), "slack"},
		{"a low-priority alarm (only its issue)", alarm("low-priority"), "github"},
	} {
		if got := strings.Join(servicesFor(tc.u), ","); got != tc.want {
			t.Errorf("%s: admitted by %q, want %q", tc.name, got, tc.want)
		}
	}
}
