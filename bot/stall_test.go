package bot

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dispatch-oss/dispatch/fakes/awstest"
	"github.com/dispatch-oss/dispatch/handlers"
)

// panicRouter panics on an alarm whose body says "boom", as a bug in a handler would, and handles
// the rest.
type panicRouter struct{ flakyRouter }

func (r *panicRouter) Handle(ctx context.Context, in handlers.Inbound) (handlers.Outcome, error) {
	if strings.Contains(string(in.Body), "boom") {
		panic("index out of range [3] with length 3")
	}
	return r.flakyRouter.Handle(ctx, in)
}

// A bug hit by one message would crash every replica on it, again and again: the consumer recovers,
// dead-letters the message with the reason, and goes on with the others.
func TestAPanicDeadLettersTheMessageAndTheRestGoOn(t *testing.T) {
	t.Parallel()
	r := &panicRouter{}
	c, q, aq, s := startConsumer(t, r, 1)
	for _, body := range []string{`{"type":"nag","note":"boom"}`, `{"type":"self-service"}`} {
		if err := q.Send(t.Context(), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	var dead []string
	eventually(t, "the dead-letter queue", 30*time.Second, func() bool {
		got, err := s.Drain(t.Context(), aq.DLQURL)
		dead = append(dead, got...)
		return err == nil && len(dead) > 0
	})
	eventually(t, "the other alarm handled", 30*time.Second, func() bool { calls, _ := r.snapshot(); return len(calls) == 1 })
	_, rejected := r.snapshot()
	if len(rejected) != 1 || !strings.Contains(rejected[0].Error(), "a bug") || !strings.Contains(rejected[0].Error(), "index out of range") {
		t.Errorf("rejections %v, want one naming the panic", rejected)
	}
	if len(dead) != 1 || !strings.Contains(dead[0], "boom") {
		t.Errorf("dead-letter queue: %q, want the message that panicked", dead)
	}
	if n := testutil.ToFloat64(c.metrics.Rejected.WithLabelValues("panic")); n != 1 {
		t.Errorf("dispatch_alarms_rejected_total{reason=panic} = %g, want 1", n)
	}
}

// A message that stops the process some other way (out of memory, a kill that always comes while
// it is worked on) is re-sent as a fresh copy each time its receives run out, up to maxStalls
// copies; the next is set aside in the dead-letter queue, never worked on, so it can't keep
// stopping dispatch with everyone's alarms behind it.
func TestACopyThatKeepsStoppingDispatchIsSetAside(t *testing.T) {
	t.Parallel()
	s, err := awstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	aq := s.NewQueue(t, awstest.QueueOptions{VisibilityTimeout: time.Second, DLQ: true})
	q := testQueue(t, s, aq) // no consumer yet: the test plays the processes that died
	if _, err := s.SQS().SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(aq.URL), MessageBody: aws.String(`{"type":"self-service"}`)}); err != nil {
		t.Fatal(err)
	}
	for copy := 1; copy <= maxStalls+1; copy++ {
		for crash := 1; crash <= 3; crash++ {
			receiveAndDie(t, s, aq, fmt.Sprintf("copy %d, receive %d", copy, crash))
		}
		if copy > maxStalls {
			break
		}
		// The 4th receive: a consumer re-sends it as a stalled copy, as process does.
		var got bool
		eventually(t, fmt.Sprintf("copy %d, receive 4", copy), 20*time.Second, func() bool {
			msgs, err := q.Receive(t.Context(), 1, time.Second, 30*time.Second)
			if err != nil || len(msgs) != 1 {
				return false
			}
			u, err := q.Unwrap(msgs[0])
			if err != nil || msgs[0].ReceiveCount != 4 {
				t.Fatalf("receive 4: count %d, %v", msgs[0].ReceiveCount, err)
			}
			if err := q.Resend(t.Context(), msgs[0], u, 0, true); err != nil {
				t.Fatal(err)
			}
			got = true
			return true
		})
		if !got {
			t.Fatal("no copy")
		}
	}
	r := &flakyRouter{}
	c, _, _, _ := startConsumerOn(t, s, aq, r, 1)
	var dead []string
	eventually(t, "the dead-letter queue", 30*time.Second, func() bool {
		got, err := s.Drain(t.Context(), aq.DLQURL)
		dead = append(dead, got...)
		return err == nil && len(dead) > 0
	})
	calls, rejected := r.snapshot()
	if len(calls) != 0 {
		t.Errorf("the copy was worked on %d times, want it set aside first", len(calls))
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0].Error(), "dispatch stopped while handling it") {
		t.Errorf("rejections %v, want one saying it kept stopping dispatch", rejected)
	}
	if n := testutil.ToFloat64(c.metrics.Rejected.WithLabelValues("stalled")); n != 1 {
		t.Errorf("dispatch_alarms_rejected_total{reason=stalled} = %g, want 1", n)
	}
}
