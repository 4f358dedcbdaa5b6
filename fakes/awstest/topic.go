package awstest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// NewTopic creates an SNS topic named after t.Name(), subscribes queue q to
// it with RawMessageDelivery set to raw, deletes the topic in t.Cleanup and
// returns the topic ARN. It fails the test (t.Fatal) if goaws refuses.
//
// With raw, each SQS message body is the published message itself. Without,
// it is the SNS envelope: {"Type":"Notification","MessageId","TopicArn",
// "Subject","Message","Timestamp","SignatureVersion","Signature",
// "SigningCertURL","UnsubscribeURL","MessageAttributes"} with the published
// message as the string Message.
func (s *Server) NewTopic(t testing.TB, q Queue, raw bool) string {
	t.Helper()
	ctx, cancel := cleanupContext()
	defer cancel()
	arn, err := s.CreateTopic(ctx, t.Name(), q, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := s.DeleteTopic(ctx, arn); err != nil {
			t.Error(err)
		}
	})
	return arn
}

// CreateTopic is NewTopic for code that is not a test (the demo): the topic is
// named after base plus a process-wide counter, and the caller deletes it with
// DeleteTopic. A topic made but not subscribed is deleted again.
func (s *Server) CreateTopic(ctx context.Context, base string, q Queue, raw bool) (string, error) {
	name := s.newName(base, 256)
	out, err := s.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("awstest: create topic %s: %w", name, err)
	}
	arn := aws.ToString(out.TopicArn)
	_, err = s.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:   aws.String(arn),
		Protocol:   aws.String("sqs"),
		Endpoint:   aws.String(q.ARN),
		Attributes: map[string]string{"RawMessageDelivery": strconv.FormatBool(raw)},
	})
	if err != nil {
		return "", errors.Join(fmt.Errorf("awstest: subscribe %s to %s: %w", q.Name, name, err), s.DeleteTopic(ctx, arn))
	}
	return arn, nil
}

// DeleteTopic deletes a topic made by CreateTopic.
func (s *Server) DeleteTopic(ctx context.Context, arn string) error {
	if _, err := s.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		return fmt.Errorf("awstest: delete topic %s: %w", arn[strings.LastIndex(arn, ":")+1:], err)
	}
	return nil
}
