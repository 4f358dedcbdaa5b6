package awstest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// startServer returns the shared server and a context that ends after timeout or
// with the test.
func startServer(t *testing.T, timeout time.Duration) (*Server, context.Context) {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return s, ctx
}

// send sends one message and fails the test if SQS refuses it.
func send(ctx context.Context, t *testing.T, s *Server, queueURL, body string) {
	t.Helper()
	if _, err := s.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// receiveNow makes one receive that does not wait for messages.
func receiveNow(ctx context.Context, t *testing.T, s *Server, queueURL string) []types.Message {
	t.Helper()
	out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return out.Messages
}

// receiveWithin long-polls until a message arrives or ctx ends, and fails
// the test in the latter case.
func receiveWithin(ctx context.Context, t *testing.T, s *Server, queueURL string) types.Message {
	t.Helper()
	for ctx.Err() == nil {
		out, err := s.SQS().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) > 0 {
			return out.Messages[0]
		}
	}
	t.Fatalf("no message on %s before the deadline: %v", queueURL, ctx.Err())
	return types.Message{}
}
