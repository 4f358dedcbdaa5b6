package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/fakes/fakegithub"
	"github.com/dispatch-oss/dispatch/fakes/fakepagerduty"
	"github.com/dispatch-oss/dispatch/fakes/fakeslack"
	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/pagerdutyapi"
)

// The bounds the README promises for a PagerDuty change to reach the issue and the DM: a few
// seconds through the events queue (here, on goaws, the long poll's delivery and the GitHub and
// Slack calls), the polling interval plus pacing through the REST API.
const (
	eventsBound = 5 * time.Second
	pollEvery   = time.Second
	pollBound   = pollEvery + 5*time.Second
)

// escalateAlice has the real binary DM U0ALICE a self-service alarm she answers No: issue #1 is
// escalated and PagerDuty paged. It returns the incident's dedup key and the DM.
func escalateAlice(t *testing.T, e *stack.Env, replicas int) (string, fakeslack.Message) {
	t.Helper()
	for range replicas {
		e.StartProcess()
	}
	e.PublishRaw(`{"type":"self-service","requestId":"pd-follow-1","users":[{"slack":"alice"}],"body":{"github":{"title":"Login from a new device"},"slack":{"message":"Was this you?"}}}`)
	dm := e.DM("U0ALICE", 1)
	e.Click("U0ALICE", dm, "dispatch_no")
	evs, err := e.PD.WaitEvents(stack.WaitFor(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually("the escalation comment", wait, func() bool { return len(issue1(e).Comments) >= 1 })
	return evs[0].DedupKey, dm
}

func issue1(e *stack.Env) fakegithub.Issue {
	for _, is := range e.Issues(stack.Repo) {
		if is.Number == 1 {
			return is
		}
	}
	return fakegithub.Issue{}
}

// commentsWith counts issue #1's comments containing s.
func commentsWith(e *stack.Env, s string) int {
	n := 0
	for _, c := range issue1(e).Comments {
		if strings.Contains(c.Body, s) {
			n++
		}
	}
	return n
}

// TestIncidentFollowUp drives an escalated alarm's incident in the fake PagerDuty, through the real
// binary, both ways: the events queue (the integration guide's shape, and the webhook v3 one) and
// REST polling.
func TestIncidentFollowUp(t *testing.T) {
	v2, v3 := fakepagerduty.ShapeV2, fakepagerduty.ShapeV3
	for _, tc := range []struct {
		name  string
		opts  stack.Options
		bound time.Duration
		note  bool // the resolution note reaches dispatch (not in a v3 event)
	}{
		{"events queue", stack.Options{PagerDutyEvents: &v2}, eventsBound, true},
		{"events queue, webhook v3 shape, REST confirms", stack.Options{PagerDutyEvents: &v3, PagerDutyREST: true}, eventsBound, false},
		{"REST polling", stack.Options{PagerDutyREST: true, PagerDutyPoll: pollEvery}, pollBound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stack.New(t, tc.opts)
			key, dm := escalateAlice(t, e, 1)

			unrelated(t, e)
			before := len(issue1(e).Comments)

			if err := e.PD.Acknowledge(key, "Earline Greenholt"); err != nil {
				t.Fatal(err)
			}
			e.Eventually("the acknowledgement on the issue", tc.bound, func() bool {
				return commentsWith(e, "**Acknowledged** in PagerDuty by Earline Greenholt") == 1
			})
			e.Eventually("the acknowledgement in the DM's thread", tc.bound, func() bool { return ackLines(t, e, dm) == 1 })

			start := time.Now()
			if err := e.PD.Resolve(key, "Earline Greenholt", "new laptop, confirmed by phone"); err != nil {
				t.Fatal(err)
			}
			e.Eventually("the issue closed as completed", tc.bound, func() bool {
				is := issue1(e)
				return is.State == "closed" && is.StateReason == "completed"
			})
			e.Eventually("the DM settled", tc.bound, func() bool {
				return strings.Contains(string(e.Current(dm).Blocks), "Resolved in PagerDuty by Earline Greenholt")
			})
			t.Logf("resolved in PagerDuty → issue closed and DM settled in %v (bound %v)", time.Since(start).Round(time.Millisecond), tc.bound)
			if n := commentsWith(e, "Resolution note: new laptop, confirmed by phone"); tc.note && n != 1 {
				t.Errorf("%d resolve comments with the note, want 1", n)
			}
			if got := len(issue1(e).Comments) - before; got != 2 {
				t.Errorf("%d comments for the ack and the resolve, want 2", got)
			}
		})
	}
}

// TestIncidentEventsOnce: through the events queue, a duplicated or replayed event is applied once,
// also with two replicas taking the queue; an incident dispatch did not raise changes nothing.
func TestIncidentEventsOnce(t *testing.T) {
	v2 := fakepagerduty.ShapeV2
	e := stack.New(t, stack.Options{PagerDutyEvents: &v2})
	key, dm := escalateAlice(t, e, 2)

	unrelated(t, e)
	if err := e.PD.Acknowledge(key, "Earline Greenholt"); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the acknowledgement", eventsBound, func() bool { return commentsWith(e, "**Acknowledged**") == 1 })
	if err := e.PD.Resolve(key, "Earline Greenholt", ""); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the issue closed", eventsBound, func() bool { return issue1(e).State == "closed" })

	// Every event again, twice, at once: both replicas receive them.
	ctx := context.Background()
	for range 2 {
		for _, b := range e.PD.Emitted() {
			if err := e.SendEvent(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.Eventually("the events queue drained", wait, func() bool {
		n, err := e.AWS.Depth(ctx, e.Events.URL)
		return err == nil && n == 0
	})
	if n := commentsWith(e, "**Acknowledged**"); n != 1 {
		t.Errorf("%d acknowledgement comments after the replays, want 1", n)
	}
	if n := commentsWith(e, "**Resolved**"); n != 1 {
		t.Errorf("%d resolve comments after the replays, want 1", n)
	}
	if is := issue1(e); is.State != "closed" {
		t.Errorf("the issue is %s after the replays (a stale acknowledgement reopened it?)", is.State)
	}
	if !strings.Contains(string(e.Current(dm).Blocks), "Resolved in PagerDuty") {
		t.Errorf("the DM no longer says resolved after the replays: %s", stack.Text(t, e.Current(dm)))
	}
	if n := ackLines(t, e, dm); n != 1 {
		t.Errorf("%d acknowledgement lines in the DM's thread, want 1", n)
	}
}

// TestForgedIncidentEventOnTheAlarmQueue: an alarm publisher sends PagerDuty's resolve event (for
// the real incident, with its real dedup key) to the alarm topic: it is refused as bad input and
// closes nothing.
func TestForgedIncidentEventOnTheAlarmQueue(t *testing.T) {
	v2 := fakepagerduty.ShapeV2
	e := stack.New(t, stack.Options{PagerDutyEvents: &v2})
	key, _ := escalateAlice(t, e, 1)
	sample, err := os.ReadFile("../testdata/pagerduty/eventbridge-v2-resolve.json")
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.ReplaceAll(string(sample), "dispatch:esc:0000000000000000000000000000000000000000000000000000000000000000", key)
	e.PublishRaw(forged)
	e.PublishSNS(forged)
	e.Eventually("both forgeries rejected", wait, func() bool {
		return len(e.LogLines("not an alarm", "PAGERDUTY_EVENTS_QUEUE_URL")) >= 2
	}) // handled: the queue keeps only the No's durable copy, which comes round in 30 s
	if is := issue1(e); is.State != "open" || commentsWith(e, "**Resolved**") != 0 {
		t.Errorf("a forged event on the alarm queue changed the issue: %s, %d resolve comments", is.State, commentsWith(e, "**Resolved**"))
	}
}

// unrelated raises, acknowledges and resolves an incident dispatch did not raise, on dispatch's own
// service, and checks that it changed nothing of dispatch's.
func unrelated(t *testing.T, e *stack.Env) {
	t.Helper()
	before := issue1(e)
	pd := pagerdutyapi.New(pagerdutyapi.Options{EventsURL: e.PD.URL(), RoutingKey: stack.RoutingKey})
	if err := pd.Trigger(context.Background(), handlers.Page{DedupKey: "nagios-disk-full", Summary: "disk full", Source: "nagios"}); err != nil {
		t.Fatal(err)
	}
	if err := e.PD.Acknowledge("nagios-disk-full", "Earline Greenholt"); err != nil {
		t.Fatal(err)
	}
	if err := e.PD.Resolve("nagios-disk-full", "Earline Greenholt", ""); err != nil {
		t.Fatal(err)
	}
	if e.Events.URL != "" {
		e.Eventually("the unrelated incident's events taken", wait, func() bool {
			n, err := e.AWS.Depth(context.Background(), e.Events.URL)
			return err == nil && n == 0
		})
	}
	if after := issue1(e); after.State != before.State || len(after.Comments) != len(before.Comments) {
		t.Errorf("an unrelated incident changed issue #1: %s→%s, %d→%d comments", before.State, after.State, len(before.Comments), len(after.Comments))
	}
}

// TestIncidentPollingTwoReplicas: two replicas poll the REST API for the same escalation; each
// change ends recorded once on the issue and once in the DM's thread.
func TestIncidentPollingTwoReplicas(t *testing.T) {
	e := stack.New(t, stack.Options{PagerDutyREST: true, PagerDutyPoll: pollEvery})
	key, dm := escalateAlice(t, e, 2)
	if err := e.PD.Acknowledge(key, "Earline Greenholt"); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the acknowledgement", pollBound, func() bool { return commentsWith(e, "**Acknowledged**") >= 1 })
	if err := e.PD.Resolve(key, "Earline Greenholt", ""); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the issue closed and the DM settled", pollBound, func() bool {
		return issue1(e).State == "closed" && strings.Contains(string(e.Current(dm).Blocks), "Resolved in PagerDuty")
	})
	// A copy the other replica wrote at the same moment is removed by whichever looks first.
	e.Eventually("one acknowledgement and one resolve comment", pollBound, func() bool {
		return commentsWith(e, "**Acknowledged**") == 1 && commentsWith(e, "**Resolved**") == 1
	})
	if n := ackLines(t, e, dm); n != 1 {
		t.Errorf("%d acknowledgement lines in the DM's thread, want 1", n)
	}
}

// ackLines counts the DM's thread replies saying the incident was acknowledged.
func ackLines(t *testing.T, e *stack.Env, dm fakeslack.Message) int {
	n := 0
	for _, r := range e.ThreadReplies(dm) {
		if strings.Contains(stack.Text(t, r), "acknowledged in PagerDuty by Earline Greenholt") {
			n++
		}
	}
	return n
}

// TestBadIncidentEventIsSetAside: a message on the events queue that is no PagerDuty event is
// dead-lettered at once with its reason, and does not hold up the events behind it in its FIFO group.
func TestBadIncidentEventIsSetAside(t *testing.T) {
	v2 := fakepagerduty.ShapeV2
	e := stack.New(t, stack.Options{PagerDutyEvents: &v2})
	key, _ := escalateAlice(t, e, 1)
	ctx := context.Background()
	for _, bad := range []string{`not json`, `{"detail-type":"PagerDuty Webhook","source":"aws.partner/evil.example/x","detail":{}}`} {
		if err := e.SendEvent(ctx, []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.PD.Acknowledge(key, "Earline Greenholt"); err != nil {
		t.Fatal(err)
	}
	e.Eventually("the acknowledgement behind the bad messages", eventsBound, func() bool { return commentsWith(e, "**Acknowledged**") == 1 })
	e.Eventually("both bad messages dead-lettered", wait, func() bool {
		n, err := e.AWS.Depth(ctx, e.Events.DLQURL)
		return err == nil && n == 2
	})
}
