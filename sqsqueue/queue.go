// Package sqsqueue is dispatch's SQS adapter, over aws-sdk-go-v2: long-poll receive, delete,
// visibility changes, dead-lettering and deferred tasks (delayed messages on the same queue). It also
// reads SNS notification envelopes, so a subscription may have raw delivery on or off.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dispatch-oss/dispatch/handlers"
)

// MaxDelay is the longest SQS holds a message back.
const MaxDelay = 15 * time.Minute

// Message is one received queue message.
type Message struct {
	ID              string
	Receipt         string
	Body            []byte
	ReceiveCount    int       // SQS's ApproximateReceiveCount: receives of this copy
	SentAt          time.Time // SQS's SentTimestamp
	FirstReceivedAt time.Time // SQS's ApproximateFirstReceiveTimestamp
	Resent          *Resent   // set on a copy made by Resend (signature checked)
}

// Queue is one SQS queue, with its dead-letter queue when it has a redrive policy.
type Queue struct {
	sqs         *sqs.Client
	url         string
	dlqURL      string
	maxReceives int // the redrive policy's maxReceiveCount; 0 without one
	keys        TaskKeys
	now         func() time.Time
}

// New makes a Queue whose tasks are signed and verified with keys. Call Discover to learn its
// dead-letter queue.
func New(client *sqs.Client, url string, keys TaskKeys) *Queue {
	return &Queue{sqs: client, url: url, keys: keys, now: time.Now}
}

// URL is the queue's URL.
func (q *Queue) URL() string { return q.url }

// DLQURL is the dead-letter queue's URL, or "" when the queue has no redrive policy.
func (q *Queue) DLQURL() string { return q.dlqURL }

// MaxReceiveCount is the redrive policy's maxReceiveCount (after that many receives SQS moves a
// message to the dead-letter queue), or 0 when the queue has no redrive policy. Known after Discover.
func (q *Queue) MaxReceiveCount() int { return q.maxReceives }

// Discover reads the queue's attributes (proving it is reachable) and finds its dead-letter queue
// from the redrive policy, if any.
func (q *Queue) Discover(ctx context.Context) error {
	out, err := q.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &q.url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy, types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("sqs queue %s: %w", q.url, err)
	}
	policy := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if policy == "" {
		return nil
	}
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		// SQS answers a string ("5"); a number is accepted too.
		MaxReceiveCount json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(policy), &rp); err != nil || rp.DeadLetterTargetArn == "" {
		return fmt.Errorf("sqs queue %s: unreadable redrive policy %q", q.url, policy)
	}
	n, err := strconv.Atoi(strings.Trim(string(rp.MaxReceiveCount), `"`))
	if err != nil || n < 1 {
		return fmt.Errorf("sqs queue %s: redrive policy without a usable maxReceiveCount: %q", q.url, policy)
	}
	q.maxReceives = n
	// arn:aws:sqs:region:account:name
	parts := strings.Split(rp.DeadLetterTargetArn, ":")
	name, account := parts[len(parts)-1], ""
	if len(parts) >= 6 {
		account = parts[4]
	}
	in := &sqs.GetQueueUrlInput{QueueName: &name}
	if account != "" {
		in.QueueOwnerAWSAccountId = &account
	}
	u, err := q.sqs.GetQueueUrl(ctx, in)
	if err != nil {
		return fmt.Errorf("sqs dead-letter queue %s: %w", rp.DeadLetterTargetArn, err)
	}
	q.dlqURL = aws.ToString(u.QueueUrl)
	return nil
}

// Receive long-polls for up to n (1–10) messages, waiting up to wait (at most 20 s). Its errors, like
// Depth's and Send's, are a *Problem: a member-safe sentence over the SDK's error.
func (q *Queue) Receive(ctx context.Context, n int, wait, visibility time.Duration) ([]Message, error) {
	out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            &q.url,
		MaxNumberOfMessages: int32(min(max(n, 1), 10)),
		WaitTimeSeconds:     int32(min(wait/time.Second, 20)),
		VisibilityTimeout:   int32(visibility / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
		},
		MessageAttributeNames: []string{attrResent, attrResentSig},
	})
	if err != nil {
		return nil, Classify(fmt.Errorf("sqs receive: %w", err))
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), Receipt: aws.ToString(m.ReceiptHandle), Body: []byte(aws.ToString(m.Body))}
		msg.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		readTimes(m, &msg)
		msg.Resent = q.readResent(m, msg.Body)
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Unwrap reads a received message's envelope (see the package function Unwrap). A resent copy keeps
// the delivery ID and publication time of the first; otherwise an alarm without an SNS envelope
// counts as published when SQS received it.
func (q *Queue) Unwrap(m Message) (Unwrapped, error) {
	u, err := Unwrap(m.Body, m.ID, q.keys, q.now())
	if u.PublishedAt.IsZero() {
		u.PublishedAt = m.SentAt
	}
	if m.Resent != nil {
		u.DeliveryID, u.PublishedAt = m.Resent.DeliveryID, m.Resent.PublishedAt
	}
	return u, err
}

// Delete removes a handled message.
func (q *Queue) Delete(ctx context.Context, m Message) error {
	_, err := q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.url, ReceiptHandle: &m.Receipt})
	if err != nil {
		return fmt.Errorf("sqs delete: %w", err)
	}
	return nil
}

// SetVisibility makes the message invisible for d from now (0 releases it at once).
func (q *Queue) SetVisibility(ctx context.Context, m Message, d time.Duration) error {
	_, err := q.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &q.url, ReceiptHandle: &m.Receipt, VisibilityTimeout: int32(ceilSeconds(min(d, 12*time.Hour))),
	})
	if err != nil {
		return fmt.Errorf("sqs change visibility: %w", err)
	}
	return nil
}

// ErrNoDLQ is returned by DeadLetter when the queue has no dead-letter queue.
var ErrNoDLQ = errors.New("the queue has no dead-letter queue (no redrive policy)")

// DeadLetter moves a message to the dead-letter queue, with the reason as a message attribute, and
// deletes it from the queue.
func (q *Queue) DeadLetter(ctx context.Context, m Message, reason string) error {
	return q.deadLetter(ctx, m, reason, "")
}

// Defer puts a task on the queue, delayed by t.Delay (at most 15 minutes).
func (q *Queue) Defer(ctx context.Context, t handlers.Task) error {
	body, err := SealTask(t, q.keys, q.now())
	if err != nil {
		return fmt.Errorf("seal task: %w", err)
	}
	s := string(body)
	_, err = q.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &q.url, MessageBody: &s, DelaySeconds: int32(ceilSeconds(min(t.Delay, MaxDelay))),
	})
	if err != nil {
		return fmt.Errorf("sqs send task: %w", err)
	}
	return nil
}

// Depth is how many messages wait in the queue and in its dead-letter queue (-1 when there is none).
func (q *Queue) Depth(ctx context.Context) (queued, inFlight, dead int, err error) {
	queued, inFlight, err = q.depth(ctx, q.url)
	if err != nil {
		return 0, 0, 0, err
	}
	dead = -1
	if q.dlqURL != "" {
		if dead, _, err = q.depth(ctx, q.dlqURL); err != nil {
			return 0, 0, 0, err
		}
	}
	return queued, inFlight, dead, nil
}

func (q *Queue) depth(ctx context.Context, url string) (visible, inFlight int, err error) {
	out, err := q.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, Classify(fmt.Errorf("sqs queue attributes: %w", err))
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Send puts a raw alarm body on the queue (dispatch publish --queue-url, /dispatch test).
func (q *Queue) Send(ctx context.Context, body []byte) error {
	s := string(body)
	if _, err := q.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &s}); err != nil {
		return Classify(fmt.Errorf("sqs send: %w", err))
	}
	return nil
}
