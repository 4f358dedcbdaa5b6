package awstest

import (
	"fmt"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestNoBatchLostOnLargeReceives guards the awsfix workaround end to end:
// every 10-message answer here is over 20 KB, well past the 4 KiB at which
// aws/aws-sdk-go-v2#1825 strands a batch until its visibility timeout. All
// messages must arrive well inside the 30 s timeout, so none was stranded.
//
// Whether the race strands a batch depends on scheduling, so the test also
// counts new connections: each time the race fires, net/http drops the
// connection, stranded batch or not, and the next request dials again. With
// the workaround one connection serves the whole run. (Not parallel, so no
// other test's requests share the client's pool.)
func TestNoBatchLostOnLargeReceives(t *testing.T) {
	s, ctx := startServer(t, 20*time.Second)
	var dials atomic.Int64
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			dials.Add(1)
		}
	}})
	q := s.NewQueue(t, QueueOptions{}) // DefaultVisibilityTimeout: 30 s
	const n = 300
	pad := strings.Repeat("x", 2048)
	for i := 0; i < n; i += 10 {
		entries := make([]types.SendMessageBatchRequestEntry, 10)
		for j := range entries {
			entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(fmt.Sprintf("%04d %s", i+j, pad))}
		}
		out, err := s.SQS().SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send batch: %v %v", err, out)
		}
	}

	seen := make(map[string]bool, n)
	batches := 0
	for len(seen) < n {
		out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			depth, _ := s.Depth(t.Context(), q.URL)
			t.Fatalf("received %d of %d in %d batches, %d left in the queue (stranded in flight): %v", len(seen), n, batches, depth, err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		batches++
		entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
		for j, m := range out.Messages {
			seen[aws.ToString(m.Body)[:4]] = true
			entries[j] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := s.SQS().DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries}); err != nil {
			t.Fatalf("delete batch: %v", err)
		}
	}
	if depth, err := s.Depth(ctx, q.URL); err != nil || depth != 0 {
		t.Errorf("depth after receiving all = %d, %v; want 0", depth, err)
	}
	if n := dials.Load(); n > 1 {
		t.Errorf("dialled %d connections for one sequential client, want at most 1: connections are being torn down (aws/aws-sdk-go-v2#1825)", n)
	}
}

func TestLongPoll(t *testing.T) {
	t.Parallel()
	s, ctx := startServer(t, 15*time.Second)
	q := s.NewQueue(t, QueueOptions{})

	t.Run("empty queue answers after the wait", func(t *testing.T) {
		begin := time.Now()
		out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(begin); len(out.Messages) != 0 || took < 900*time.Millisecond || took > 5*time.Second {
			t.Errorf("got %d messages after %v, want none after about 1 s", len(out.Messages), took)
		}
	})

	t.Run("a waiting receive neither blocks other calls nor misses a send", func(t *testing.T) {
		var wg sync.WaitGroup
		var got []types.Message
		var recvErr error
		begin := time.Now()
		wg.Go(func() {
			out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 20})
			if err == nil {
				got = out.Messages
			}
			recvErr = err
		})
		// Creating and deleting queues and topics takes goaws's exclusive
		// lock; a 20 s long poll inside goaws would hold them all up.
		other := s.NewQueue(t, QueueOptions{})
		topic := s.NewTopic(t, q, true)
		if _, err := s.SNS().Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("woke")}); err != nil {
			t.Fatal(err)
		}
		send(ctx, t, s, other.URL, "unrelated")
		wg.Wait()
		if recvErr != nil {
			t.Fatal(recvErr)
		}
		if took := time.Since(begin); len(got) != 1 || aws.ToString(got[0].Body) != "woke" || took > 5*time.Second {
			t.Errorf("long poll returned %d messages after %v, want the published one at once", len(got), took)
		}
	})
}

// TestParallelTestsShareTheServer runs many tests' worth of queue and topic
// churn at once; under -race it fails if goaws's unlocked maps leak through.
func TestParallelTestsShareTheServer(t *testing.T) {
	for i := range 6 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			s, ctx := startServer(t, 15*time.Second)
			for j := range 4 {
				t.Run(strconv.Itoa(j), func(t *testing.T) {
					q := s.NewQueue(t, QueueOptions{DLQ: true, FIFO: j == 3})
					if j == 3 {
						return // churns FIFO queue creation and deletion only
					}
					topic := s.NewTopic(t, q, j%2 == 0)
					for k := range 5 {
						send(ctx, t, s, q.URL, "direct")
						if _, err := s.SNS().Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(strconv.Itoa(k))}); err != nil {
							t.Fatal(err)
						}
					}
					got, err := s.Drain(ctx, q.URL)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != 10 {
						t.Errorf("drained %d messages, want 10", len(got))
					}
				})
			}
		})
	}
}
