package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dispatch-oss/dispatch/fakes/stack"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBadInputIsRejectedAnnouncedAndDeadLettered(t *testing.T) {
	e := stack.New(t, stack.Options{})
	r := e.StartBot()
	bad := []struct {
		name, body, reason string // reason: a phrase the rejection must give
	}{
		{"not JSON", `this is not json`, "not JSON"},
		{"truncated JSON", `{"type":"low","body":{"github":{"title":"x"}`, "not JSON"},
		{"array", `[1,2,3]`, "must be a JSON object"},
		{"unknown type", `{"type":"urgent","body":{"github":{"title":"x"}}}`, `"urgent" is not a known type`},
		{"type is a number", `{"type":5}`, "type: must be a string"},
		{"users is an object", `{"type":"broadcast","users":{"slack":"alice"},"body":{"github":{"title":"t"},"slack":{"message":"m"}}}`, "users: must be an array"},
		{"missing slack message", `{"type":"self-service","users":[{"slack":"alice"}],"body":{"github":{"title":"t"}}}`, "body.slack.message: is required"},
		{"missing title", `{"type":"low"}`, "body.github.title: is required"},
		{"high without pagerduty title", `{"type":"high","body":{"pagerduty":{"body":"b"}}}`, "body.pagerduty.title: is required"},
		{"labels of numbers", `{"type":"low","body":{"github":{"title":"t","labels":[1]}}}`, "body.github.labels[0]: must be a string"},
		{"title too long", `{"type":"low","body":{"github":{"title":"` + strings.Repeat("x", 300) + `"}}}`, "more than the 256 allowed"},
		{"SNS envelope with a non-JSON Message", `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"not json"}`, "not JSON"},
		{"SNS envelope without Message", `{"Type":"Notification","MessageId":"m-2"}`, "no Message"},
		{"SNS subscription confirmation", `{"Type":"SubscriptionConfirmation","MessageId":"m-3"}`, "want Notification"},
		{"forged task", `{"dispatchTask":{"kind":"answer"},"sig":"00"}`, "bad signature"},
	}
	valid := func(i int) string {
		return fmt.Sprintf(`{"type":"low","requestId":"ok-%d","body":{"github":{"title":"valid alarm %d"}}}`, i, i)
	}
	for i, b := range bad {
		e.Send(valid(i))
		e.Send(b.body)
	}
	e.Send(valid(len(bad)))
	e.QueueEmpty(wait)

	if n := len(e.Issues(repo)); n != len(bad)+1 {
		t.Errorf("valid alarms between the bad ones: %d issues, want %d", n, len(bad)+1)
	}
	dead, err := e.AWS.Drain(stack.WaitFor(t), e.Queue.DLQURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != len(bad) {
		t.Errorf("dead-letter queue holds %d messages, want %d", len(dead), len(bad))
	}
	// Every rejection is announced; a flood of them comes as digests.
	var announced string
	e.Eventually("every rejection announced", wait, func() bool {
		announced = ""
		for _, m := range e.Slack.Messages(fallbackChannel) {
			announced += stack.Text(t, m)
		}
		for _, b := range bad {
			if !strings.Contains(announced, b.reason) {
				return false
			}
		}
		return true
	})
	rejected := e.LogLines(`"alarm rejected"`)
	if len(rejected) != len(bad) {
		t.Errorf("logged %d rejections, want %d", len(rejected), len(bad))
	}
	for _, b := range bad {
		found := false
		for _, l := range rejected {
			found = found || strings.Contains(fmt.Sprint(l["error"]), b.reason)
		}
		if !found {
			t.Errorf("%s: no rejection logged with %q", b.name, b.reason)
		}
		inDLQ := false
		for _, d := range dead {
			inDLQ = inDLQ || d == b.body
		}
		if !inDLQ {
			t.Errorf("%s: not in the dead-letter queue unchanged", b.name)
		}
	}
	if got := testutil.ToFloat64(r.Bot.Metrics().Received); got != float64(2*len(bad)+1) {
		t.Errorf("received metric = %v, want %d", got, 2*len(bad)+1)
	}
	total := 0.0
	for _, reason := range []string{"message", "type", "users", "body", "envelope"} {
		total += testutil.ToFloat64(r.Bot.Metrics().Rejected.WithLabelValues(reason))
	}
	if total != float64(len(bad)) {
		t.Errorf("rejected metrics add up to %v, want %d", total, len(bad))
	}
}
