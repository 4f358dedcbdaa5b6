package awstest

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestFIFOSendNeedsAGroup: as SQS, a FIFO queue refuses a message without a MessageGroupId.
func TestFIFOSendNeedsAGroup(t *testing.T) {
	s, ctx := startServer(t, 10*time.Second)
	q := s.NewQueue(t, QueueOptions{FIFO: true})
	_, err := s.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("x")})
	if err == nil || !strings.Contains(err.Error(), "MessageGroupId") {
		t.Errorf("SendMessage without a group: %v, want MissingParameter", err)
	}
	if _, err := s.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String("x"),
		MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")}); err != nil {
		t.Errorf("SendMessage with a group: %v", err)
	}
}
