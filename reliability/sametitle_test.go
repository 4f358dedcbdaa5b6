package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Promise 4: two replicas given 20 alarms with one title at the same instant, on a standard queue,
// end as one replica would. Each replica handles one title at a time; across the two, the younger
// of two issues made at the same instant is closed as the duplicate before anyone is told.
func TestTwoReplicasConvergeOnOneTitle(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"low-priority", `{"type":"low-priority","requestId":"same-low-%d","body":{"github":{"title":"one title, low priority","body":"Odd sudo use."}}}`},
		{"self-service", `{"type":"self-service","requestId":"same-self-%d","users":[{"slackId":"U0R01"}],"body":{"github":{"title":"one title, self-service"},"slack":{"message":"Was this you?"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stack.New(t, stack.Options{Users: crowd})
			a, b := e.StartBot(), e.StartBot()
			var bodies []string
			for i := range 20 {
				bodies = append(bodies, fmt.Sprintf(tc.body, i))
			}
			sendAll(t, e, bodies)
			e.QueueEmpty(2 * time.Minute)
			open, closed := 0, 0
			for _, is := range e.Issues(stack.Repo) {
				if is.State == "open" {
					open++
				} else {
					closed++
				}
			}
			if open != 1 {
				t.Errorf("%d open issues (and %d closed duplicates), want 1", open, closed)
			}
			if tc.name == "self-service" {
				if n := len(e.Prompts("U0R01")); n != 1 {
					t.Errorf("%d DMs, want 1", n)
				}
			}
			if calls := e.GitHub.Calls(); calls["GET /search/issues"] != 0 || e.GitHub.LimitViolations() != 0 {
				t.Errorf("%d searches, %d limit violations; want none", calls["GET /search/issues"], e.GitHub.LimitViolations())
			}
			t.Logf("%s: %d open, %d closed as duplicates; messages received by replica A %v, B %v", tc.name, open, closed,
				testutil.ToFloat64(a.Bot.Metrics().Received), testutil.ToFloat64(b.Bot.Metrics().Received))
		})
	}
}
