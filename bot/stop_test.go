package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// outageRouter fails an alarm transiently (GitHub down), except on every third call, which is still
// in flight when dispatch is stopped gracefully (a deploy, a scale-in): it returns once the work's
// context ends, as the handlers do.
type outageRouter struct {
	flakyRouter
	mu      sync.Mutex
	n       int
	working chan struct{} // told when a call waits for the stop
}

func (r *outageRouter) Handle(ctx context.Context, in handlers.Inbound) (handlers.Outcome, error) {
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	if n%3 != 0 {
		return handlers.Outcome{}, errors.New("github: HTTP 502")
	}
	r.working <- struct{}{}
	<-ctx.Done()
	return handlers.Outcome{Type: alerts.SelfService}, ctx.Err()
}

// Stalls count copies whose receives ran out because the process died on them. A graceful stop
// (a deploy, a scale-in) hands the message back through the same fresh-copy rule as a failure, so
// an alarm retrying through an outage, stopped again and again while in flight, never reaches the
// receive-count edge and is never set aside as "stalled"; only GiveUpAfter bounds it.
func TestGracefulStopsDuringAnOutageAreNotStalls(t *testing.T) {
	t.Parallel()
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	aq := s.NewQueue(t, awstest.QueueOptions{VisibilityTimeout: time.Second, DLQ: true})
	q := testQueue(t, s, aq)
	r := &outageRouter{working: make(chan struct{}, 1)}
	c := &consumer{q: q, router: r, metrics: NewMetrics(), log: zerolog.Nop(), slots: 1, visibility: 5 * time.Second,
		wait: time.Second, scale: 1000, waiting: &waitingAlarms{expire: time.Minute}}
	if err := q.Send(t.Context(), []byte(`{"type":"self-service"}`)); err != nil {
		t.Fatal(err)
	}
	stops := 0
	for receive := 1; receive <= 12; receive++ {
		var msgs []sqsqueue.Message
		eventually(t, fmt.Sprintf("receive %d", receive), 20*time.Second, func() bool {
			msgs, err = q.Receive(t.Context(), 1, time.Second, 5*time.Second)
			return err == nil && len(msgs) == 1
		})
		work, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.process(work, msgs[0]); close(done) }()
		select {
		case <-r.working: // in flight at the stop
			stops++
			stop()
		case <-done:
		}
		<-done
		stop()
	}
	for _, reason := range []string{"gave-up", "panic", "permanent"} {
		if n := testutil.ToFloat64(c.metrics.Rejected.WithLabelValues(reason)); n != 0 {
			t.Fatalf("rejected{%s} = %g: the test did not play what it means to", reason, n)
		}
	}
	if n := testutil.ToFloat64(c.metrics.Rejected.WithLabelValues("stalled")); n != 0 {
		t.Errorf("after %d graceful stops (no crash) the alarm was set aside as stalled (rejected{stalled} = %g)", stops, n)
	}
}
