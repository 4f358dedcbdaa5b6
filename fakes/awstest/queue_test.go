package awstest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
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

// TestRedriveToDeadLetterQueue shows the receive count as SQS reports it (1, 2, 3 … on each
// receive, with the first receive's timestamp kept and SentTimestamp the send's) and the redrive
// policy acting on that count: after MaxReceiveCount receives the next one would exceed it, so the
// message is in the dead-letter queue instead. Hand-backs alternate between ChangeMessageVisibility 0
// and an expired visibility timeout, the two ways a message returns.
func TestRedriveToDeadLetterQueue(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 20*time.Second)
	q := s.NewQueue(t, QueueOptions{VisibilityTimeout: time.Second, DLQ: true}) // MaxReceiveCount 5
	sent := time.Now()
	send(ctx, t, s, q.URL, "poison")

	var counts []string
	var firsts, sents []string
	var dead []string
	for len(dead) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("not in the dead-letter queue after receives %v: %v", counts, ctx.Err())
		}
		out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			counts = append(counts, m.Attributes["ApproximateReceiveCount"])
			firsts = append(firsts, m.Attributes["ApproximateFirstReceiveTimestamp"])
			sents = append(sents, m.Attributes["SentTimestamp"])
			if len(counts)%2 == 0 {
				if _, err := s.SQS().ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatalf("release: %v", err)
				}
			}
		}
		if dead, err = s.Drain(ctx, q.DLQURL); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"1", "2", "3", "4", "5"}; !slices.Equal(counts, want) {
		t.Errorf("ApproximateReceiveCount on each receive = %v, want %v, then the dead-letter queue", counts, want)
	}
	for i := range firsts {
		if firsts[i] != firsts[0] || sents[i] != sents[0] {
			t.Errorf("receive %d: ApproximateFirstReceiveTimestamp %s, SentTimestamp %s; want those of the first receive, %s and %s",
				i+1, firsts[i], sents[i], firsts[0], sents[0])
		}
	}
	if ms, _ := strconv.ParseInt(sents[0], 10, 64); time.UnixMilli(ms).Before(sent.Add(-time.Second)) || time.UnixMilli(ms).After(sent.Add(time.Second)) {
		t.Errorf("SentTimestamp %s, want the send's time %d", sents[0], sent.UnixMilli())
	}
	if !slices.Equal(dead, []string{"poison"}) {
		t.Errorf("dead-letter queue held %q, want [poison]", dead)
	}
	if n, err := s.Depth(ctx, q.URL); err != nil || n != 0 {
		t.Errorf("source queue depth = %d, %v; want 0", n, err)
	}
}

// TestFailReceives: an injected SQS outage fails receives with a 500 until it ends, and loses
// nothing.
func TestFailReceives(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 20*time.Second)
	q := s.NewQueue(t, QueueOptions{})
	send(ctx, t, s, q.URL, "waits")
	s.FailReceives(q.URL, 2*time.Second)
	ended := time.Now().Add(2 * time.Second)
	_, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL)}, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InternalError" {
		t.Fatalf("receive during the failure: %v, want InternalError", err)
	}
	for time.Now().Before(ended) {
		time.Sleep(50 * time.Millisecond) // waiting out the injected failure's fixed end
	}
	if m := receiveWithin(ctx, t, s, q.URL); aws.ToString(m.Body) != "waits" {
		t.Errorf("after the failure received %q, want the message sent before it", aws.ToString(m.Body))
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
