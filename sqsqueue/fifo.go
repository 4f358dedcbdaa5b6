package sqsqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DeadLetterFIFO is DeadLetter for a FIFO queue, whose dead-letter queue is FIFO too and takes a
// message only with a group (group) and a deduplication id (the message's own id): moving a
// message that can never apply at once keeps it from holding up its group until the redrive policy
// moves it.
func (q *Queue) DeadLetterFIFO(ctx context.Context, m Message, reason, group string) error {
	if !strings.HasSuffix(q.dlqURL, ".fifo") {
		group = ""
	}
	return q.deadLetter(ctx, m, reason, group)
}

// deadLetter sends m to the dead-letter queue with the reason, in group when it is FIFO (group not
// ""), and deletes it from the queue.
func (q *Queue) deadLetter(ctx context.Context, m Message, reason, group string) error {
	if q.dlqURL == "" {
		return ErrNoDLQ
	}
	body := string(m.Body)
	in := &sqs.SendMessageInput{
		QueueUrl:    &q.dlqURL,
		MessageBody: &body,
		MessageAttributes: map[string]types.MessageAttributeValue{
			"dispatch-reason":     {DataType: aws.String("String"), StringValue: aws.String(truncate(reason, 1000))},
			"dispatch-message-id": {DataType: aws.String("String"), StringValue: aws.String(m.ID)},
		},
	}
	if group != "" {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(group), aws.String(m.ID)
	}
	if _, err := q.sqs.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sqs send to dead-letter queue: %w", err)
	}
	return q.Delete(ctx, m)
}
