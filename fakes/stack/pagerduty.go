package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dispatch-oss/dispatch/bot"
	"github.com/dispatch-oss/dispatch/fakes/awstest"
)

// eventsGroup is the message group the stack's EventBridge "rule" sends every event in, as
// deploy/dispatch.yaml's rule does: one group keeps the events of every incident in order and
// applied one at a time, whichever replica receives them.
const eventsGroup = "pagerduty"

// pagerDutyFollowUp sets up what opts asks for of PagerDuty's follow-up: the events queue and the
// fake's sink to it, the REST key.
func (s *Services) pagerDutyFollowUp(ctx context.Context, name string, opts Options, c *bot.Config) error {
	if opts.PagerDutyREST {
		s.PD.SetRESTToken(PagerDutyRESTToken)
		c.PagerDutyAPIToken, c.PagerDutyAPIURL = PagerDutyRESTToken, s.PD.URL()
		if opts.PagerDutyPoll > 0 {
			c.PagerDutyPoll = opts.PagerDutyPoll
		}
	}
	if opts.PagerDutyEvents == nil {
		return nil
	}
	q, err := s.AWS.CreateQueue(ctx, name+"-pd", awstest.QueueOptions{VisibilityTimeout: 30 * time.Second, DLQ: true, FIFO: true})
	if err != nil {
		return fmt.Errorf("events queue: %w", err)
	}
	s.Events = q
	c.PagerDutyEventsQueueURL = q.URL
	s.PD.SetEventSink(*opts.PagerDutyEvents, func(body []byte) error { return s.SendEvent(context.Background(), body) })
	return nil
}

// SendEvent puts one EventBridge event on the events queue, as PagerDuty's rule does (the
// deduplication id is the body's SHA-256, as the queue's content-based deduplication makes it).
// A test replays an event by sending it again.
func (s *Services) SendEvent(ctx context.Context, body []byte) error {
	sum := sha256.Sum256(body)
	_, err := s.AWS.SQS().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.Events.URL), MessageBody: aws.String(string(body)),
		MessageGroupId: aws.String(eventsGroup), MessageDeduplicationId: aws.String(hex.EncodeToString(sum[:]))})
	if err != nil {
		return fmt.Errorf("send to the events queue: %w", err)
	}
	return nil
}
