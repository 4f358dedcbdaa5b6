package bot

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dispatch-oss/dispatch/handlers"
)

// taskFailRouter fails every task transiently (GitHub down), as Router.deadline does while it can't
// read the issue, and records when it was first tried.
type taskFailRouter struct {
	mu       sync.Mutex
	first    time.Time
	tries    int
	rejected []error
}

func (r *taskFailRouter) Handle(context.Context, handlers.Inbound) (handlers.Outcome, error) {
	return handlers.Outcome{}, nil
}

func (r *taskFailRouter) RunTask(context.Context, handlers.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tries == 0 {
		r.first = time.Now()
	}
	r.tries++
	return errors.New("github: HTTP 502")
}

func (r *taskFailRouter) Reject(_ context.Context, _ handlers.Inbound, reason error) {
	r.mu.Lock()
	r.rejected = append(r.rejected, reason)
	r.mu.Unlock()
}

// An escalation that comes due while GitHub is down is retried for as long as the handlers allow it
// (72 hours from the due time, docs/SECURITY.md), not dead-lettered after the consumer's GiveUpAfter
// (24 hours), which bounds alarms only. The consumer's clock runs GiveUpAfter in 2 s; the test
// watches the task being retried for twice that.
func TestATaskOutlivesTheAlarmsGiveUpBound(t *testing.T) {
	r := &taskFailRouter{}
	_, q, _, _ := startConsumer(t, r, float64(GiveUpAfter/(2*time.Second)))
	task := handlers.Task{Kind: handlers.TaskEscalate, Deadline: &handlers.DeadlineTask{
		Ticket: handlers.Ticket{V: 1, Alarm: "a", User: "U1", Repo: "acme/alarms", Issue: 1}, DueAt: time.Now(), After: time.Hour}}
	if err := q.Defer(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	eventually(t, "retries past twice GiveUpAfter on the consumer's clock", time.Minute, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.rejected) > 0 || (r.tries > 1 && time.Since(r.first) > 4*time.Second)
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rejected) > 0 {
		t.Errorf("the escalation task was given up by the consumer after %d tries: %v", r.tries, r.rejected[0])
	}
}
