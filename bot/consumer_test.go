package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/dispatch-oss/dispatch/alerts"
	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/handlers"
	"github.com/dispatch-oss/dispatch/sqsqueue"
)

// flakyRouter fails every alarm transiently its first `fails` times (-1: always).
type flakyRouter struct {
	fails int

	mu       sync.Mutex
	calls    []handlers.Inbound
	rejected []error
}

func (r *flakyRouter) Handle(_ context.Context, in handlers.Inbound) (handlers.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, in)
	if r.fails < 0 || len(r.calls) <= r.fails {
		return handlers.Outcome{}, errors.New("github: HTTP 502")
	}
	return handlers.Outcome{Type: alerts.SelfService}, nil
}

func (r *flakyRouter) RunTask(context.Context, handlers.Task) error { return nil }

func (r *flakyRouter) Reject(_ context.Context, _ handlers.Inbound, reason error) {
	r.mu.Lock()
	r.rejected = append(r.rejected, reason)
	r.mu.Unlock()
}

func (r *flakyRouter) snapshot() ([]handlers.Inbound, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]handlers.Inbound(nil), r.calls...), append([]error(nil), r.rejected...)
}

// startConsumer runs a consumer on a goaws queue with the redrive policy as deployed
// (maxReceiveCount 5, counted as SQS counts: see awstest), on a clock scale times faster.
func startConsumer(t *testing.T, r AlarmRouter, scale float64) (*consumer, *sqsqueue.Queue, awstest.Queue, *awstest.Server) {
	t.Helper()
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	return startConsumerOn(t, s, s.NewQueue(t, awstest.QueueOptions{VisibilityTimeout: 5 * time.Second, DLQ: true}), r, scale)
}

func startConsumerOn(t *testing.T, s *awstest.Server, aq awstest.Queue, r AlarmRouter, scale float64) (*consumer, *sqsqueue.Queue, awstest.Queue, *awstest.Server) {
	t.Helper()
	return startConsumerWith(t, s, aq, r, scale, nil)
}

// startConsumerWith is startConsumerOn with setup run on the consumer before it starts.
func startConsumerWith(t *testing.T, s *awstest.Server, aq awstest.Queue, r AlarmRouter, scale float64, setup func(*consumer)) (*consumer, *sqsqueue.Queue, awstest.Queue, *awstest.Server) {
	t.Helper()
	q := testQueue(t, s, aq)
	if q.MaxReceiveCount() != 5 {
		t.Fatalf("MaxReceiveCount() = %d, want 5 from the redrive policy", q.MaxReceiveCount())
	}
	c := &consumer{q: q, router: r, metrics: NewMetrics(), log: zerolog.Nop(), slots: 4, visibility: 5 * time.Second,
		wait: time.Second, scale: scale, waiting: &waitingAlarms{expire: time.Minute}}
	if setup != nil {
		setup(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx, ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; c.wg.Wait() })
	return c, q, aq, s
}

// testQueue is the queue of aq as the consumers of these tests see it.
func testQueue(t *testing.T, s *awstest.Server, aq awstest.Queue) *sqsqueue.Queue {
	t.Helper()
	q := sqsqueue.New(s.SQS(), aq.URL, sqsqueue.TaskKeys{[]byte("consumer-test-task-key-0123456789abcdef")})
	if err := q.Discover(t.Context()); err != nil {
		t.Fatal(err)
	}
	return q
}

// receiveAndDie receives aq's one message as a process that then dies would: no delete, no
// hand-back; it comes back when its 1 s visibility runs out.
func receiveAndDie(t *testing.T, s *awstest.Server, aq awstest.Queue, what string) {
	t.Helper()
	eventually(t, what, 20*time.Second, func() bool {
		out, err := s.SQS().ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(aq.URL), VisibilityTimeout: 1})
		return err == nil && len(out.Messages) == 1
	})
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransientFailuresNeverReachTheDeadLetterQueue: an alarm failing 7 times in a row, more than
// maxReceiveCount 5 allows one message, is handled on the 8th try, never dead-lettered: handed back
// while its receive count stays clear of the limit, re-sent as a fresh copy (same delivery ID, seen
// as a redelivery) before it reaches it.
func TestTransientFailuresNeverReachTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	r := &flakyRouter{fails: 7}
	c, q, aq, s := startConsumer(t, r, 1000) // delays of 10 ms … 120 ms, rounded up to SQS's 1 s
	if err := q.Send(t.Context(), []byte(`{"type":"self-service"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the 8th try", time.Minute, func() bool {
		calls, _ := r.snapshot()
		if n, err := s.Depth(t.Context(), aq.DLQURL); err == nil && n > 0 {
			t.Fatalf("dead-lettered after %d tries", len(calls))
		}
		return len(calls) >= 8
	})
	eventually(t, "the queue to drain", 30*time.Second, func() bool { n, err := s.Depth(t.Context(), aq.URL); return err == nil && n == 0 })
	calls, rejected := r.snapshot()
	if len(calls) != 8 || len(rejected) != 0 {
		t.Fatalf("%d tries, %d rejections; want 8 tries and none", len(calls), len(rejected))
	}
	for i, in := range calls {
		if in.DeliveryID != calls[0].DeliveryID {
			t.Errorf("try %d: delivery ID %s, want the first's %s (the alarm's identity)", i+1, in.DeliveryID, calls[0].DeliveryID)
		}
		if in.Redelivered != (i > 0) {
			t.Errorf("try %d: Redelivered %v", i+1, in.Redelivered)
		}
		if in.PublishedAt.IsZero() || !in.PublishedAt.Equal(calls[0].PublishedAt) {
			t.Errorf("try %d: PublishedAt %s, want the first's %s", i+1, in.PublishedAt, calls[0].PublishedAt)
		}
	}
	// 3 receives per copy (the 4th and 5th are spare for crashes): copies at tries 1, 4, 7.
	if n := testutil.ToFloat64(c.metrics.Resent); n != 2 {
		t.Errorf("%g fresh copies, want 2", n)
	}
	if n, err := s.Depth(t.Context(), aq.DLQURL); err != nil || n != 0 {
		t.Errorf("dead-letter queue holds %d (%v), want 0", n, err)
	}
	if n := c.waiting.count(); n != 0 {
		t.Errorf("%d alarms still counted as waiting", n)
	}
}

// TestAnAlarmFailingForADayIsDeadLetteredWithTheReason: the bound on retries, on a clock fast
// enough that GiveUpAfter is 2 s.
func TestAnAlarmFailingForADayIsDeadLetteredWithTheReason(t *testing.T) {
	t.Parallel()
	r := &flakyRouter{fails: -1}
	c, q, aq, s := startConsumer(t, r, float64(GiveUpAfter/(2*time.Second)))
	if err := q.Send(t.Context(), []byte(`{"type":"self-service"}`)); err != nil {
		t.Fatal(err)
	}
	var dead []string
	eventually(t, "the dead-letter queue", time.Minute, func() bool {
		got, err := s.Drain(t.Context(), aq.DLQURL)
		dead = append(dead, got...)
		return err == nil && len(dead) > 0
	})
	_, rejected := r.snapshot()
	if len(rejected) != 1 || !strings.Contains(rejected[0].Error(), "still failing after") || !strings.Contains(rejected[0].Error(), "HTTP 502") {
		t.Errorf("rejections %v, want one naming the bound and the last failure", rejected)
	}
	if n := testutil.ToFloat64(c.metrics.Rejected.WithLabelValues("gave-up")); n != 1 {
		t.Errorf("dispatch_alarms_rejected_total{reason=gave-up} = %g, want 1", n)
	}
	if len(dead) != 1 || dead[0] != `{"type":"self-service"}` {
		t.Errorf("dead-letter queue: %q", dead)
	}
}

// TestAfterThreeCrashesTheNextReceiveGoesOnAsAFreshCopy: a message received three times and never
// finished (three processes killed while working on it) comes back at receive count 4, one short
// of maxReceiveCount 5; the consumer re-sends it as a fresh copy before working on it, so a fourth
// and fifth crash still could not dead-letter it.
func TestAfterThreeCrashesTheNextReceiveGoesOnAsAFreshCopy(t *testing.T) {
	t.Parallel()
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	aq := s.NewQueue(t, awstest.QueueOptions{VisibilityTimeout: time.Second, DLQ: true})
	if _, err := s.SQS().SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(aq.URL), MessageBody: aws.String(`{"type":"self-service"}`)}); err != nil {
		t.Fatal(err)
	}
	for crash := 1; crash <= 3; crash++ {
		receiveAndDie(t, s, aq, fmt.Sprintf("receive %d", crash))
	}
	r := &flakyRouter{}
	c, _, _, _ := startConsumerOn(t, s, aq, r, 1)
	eventually(t, "the alarm handled", 30*time.Second, func() bool { calls, _ := r.snapshot(); return len(calls) == 1 })
	eventually(t, "the queue to drain", 30*time.Second, func() bool { n, err := s.Depth(t.Context(), aq.URL); return err == nil && n == 0 })
	calls, _ := r.snapshot()
	if !calls[0].Redelivered {
		t.Error("the fresh copy was not handled as a redelivery")
	}
	if n := testutil.ToFloat64(c.metrics.Resent); n != 1 {
		t.Errorf("%g fresh copies, want 1 (made at receive 4, before any work)", n)
	}
	if n, err := s.Depth(t.Context(), aq.DLQURL); err != nil || n != 0 {
		t.Errorf("dead-letter queue holds %d (%v), want 0", n, err)
	}
}
