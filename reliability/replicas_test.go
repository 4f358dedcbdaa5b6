package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dispatch-oss/dispatch/fakes/stack"
)

// Promise 2: two replicas on one queue, 200 alarms, clicks landing on both.
func TestTwoReplicasOnOneQueue(t *testing.T) {
	start := time.Now()
	e := stack.New(t, stack.Options{SlackScale: slackScale, Users: crowd})
	a, b := e.StartBot(), e.StartBot()
	ids, bodies := burst("replicas", 200)
	cl := startClicker(t, e)
	sendAll(t, e, bodies)
	c := settle(t, e, ids, 3*time.Minute)
	answeredOnce(t, e, cl, len(ids))
	var handled, answers [2]float64
	for i, r := range []*stack.Replica{a, b} {
		handled[i] = testutil.ToFloat64(r.Bot.Metrics().Handled.WithLabelValues("self-service"))
		answers[i] = testutil.ToFloat64(r.Bot.Metrics().Answers.WithLabelValues("yes"))
	}
	if handled[0] == 0 || handled[1] == 0 || answers[0] == 0 || answers[1] == 0 {
		t.Errorf("both replicas should have worked: alarms %v, clicks %v", handled, answers)
	}
	report(t, "two replicas, 200 alarms, clicks on both", c, time.Since(start),
		fmt.Sprintf(", alarms per replica %v, clicks per replica %v", handled, answers))
}
