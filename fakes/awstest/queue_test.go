package awstest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestStartIsIdempotent(t *testing.T) {
	a, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("second Start returned another server")
	}
	if !strings.HasPrefix(a.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q, want http://127.0.0.1:PORT", a.URL())
	}
	if cfg := a.AWSConfig(); aws.ToString(cfg.BaseEndpoint) != a.URL() || cfg.Region != Region {
		t.Errorf("AWSConfig: endpoint %q region %q", aws.ToString(cfg.BaseEndpoint), cfg.Region)
	}
}

func TestNewQueueIsUniqueAndCleanedUp(t *testing.T) {
	s, ctx := startServer(t, 10*time.Second)
	var first, second Queue
	t.Run("make", func(t *testing.T) {
		first = s.NewQueue(t, QueueOptions{DLQ: true})
		second = s.NewQueue(t, QueueOptions{FIFO: true})
		if first.Name == second.Name || !strings.HasSuffix(second.Name, ".fifo") {
			t.Errorf("names %q and %q: want distinct, the FIFO one ending in .fifo", first.Name, second.Name)
		}
		if first.DLQURL == "" || !strings.HasSuffix(first.ARN, ":"+first.Name) {
			t.Errorf("queue %+v: want a DLQ and an ARN ending in the name", first)
		}
		send(ctx, t, s, first.URL, "hello")
		if got := receiveNow(ctx, t, s, first.URL); len(got) != 1 || aws.ToString(got[0].Body) != "hello" {
			t.Errorf("received %v, want hello", got)
		}
	})
	for _, name := range []string{first.Name, first.Name + "-dlq", second.Name} {
		_, err := s.SQS().GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err == nil {
			t.Errorf("queue %s still exists after its test ended", name)
		}
	}
}

func TestRedeliveryAfterVisibilityTimeout(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 10*time.Second)
	q := s.NewQueue(t, QueueOptions{VisibilityTimeout: time.Second})
	send(ctx, t, s, q.URL, "again")

	first := receiveWithin(ctx, t, s, q.URL)
	received := time.Now()
	if got := receiveNow(ctx, t, s, q.URL); len(got) != 0 {
		t.Fatalf("message visible while in flight: %v", got)
	}
	second := receiveWithin(ctx, t, s, q.URL)
	if waited := time.Since(received); waited < time.Second {
		t.Errorf("redelivered after %v, before the 1 s visibility timeout", waited)
	}
	if aws.ToString(second.MessageId) != aws.ToString(first.MessageId) {
		t.Errorf("redelivered message %s, want %s", aws.ToString(second.MessageId), aws.ToString(first.MessageId))
	}
	if aws.ToString(second.ReceiptHandle) == aws.ToString(first.ReceiptHandle) {
		t.Error("redelivery kept the old receipt handle")
	}
}

func TestRedriveToDeadLetterQueue(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 15*time.Second)
	q := s.NewQueue(t, QueueOptions{VisibilityTimeout: time.Second, DLQ: true}) // MaxReceiveCount 3
	send(ctx, t, s, q.URL, "poison")

	// Receive without deleting, as a consumer that keeps failing would, until
	// the message shows up in the dead-letter queue.
	receives := 0
	var dead []string
	for len(dead) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("not in the dead-letter queue after %d receives: %v", receives, ctx.Err())
		}
		out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		receives += len(out.Messages)
		if dead, err = s.Drain(ctx, q.DLQURL); err != nil {
			t.Fatal(err)
		}
	}
	if receives != 3 {
		t.Errorf("received %d times before the move, want MaxReceiveCount = 3", receives)
	}
	if !slices.Equal(dead, []string{"poison"}) {
		t.Errorf("dead-letter queue held %q, want [poison]", dead)
	}
	if n, err := s.Depth(ctx, q.URL); err != nil || n != 0 {
		t.Errorf("source queue depth = %d, %v; want 0", n, err)
	}
}

func TestDelaySeconds(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 10*time.Second)
	q := s.NewQueue(t, QueueOptions{})
	sent := time.Now()
	_, err := s.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("later"), DelaySeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := receiveNow(ctx, t, s, q.URL); len(got) != 0 {
		t.Fatalf("delayed message received at once: %v", got)
	}
	if n, err := s.Depth(ctx, q.URL); err != nil || n != 1 {
		t.Errorf("depth = %d, %v; want 1 (goaws counts delayed messages)", n, err)
	}
	m := receiveWithin(ctx, t, s, q.URL)
	if waited := time.Since(sent); waited < 2*time.Second {
		t.Errorf("received after %v, want at least the 2 s delay", waited)
	}
	if aws.ToString(m.Body) != "later" {
		t.Errorf("body %q, want later", aws.ToString(m.Body))
	}
}

func TestFIFOOneInFlightPerGroup(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 10*time.Second)
	q := s.NewQueue(t, QueueOptions{FIFO: true})
	for _, b := range []string{"1", "2", "3"} {
		_, err := s.SQS().SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(q.URL), MessageBody: aws.String(b),
			MessageGroupId: aws.String("alarm-A"), MessageDeduplicationId: aws.String(b),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		msgs := receiveNow(ctx, t, s, q.URL)
		if len(msgs) > 1 {
			t.Fatalf("%d messages of one group in flight at once", len(msgs))
		}
		for _, m := range msgs {
			got = append(got, aws.ToString(m.Body))
			if _, err := s.SQS().DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("received %q, want [1 2 3] in order", got)
	}
}

func TestDrainAndDepth(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 10*time.Second)
	q := s.NewQueue(t, QueueOptions{})
	var want []string
	for i := range 25 {
		b := strings.Repeat("m", i+1)
		want = append(want, b)
		send(ctx, t, s, q.URL, b)
	}
	if n, err := s.Depth(ctx, q.URL); err != nil || n != 25 {
		t.Fatalf("depth = %d, %v; want 25", n, err)
	}
	got, err := s.Drain(ctx, q.URL)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("drained %d bodies, want %d", len(got), len(want))
	}
	if n, err := s.Depth(ctx, q.URL); err != nil || n != 0 {
		t.Errorf("depth after drain = %d, %v; want 0", n, err)
	}
	if _, err := s.Depth(ctx, q.URL+"-missing"); err == nil {
		t.Error("Depth of a missing queue: want an error")
	}
}

func TestDrainStopsWithContext(t *testing.T) {
	s, ctx := startServer(t, 10*time.Second)
	q := s.NewQueue(t, QueueOptions{})
	send(ctx, t, s, q.URL, "x")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Drain(cctx, q.URL); !errors.Is(err, context.Canceled) {
		t.Errorf("Drain with a cancelled context: %v, want context.Canceled", err)
	}
}
